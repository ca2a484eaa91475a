package podwebhook_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/benchutil"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/webhook/podwebhook"
)

// benchHandler is the pod webhook as the operator builds it, with the
// API reads answered from memory (what the operator's cache does), so the
// figures are the handler's own cost.
func benchHandler(b *testing.B) (*podwebhook.Handler, []byte) {
	b.Helper()
	scheme := operator.Scheme()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "example"}}
	lookup := &instrumentation.StaticLookup{
		Instrumentations: []v1alpha1.Instrumentation{{
			ObjectMeta: metav1.ObjectMeta{Name: "python-instrumentation", Namespace: "example"},
			Spec: v1alpha1.InstrumentationSpec{
				Exporter:    v1alpha1.Exporter{Endpoint: "http://otel-collector:4318"},
				Propagators: []v1alpha1.Propagator{v1alpha1.TraceContext, v1alpha1.Baggage},
				Python: v1alpha1.Python{Image: "autoinstrumentation-python:0.64b0", Env: []corev1.EnvVar{
					{Name: "OTEL_LOGS_EXPORTER", Value: "console"},
				}},
			},
		}},
		ReplicaSets: []appsv1.ReplicaSet{{ObjectMeta: metav1.ObjectMeta{Name: "sample-656f58b97c", Namespace: "example",
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "sample", Controller: ptr.To(true)}}}}},
	}
	h := &podwebhook.Handler{
		Mutator: instrumentation.Mutator{Config: instrumentation.DefaultConfig()},
		Lookup:  lookup,
		Cached:  fake.NewClientBuilder().WithScheme(scheme).WithObjects(ns).Build(),
		Decoder: admission.NewDecoder(scheme),
		Log:     logr.Discard(),
	}
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "sample-656f58b97c-", Namespace: "example",
			Labels:          map[string]string{"app": "sample"},
			Annotations:     map[string]string{"instrumentation.opentelemetry.io/inject-python": "true"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "sample-656f58b97c", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sample", Image: "sample:amd64"}}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	return h, raw
}

func request(raw []byte) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "bench", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "example",
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}}
}

// BenchmarkHandler measures one pod admission through the handler: decode,
// inject, JSON patch. Reports admissions/s, p50 and p99 latency and (with
// -benchmem) allocations per admission.
func BenchmarkHandler(b *testing.B) {
	for _, tc := range []struct {
		name     string
		annotate bool
	}{{"injected", true}, {"not-requested", false}} {
		b.Run(tc.name, func(b *testing.B) {
			h, raw := benchHandler(b)
			if !tc.annotate {
				var pod corev1.Pod
				_ = json.Unmarshal(raw, &pod)
				pod.Annotations = nil
				raw, _ = json.Marshal(&pod)
			}
			req := request(raw)
			ctx := context.Background()
			if res := h.Handle(ctx, req); !res.Allowed || (tc.annotate && len(res.Patches) == 0) {
				b.Fatalf("unexpected response: allowed=%v patches=%d %v", res.Allowed, len(res.Patches), res.Result)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				h.Handle(ctx, req)
				lat = append(lat, time.Since(t0))
			}
			elapsed := time.Since(start)
			b.StopTimer()
			benchutil.ReportLatency(b, "admissions/s", lat, elapsed)
		})
	}
}
