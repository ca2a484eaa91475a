package controllers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// podOpt shapes a test pod.
type podOpt func(*corev1.Pod)

var t0 = time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)

func testPod(name string, injected bool, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(t0)}}
	p.Spec.Containers = []corev1.Container{{Name: "app", Image: "app:1"}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app"}}
	if injected {
		p.Spec.InitContainers = []corev1.Container{{Name: "opentelemetry-auto-instrumentation-python", Image: "agent:1"}}
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PYTHONPATH", Value: "/otel-auto-instrumentation-python/opentelemetry/instrumentation/auto_instrumentation:/otel-auto-instrumentation-python"}}
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "opentelemetry-auto-instrumentation-python", Image: "agent:1"}}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(p *corev1.Pod) {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
}

// crashed: the app container exited code after running ran, restarts times.
func crashed(restarts int32, ran time.Duration, reason string) podOpt {
	return func(p *corev1.Pod) {
		cs := &p.Status.ContainerStatuses[0]
		cs.RestartCount = restarts
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: reason,
			StartedAt: metav1.NewTime(t0), FinishedAt: metav1.NewTime(t0.Add(ran))}
	}
}

func initWaiting(reason string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.InitContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
	}
}

func initExited(code int32, restarts int32) podOpt {
	return func(p *corev1.Pod) {
		cs := &p.Status.InitContainerStatuses[0]
		cs.RestartCount = restarts
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error"}
	}
}

func TestDecide(t *testing.T) {
	th := Thresholds{MinRestarts: 3, StartupWindow: time.Minute, ImagePullGrace: time.Minute, OOMKills: 2}
	clk := clocktesting.NewFakePassiveClock(t0.Add(5 * time.Minute))
	fine := testPod("old", false, ready)
	cases := []struct {
		name     string
		current  []*corev1.Pod
		previous []*corev1.Pod
		deadline bool
		now      time.Time // zero: the fake clock's
		verdict  Verdict
		kind     FailureKind
	}{
		{name: "agent image cannot be pulled", current: []*corev1.Pod{testPod("new", true, initWaiting("ImagePullBackOff"))},
			verdict: VerdictRollback, kind: FailureInitImagePull},
		{name: "agent image pull still within its grace", current: []*corev1.Pod{testPod("new", true, initWaiting("ErrImagePull"))},
			now: t0.Add(30 * time.Second), verdict: VerdictHealthy},
		{name: "agent init container exits non-zero", current: []*corev1.Pod{testPod("new", true, initExited(1, 2))},
			verdict: VerdictRollback, kind: FailureInitExit},
		{name: "app crashes at start only when instrumented", current: []*corev1.Pod{testPod("new", true, crashed(3, 2*time.Second, "Error"))},
			previous: []*corev1.Pod{fine}, verdict: VerdictRollback, kind: FailureCrashLoop},
		{name: "two restarts are not yet a crash loop", current: []*corev1.Pod{testPod("new", true, crashed(2, 2*time.Second, "Error"))},
			previous: []*corev1.Pod{fine}, verdict: VerdictHealthy},
		{name: "repeated OOMKilled, even late", current: []*corev1.Pod{testPod("new", true, crashed(2, 10*time.Minute, "OOMKilled"))},
			previous: []*corev1.Pod{fine}, verdict: VerdictRollback, kind: FailureOOMKilled},
		{name: "never ready past the progress deadline", current: []*corev1.Pod{testPod("new", true)},
			previous: []*corev1.Pod{fine}, deadline: true, verdict: VerdictRollback, kind: FailureNotReady},
		{name: "not ready, deadline not passed", current: []*corev1.Pod{testPod("new", true)},
			previous: []*corev1.Pod{fine}, verdict: VerdictHealthy},
		{name: "the app's own crash: previous pods crash too", current: []*corev1.Pod{testPod("new", true, crashed(3, time.Second, "Error"))},
			previous: []*corev1.Pod{testPod("old", false, crashed(4, time.Second, "Error"))}, verdict: VerdictApp, kind: FailureCrashLoop},
		{name: "flapping: crashes after running a while", current: []*corev1.Pod{testPod("new", true, crashed(5, 3*time.Minute, "Error"))},
			previous: []*corev1.Pod{fine}, verdict: VerdictApp},
		{name: "unsure: nothing to compare with", current: []*corev1.Pod{testPod("new", true, crashed(3, time.Second, "Error"))},
			verdict: VerdictUnsure, kind: FailureCrashLoop},
		{name: "unsure: other instrumented pods run", current: []*corev1.Pod{testPod("new", true, crashed(3, time.Second, "Error")), testPod("new2", true, ready)},
			previous: []*corev1.Pod{fine}, verdict: VerdictUnsure, kind: FailureCrashLoop},
		{name: "unsure: previous pod not ready either", current: []*corev1.Pod{testPod("new", true, crashed(3, time.Second, "Error"))},
			previous: []*corev1.Pod{testPod("old", false)}, verdict: VerdictUnsure, kind: FailureCrashLoop},
		{name: "an app init container of its own failing is not autotel's",
			current: []*corev1.Pod{testPod("new", true, func(p *corev1.Pod) {
				p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: "migrate", RestartCount: 3,
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}})
			})}, previous: []*corev1.Pod{fine}, verdict: VerdictHealthy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := clk.Now()
			if !tc.now.IsZero() {
				now = tc.now
			}
			d := Decide(tc.current, tc.previous, tc.deadline, th, now)
			if d.Verdict != tc.verdict || d.Failure.Kind != tc.kind {
				t.Fatalf("got %s/%q (%s), want %s/%q", d.Verdict, d.Failure.Kind, d.Why, tc.verdict, tc.kind)
			}
			if d.Verdict != VerdictHealthy && d.Why == "" {
				t.Fatalf("verdict %s without a reason", d.Verdict)
			}
		})
	}
}

func TestSlimPodWithStatusKeepsWhatDecideReads(t *testing.T) {
	full := testPod("new", true, crashed(3, time.Second, "Error"), initWaiting("ImagePullBackOff"))
	full.Status.ContainerStatuses[0].ImageID = "sha256:dropped"
	full.Status.Conditions = append(full.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Message: "dropped"})
	out, err := SlimPodWithStatus(full)
	if err != nil {
		t.Fatal(err)
	}
	slim := out.(*corev1.Pod)
	if slim.Status.ContainerStatuses[0].ImageID != "" || len(slim.Status.Conditions) != 1 || slim.Status.Conditions[0].Message != "" {
		t.Fatalf("not slimmed: %+v", slim.Status)
	}
	th := DefaultThresholds
	want := Decide([]*corev1.Pod{full}, nil, false, th, t0.Add(time.Hour))
	got := Decide([]*corev1.Pod{slim}, nil, false, th, t0.Add(time.Hour))
	if got != want || got.Verdict != VerdictRollback {
		t.Fatalf("slim pod decided %+v, full pod %+v", got, want)
	}
}
