package podwebhook_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/webhook/podwebhook"
)

func handler(status bool, recorder record.EventRecorder, insts ...v1alpha1.Instrumentation) *podwebhook.Handler {
	scheme := operator.Scheme()
	cfg := instrumentation.DefaultConfig()
	cfg.PodStatusAnnotations = status
	return &podwebhook.Handler{
		Mutator:  instrumentation.Mutator{Config: cfg},
		Lookup:   &instrumentation.StaticLookup{Instrumentations: insts},
		Cached:   fake.NewClientBuilder().WithScheme(scheme).WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "example"}}).Build(),
		Decoder:  admission.NewDecoder(scheme),
		Recorder: recorder,
		Log:      logr.Discard(),
	}
}

func podRequest(t *testing.T, pod *corev1.Pod) admission.Request {
	t.Helper()
	pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return request(raw)
}

var pythonInst = v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Name: "python", Namespace: "example"},
	Spec: v1alpha1.InstrumentationSpec{Python: v1alpha1.Python{Image: "python:1"}}}

func annotated(value string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "example",
		Annotations: map[string]string{"instrumentation.opentelemetry.io/inject-python": value}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
}

func patched(res admission.Response, path string) bool {
	for _, p := range res.Patches {
		if strings.HasPrefix(p.Path, path) {
			return true
		}
	}
	return false
}

func TestHandlerOutcomes(t *testing.T) {
	injected := func() float64 {
		return counterValue(t, "autotel_pod_mutations_total", map[string]string{"language": "python", "outcome": "injected"})
	}
	before := injected()

	// Injected, no status annotation by default: upstream-identical pods.
	res := handler(false, nil, pythonInst).Handle(context.Background(), podRequest(t, annotated("true")))
	if !res.Allowed || !patched(res, "/spec/initContainers") || patched(res, "/metadata/annotations/autotel.io") || patched(res, "/metadata/labels") {
		t.Fatalf("default handler: allowed=%v patches=%v", res.Allowed, res.Patches)
	}
	if got := injected(); got != before+1 {
		t.Errorf("autotel_pod_mutations_total{python,injected} = %v, want %v", got, before+1)
	}

	// Error (missing Instrumentation): admitted, 500 result, event on the pod.
	errorsBefore := counterValue(t, "autotel_pod_mutations_total", map[string]string{"language": "python", "outcome": "error"})
	rec := record.NewFakeRecorder(10)
	res = handler(false, rec).Handle(context.Background(), podRequest(t, annotated("missing")))
	if !res.Allowed || res.Result == nil || res.Result.Code != 500 || len(res.Patches) != 0 {
		t.Fatalf("error must admit unchanged with a 500 result: %+v", res)
	}
	if ev := <-rec.Events; !strings.Contains(ev, "InstrumentationFailed") || !strings.Contains(ev, "example/missing not found") {
		t.Errorf("event = %q", ev)
	}
	if got := counterValue(t, "autotel_pod_mutations_total", map[string]string{"language": "python", "outcome": "error"}); got != errorsBefore+1 {
		t.Errorf("error counter = %v, want %v", got, errorsBefore+1)
	}

	// Status mode: the decision is written even when nothing is injected.
	res = handler(true, nil).Handle(context.Background(), podRequest(t, annotated("missing")))
	if !res.Allowed || !patched(res, "/metadata/annotations") {
		t.Fatalf("status mode must annotate skipped pods: %+v", res.Patches)
	}
	res = handler(true, nil, pythonInst).Handle(context.Background(), podRequest(t, annotated("true")))
	if !patched(res, "/metadata/labels") {
		t.Errorf("status mode must label injected pods: %+v", res.Patches)
	}

	// A controller-made pod (no name yet): the event goes to its owner.
	rec = record.NewFakeRecorder(10)
	pod := annotated("missing")
	pod.Name, pod.GenerateName = "", "app-7d9-"
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "app-7d9", UID: "u1", Controller: ptr.To(true)}}
	handler(false, rec).Handle(context.Background(), podRequest(t, pod))
	if ev := <-rec.Events; !strings.Contains(ev, "InstrumentationFailed") {
		t.Errorf("owner event = %q", ev)
	}

	// Not requested: no patch, no metric.
	plain := annotated("")
	plain.Annotations = nil
	res = handler(true, nil).Handle(context.Background(), podRequest(t, plain))
	if !res.Allowed || len(res.Patches) != 0 {
		t.Errorf("a pod that did not ask must pass untouched: %+v", res.Patches)
	}
	// The latency histogram has observations.
	if n := len(series(t, "autotel_pod_webhook_duration_seconds", map[string]string{"outcome": "injected"})); n == 0 {
		t.Errorf("no latency histogram series")
	}
}

// TestHandlerSidecar: a pod asking only for the collector sidecar is
// patched (the outcome of the languages is "not requested"); a failed
// sidecar request admits the pod unchanged with a warning event; both are
// counted under language "sidecar".
func TestHandlerSidecar(t *testing.T) {
	sidecarPod := func(value string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "example",
			Annotations: map[string]string{instrumentation.SidecarAnnotation: value}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	}
	count := func(outcome string) float64 {
		return counterValue(t, "autotel_pod_mutations_total", map[string]string{"language": "sidecar", "outcome": outcome})
	}
	h := handler(false, nil)
	h.Lookup = &instrumentation.StaticLookup{Collectors: []v1beta1.OpenTelemetryCollector{{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "example"}, Spec: v1beta1.OpenTelemetryCollectorSpec{Mode: v1beta1.ModeSidecar}}}}
	before := count("injected")
	res := h.Handle(context.Background(), podRequest(t, sidecarPod("true")))
	if !res.Allowed || !patched(res, "/spec/initContainers") || !patched(res, "/metadata/labels") {
		t.Fatalf("sidecar pod: allowed=%v patches=%v", res.Allowed, res.Patches)
	}
	if got := count("injected"); got != before+1 {
		t.Errorf("autotel_pod_mutations_total{sidecar,injected} = %v, want %v", got, before+1)
	}

	rec := record.NewFakeRecorder(10)
	h.Recorder = rec
	errorsBefore := count("error")
	res = h.Handle(context.Background(), podRequest(t, sidecarPod("missing")))
	if !res.Allowed || len(res.Patches) != 0 {
		t.Fatalf("a failed sidecar request must admit the pod unchanged: %+v", res)
	}
	// Handle records its events before it returns: none queued is a failure,
	// not a wait until the test binary times out.
	select {
	case ev := <-rec.Events:
		if !strings.Contains(ev, "SidecarInjectionFailed") || !strings.Contains(ev, "example/missing not found") {
			t.Errorf("event = %q", ev)
		}
	default:
		t.Errorf("no SidecarInjectionFailed event")
	}
	if got := count("error"); got != errorsBefore+1 {
		t.Errorf("autotel_pod_mutations_total{sidecar,error} = %v, want %v", got, errorsBefore+1)
	}
}
