package controllers

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/internal/instrumentation"
)

// Thresholds decide when an injected pod counts as failing. The defaults
// (DefaultThresholds) follow the kubelet's crash back-off (10 s, 20 s,
// 40 s, ...): three restarts take a little over a minute. Tests on a real
// kubelet lower them with the operator's --rollback-* flags.
type Thresholds struct {
	// MinRestarts: an app container that exited non-zero this many times,
	// each time within StartupWindow of starting, is crash-looping.
	MinRestarts int
	// StartupWindow: a crash after running longer than this is not a crash
	// at start (an agent breaks a process as it starts); such a container is
	// flapping, which autotel leaves to the app.
	StartupWindow time.Duration
	// ImagePullGrace: how long an agent init container may fail to pull its
	// image (ErrImagePull, ImagePullBackOff) before it counts.
	ImagePullGrace time.Duration
	// OOMKills: an app container OOM-killed this many times (whenever) is
	// failing: the agent's memory may push it over its limit.
	OOMKills int
}

// DefaultThresholds are the operator's defaults.
var DefaultThresholds = Thresholds{MinRestarts: 3, StartupWindow: 2 * time.Minute, ImagePullGrace: time.Minute, OOMKills: 2}

// FailureKind names how an injected pod fails (the metric's label).
type FailureKind string

// Failure kinds.
const (
	FailureInitImagePull FailureKind = "init-image-pull"
	FailureInitExit      FailureKind = "init-exit"
	FailureCrashLoop     FailureKind = "crash-loop"
	FailureOOMKilled     FailureKind = "oom-killed"
	FailureNotReady      FailureKind = "progress-deadline"
)

// Failure is what is wrong with one pod.
type Failure struct {
	Kind      FailureKind
	Container string
	// Agent: the failing container is one autotel injected (its own init
	// container), so the failure is instrumentation's whatever the app does.
	Agent  bool
	Detail string
}

func (f Failure) String() string {
	return fmt.Sprintf("%s: container %s: %s", f.Kind, f.Container, f.Detail)
}

// Verdict is what the detector concludes for a workload.
type Verdict string

// Verdicts (the metric's label).
const (
	VerdictHealthy  Verdict = "healthy"
	VerdictRollback Verdict = "instrumentation"
	VerdictApp      Verdict = "app"
	VerdictUnsure   Verdict = "unsure"
)

// Decision is the detector's answer and the sentence that explains it.
type Decision struct {
	Verdict Verdict
	Failure Failure
	Why     string
}

var imagePullReasons = map[string]bool{"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true}

// agentInitContainer tells whether name is an init container injection
// adds to run an agent image (from the language table, as the injector
// names them).
func agentInitContainer(name string) bool {
	for _, l := range instrumentation.Languages {
		if a, ok := l.Agent(); ok && a.Init && a.Name == name {
			return true
		}
	}
	return false
}

// podFailure tells whether pod fails now; flapping reports an app container
// that crashed after running longer than the startup window.
func podFailure(pod *corev1.Pod, th Thresholds, now time.Time) (f Failure, failing, flapping bool) {
	for _, cs := range pod.Status.InitContainerStatuses {
		if !agentInitContainer(cs.Name) {
			continue
		}
		if w := cs.State.Waiting; w != nil && imagePullReasons[w.Reason] && now.Sub(pod.CreationTimestamp.Time) >= th.ImagePullGrace {
			return Failure{Kind: FailureInitImagePull, Container: cs.Name, Agent: true, Detail: fmt.Sprintf("%s for image %s", w.Reason, cs.Image)}, true, false
		}
		for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
			if t != nil && t.ExitCode != 0 && cs.RestartCount >= 1 {
				return Failure{Kind: FailureInitExit, Container: cs.Name, Agent: true, Detail: fmt.Sprintf("exited %d (%s), %d restarts", t.ExitCode, t.Reason, cs.RestartCount)}, true, false
			}
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		t := cs.LastTerminationState.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		if t.Reason == "OOMKilled" && int(cs.RestartCount) >= th.OOMKills {
			return Failure{Kind: FailureOOMKilled, Container: cs.Name, Detail: fmt.Sprintf("OOMKilled, %d restarts", cs.RestartCount)}, true, false
		}
		if int(cs.RestartCount) < th.MinRestarts {
			continue
		}
		ran := t.FinishedAt.Sub(t.StartedAt.Time)
		if ran >= th.StartupWindow {
			flapping = true
			continue
		}
		return Failure{Kind: FailureCrashLoop, Container: cs.Name, Detail: fmt.Sprintf("exited %d after %s, %d restarts", t.ExitCode, ran.Round(time.Second), cs.RestartCount)}, true, false
	}
	return Failure{}, false, flapping
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podRestarts(pod *corev1.Pod) int32 {
	var n int32
	for _, cs := range pod.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// Decide attributes the failures of a workload's injected pods (current:
// the pods of the newest template, instrumented) by comparing them with
// previous: the workload's pods of an earlier template that were not
// instrumented. deadlineExceeded: the workload's own progress deadline
// passed (Deployment condition ProgressDeadlineExceeded). Only a failure
// that is instrumentation's beyond doubt gives VerdictRollback; when in
// doubt the verdict is VerdictUnsure and Why says what is missing.
func Decide(current, previous []*corev1.Pod, deadlineExceeded bool, th Thresholds, now time.Time) Decision {
	var failing []Failure
	ready, flapping := 0, 0
	for _, p := range current {
		f, ok, flap := podFailure(p, th, now)
		switch {
		case ok:
			failing = append(failing, f)
		case flap:
			flapping++
		case podReady(p):
			ready++
		}
	}
	for _, f := range failing {
		if f.Agent {
			return Decision{Verdict: VerdictRollback, Failure: f,
				Why: fmt.Sprintf("autotel's init container %s fails (%s): the pods cannot start with instrumentation", f.Container, f.Detail)}
		}
	}
	if len(failing) == 0 {
		if flapping > 0 {
			return Decision{Verdict: VerdictApp, Why: fmt.Sprintf("%d instrumented pod(s) crash repeatedly, but only after running longer than %s: a crash caused by an agent happens at start; left to the app", flapping, th.StartupWindow)}
		}
		if !deadlineExceeded || ready > 0 || len(current) == 0 {
			return Decision{Verdict: VerdictHealthy}
		}
		// Running, never ready, past the workload's progress deadline.
		failing = append(failing, Failure{Kind: FailureNotReady, Container: "", Detail: "no instrumented pod became ready within the workload's progress deadline"})
	}
	f := failing[0]
	if ready > 0 {
		return Decision{Verdict: VerdictUnsure, Failure: f,
			Why: fmt.Sprintf("%d of %d instrumented pods fail (%s) while %d others of the same template run: not clearly instrumentation", len(failing), len(current), f, ready)}
	}
	if len(previous) == 0 {
		return Decision{Verdict: VerdictUnsure, Failure: f,
			Why: fmt.Sprintf("instrumented pods fail (%s), but no uninstrumented pod of an earlier template is left to compare with", f)}
	}
	for _, p := range previous {
		if pf, ok, flap := podFailure(p, th, now); ok || flap || int(podRestarts(p)) >= th.MinRestarts {
			what := "restart repeatedly"
			if ok {
				what = pf.String()
			}
			return Decision{Verdict: VerdictApp, Failure: f,
				Why: fmt.Sprintf("instrumented pods fail (%s), and pods of the previous template, without instrumentation, fail too (%s %s): the app's own failure", f, p.Name, what)}
		}
		if !podReady(p) {
			return Decision{Verdict: VerdictUnsure, Failure: f,
				Why: fmt.Sprintf("instrumented pods fail (%s); pod %s of the previous template is not ready either, so the comparison proves nothing", f, p.Name)}
		}
	}
	return Decision{Verdict: VerdictRollback, Failure: f,
		Why: fmt.Sprintf("instrumented pods fail (%s) while the %d pod(s) of the previous template, without instrumentation, run ready", f, len(previous))}
}

// injectedPod: the pod runs an agent autotel injected.
func injectedPod(pod *corev1.Pod) bool {
	if st, ok, err := instrumentation.ReadStatus(pod); ok && err == nil && st.Outcome == instrumentation.OutcomeInjected {
		return true
	}
	return len(instrumentation.InjectedLanguages(pod)) > 0
}
