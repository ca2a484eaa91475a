// Package podwebhook is the admission edge of pod injection: it decodes the
// pod, asks the instrumentation package what to do, logs the decision and
// answers the API server. It never denies a pod.
package podwebhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/autotel/autotel/internal/instrumentation"
)

// Path is where the API server sends pod CREATE admissions.
const Path = "/mutate-v1-pod"

// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=ignore,groups="",resources=pods,verbs=create,versions=v1,name=mpod.kb.io,sideEffects=none,admissionReviewVersions=v1
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get
// +kubebuilder:rbac:groups=opentelemetry.io,resources=instrumentations,verbs=get;list;watch

// Handler mutates pods that ask for auto-instrumentation.
type Handler struct {
	Mutator  instrumentation.Mutator
	Lookup   instrumentation.Lookup
	Cached   client.Reader // namespaces
	Decoder  admission.Decoder
	Recorder record.EventRecorder
	Log      logr.Logger
}

// Handle implements admission.Handler. Every failure admits the pod
// unchanged (with a 500 result the API server records), because a broken
// or unreachable instrumentation must never stop a workload from starting.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	var pod corev1.Pod
	if err := h.Decoder.Decode(req, &pod); err != nil {
		h.Log.Error(err, "cannot decode pod; admitting it unchanged", "namespace", req.Namespace, "name", req.Name)
		return allowedWithError(http.StatusBadRequest, err)
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	var ns corev1.Namespace
	if err := h.Cached.Get(ctx, types.NamespacedName{Name: req.Namespace}, &ns); err != nil {
		h.Log.Error(err, "cannot read the pod's namespace; admitting it unchanged", "namespace", req.Namespace, "pod", podName(&pod))
		return allowedWithError(http.StatusInternalServerError, err)
	}

	start := time.Now()
	// Every change to the pod is made by Admit, which the CLI preview
	// calls too; this edge only decodes, reports and answers.
	mutated, report := h.Mutator.Admit(ctx, &ns, &pod, h.Lookup)
	h.logReport(report)
	h.recordEvents(&pod, report)
	countMutations(report)
	res := h.respond(req, &pod, mutated, report)
	admissionSeconds.WithLabelValues(string(report.Outcome)).Observe(time.Since(start).Seconds())
	return res
}

func (h *Handler) respond(req admission.Request, pod, mutated *corev1.Pod, report instrumentation.Report) admission.Response {
	if mutated == pod {
		if report.Outcome == instrumentation.OutcomeError {
			return allowedWithError(http.StatusInternalServerError, errors.New(report.Reason))
		}
		return admission.Allowed(string(report.Outcome))
	}
	raw, err := json.Marshal(mutated)
	if err != nil {
		h.Log.Error(err, "cannot encode mutated pod; admitting it unchanged", "pod", report.Pod)
		return allowedWithError(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

// recordEvents makes skips and errors visible with `kubectl describe`.
// A pod created by a controller has no name yet at admission, so its
// event goes to the controller (the ReplicaSet, Job, ...), where users
// look when pods misbehave.
func (h *Handler) recordEvents(pod *corev1.Pod, r instrumentation.Report) {
	if h.Recorder == nil {
		return
	}
	var target runtime.Object = pod
	if pod.Name == "" {
		owner := metav1.GetControllerOf(pod)
		if owner == nil {
			return // an unnamed, unowned pod cannot be referenced
		}
		target = &corev1.ObjectReference{APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Name, UID: owner.UID, Namespace: pod.Namespace}
	}
	emit := func(eventType, reason, msg string) { h.Recorder.Event(target, eventType, reason, msg) }
	for _, w := range r.Warnings {
		emit(corev1.EventTypeWarning, w.Reason, w.Message)
	}
	switch r.Outcome {
	case instrumentation.OutcomeError:
		emit(corev1.EventTypeWarning, "InstrumentationFailed", "pod admitted without instrumentation: "+r.Reason)
	case instrumentation.OutcomeSkipped:
		emit(corev1.EventTypeWarning, "InstrumentationSkipped", r.String())
	case instrumentation.OutcomeInjected:
		for _, l := range r.Languages {
			for _, c := range l.Containers {
				if !c.Injected {
					emit(corev1.EventTypeWarning, "InstrumentationSkipped", fmt.Sprintf("%s: container %s: %s", l.Language, c.Name, c.Reason))
				}
			}
		}
	}
}

func countMutations(r instrumentation.Report) {
	if s := r.Sidecar; s != nil {
		mutations.WithLabelValues("sidecar", sidecarOutcome(s)).Inc()
	}
	switch r.Outcome {
	case instrumentation.OutcomeNotRequested:
		return
	case instrumentation.OutcomeError:
		mutations.WithLabelValues(string(r.ErrorLanguage), "error").Inc()
		return
	}
	if len(r.Languages) == 0 {
		mutations.WithLabelValues("", string(r.Outcome)).Inc()
	}
	for _, l := range r.Languages {
		outcome := "skipped"
		switch {
		case l.Disabled:
			outcome = "disabled"
		case l.Injected():
			outcome = "injected"
		}
		mutations.WithLabelValues(string(l.Language), outcome).Inc()
	}
}

// logReport writes one line per decision. Pods that never asked for
// injection are logged at debug level only: that is every pod in the cluster.
func (h *Handler) logReport(r instrumentation.Report) {
	kv := []any{"pod", r.Pod, "outcome", string(r.Outcome)}
	if r.Reason != "" {
		kv = append(kv, "reason", r.Reason)
	}
	for _, l := range r.Languages {
		kv = append(kv, string(l.Language), l.Instrumentation)
		for _, c := range l.Containers {
			if c.Injected {
				kv = append(kv, "container/"+c.Name, "injected")
			} else {
				kv = append(kv, "container/"+c.Name, "skipped: "+c.Reason)
			}
		}
	}
	if s := r.Sidecar; s != nil {
		kv = append(kv, "sidecar", sidecarOutcome(s), "collector", s.Collector)
		if s.Reason != "" {
			kv = append(kv, "sidecarReason", s.Reason)
		}
	}
	switch r.Outcome {
	case instrumentation.OutcomeNotRequested:
		if r.Sidecar != nil {
			h.Log.Info("pod admission", kv...)
			return
		}
		h.Log.V(1).Info("pod admission", kv...)
	case instrumentation.OutcomeError:
		h.Log.Info("pod admitted without instrumentation", kv...)
	default:
		h.Log.Info("pod admission", kv...)
	}
}

func allowedWithError(code int32, err error) admission.Response {
	res := admission.Errored(code, err)
	res.Allowed = true
	return res
}

func podName(p *corev1.Pod) string {
	if p.Name != "" {
		return p.Name
	}
	return p.GenerateName + "*"
}

// sidecarOutcome names the sidecar decision for logs and the metric's
// outcome label.
func sidecarOutcome(s *instrumentation.SidecarReport) string {
	switch {
	case s.Injected:
		return "injected"
	case s.Removed:
		return "removed"
	case s.Error:
		return "error"
	}
	return "skipped"
}
