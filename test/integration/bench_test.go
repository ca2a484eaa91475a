package integration

import (
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/autotel/autotel/internal/benchutil"
)

// BenchmarkPodCreate measures pod creates through the real API server:
// without the pod webhook registered, with it registered for a pod that
// does not ask for injection, and for a pod that gets injected. The
// difference is what autotel adds to every pod create in a cluster.
func BenchmarkPodCreate(b *testing.B) {
	ns := newNamespace(b, nil)
	createInstrumentation(b, ns, seedInstrumentation(b, "instrumentation-otlp.yaml"))

	run := func(b *testing.B, annotations map[string]string, wantInit int) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			pod := samplePod(ns, annotations)
			pod.Name = ""
			pod.GenerateName = "bench-"
			t0 := time.Now()
			if err := k8sClient().Create(ctx(b), pod); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if i == 0 && len(pod.Spec.InitContainers) != wantInit {
				b.Fatalf("pod has %d init containers, want %d", len(pod.Spec.InitContainers), wantInit)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		benchutil.ReportLatency(b, "creates/s", lat, elapsed)
	}
	inject := map[string]string{injectPython: "true"}

	b.Run("no-webhook", func(b *testing.B) {
		restore := withoutPodWebhook(b, ns)
		defer restore()
		run(b, inject, 0)
	})
	b.Run("webhook-not-requested", func(b *testing.B) { run(b, nil, 0) })
	b.Run("webhook-injected", func(b *testing.B) { run(b, inject, 1) })
}

// withoutPodWebhook removes mpod.kb.io from the mutating configuration
// until the returned function puts it back, waiting each time until the
// API server acts on the change.
func withoutPodWebhook(b *testing.B, ns string) func() { return withoutPodWebhookT(b, ns) }

func withoutPodWebhookT(b testing.TB, ns string) func() {
	b.Helper()
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	key := types.NamespacedName{Name: "mutating-webhook-configuration"}
	if err := k8sClient().Get(ctx(b), key, &mwc); err != nil {
		b.Fatal(err)
	}
	original := mwc.DeepCopy()
	var kept []admissionregistrationv1.MutatingWebhook
	for _, w := range mwc.Webhooks {
		if w.Name != "mpod.kb.io" {
			kept = append(kept, w)
		}
	}
	mwc.Webhooks = kept
	if err := k8sClient().Update(ctx(b), &mwc); err != nil {
		b.Fatal(err)
	}
	waitInjection(b, ns, false)
	return func() {
		var cur admissionregistrationv1.MutatingWebhookConfiguration
		if err := k8sClient().Get(ctx(b), key, &cur); err != nil {
			b.Fatal(err)
		}
		cur.Webhooks = original.Webhooks
		if err := k8sClient().Update(ctx(b), &cur); err != nil {
			b.Fatal(err)
		}
		waitInjection(b, ns, true)
	}
}

// waitInjection creates probe pods until injection is (or is not) applied.
func waitInjection(b testing.TB, ns string, want bool) {
	b.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		pod := samplePod(ns, map[string]string{injectPython: "true"})
		pod.Name = ""
		pod.GenerateName = "probe-"
		if err := k8sClient().Create(ctx(b), pod); err != nil {
			b.Fatal(err)
		}
		if (len(pod.Spec.InitContainers) > 0) == want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("pod webhook registration change (want active=%v) never took effect", want)
		}
	}
}
