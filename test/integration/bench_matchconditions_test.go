package integration

import (
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/autotel/autotel/internal/benchutil"
)

// BenchmarkPodCreateAskingNothing: creates of pods that ask for nothing, in
// a namespace that asks for nothing — most pods of a cluster — without the
// pod webhook, with it behind autotel's match conditions (the API server
// skips the call), and with it but without conditions (every pod is sent,
// as upstream's webhook is). Compare the creates/s of the three.
func BenchmarkPodCreateAskingNothing(b *testing.B) {
	ns := newNamespace(b, nil)
	// For withoutPodWebhook's probes (annotated pods); plain pods ignore it.
	createInstrumentation(b, ns, seedInstrumentation(b, "instrumentation-otlp.yaml"))
	waitExcluded(b, ns, true)
	run := func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			pod := samplePod(ns, nil)
			pod.Name = ""
			pod.GenerateName = "bench-"
			t0 := time.Now()
			if err := k8sClient().Create(ctx(b), pod); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		elapsed := time.Since(start)
		b.StopTimer()
		benchutil.ReportLatency(b, "creates/s", lat, elapsed)
	}
	b.Run("no-webhook", func(b *testing.B) {
		restore := withoutPodWebhook(b, ns)
		defer restore()
		run(b)
	})
	b.Run("match-conditions", func(b *testing.B) {
		before := podWebhookRequests(b)
		run(b)
		if after := podWebhookRequests(b); after != before {
			b.Fatalf("%v pods reached the webhook behind match conditions", after-before)
		}
	})
	b.Run("no-conditions", func(b *testing.B) {
		restore := withoutMatchConditions(b, ns)
		defer restore()
		before := podWebhookRequests(b)
		run(b)
		if after := podWebhookRequests(b); after < before+float64(b.N) {
			b.Fatalf("without conditions every pod must reach the webhook: %v of %d", after-before, b.N)
		}
	})
}

// withoutMatchConditions clears the pod webhook's match conditions until
// the returned function puts them back, waiting each time until the API
// server acts on the change (pods of ns reach the webhook, or stop).
func withoutMatchConditions(b testing.TB, ns string) func() {
	b.Helper()
	key := types.NamespacedName{Name: "mutating-webhook-configuration"}
	set := func(conds func([]admissionregistrationv1.MatchCondition) []admissionregistrationv1.MatchCondition) {
		var mwc admissionregistrationv1.MutatingWebhookConfiguration
		if err := k8sClient().Get(ctx(b), key, &mwc); err != nil {
			b.Fatal(err)
		}
		for i := range mwc.Webhooks {
			if mwc.Webhooks[i].Name == "mpod.kb.io" {
				mwc.Webhooks[i].MatchConditions = conds(mwc.Webhooks[i].MatchConditions)
			}
		}
		if err := k8sClient().Update(ctx(b), &mwc); err != nil {
			b.Fatal(err)
		}
	}
	var saved []admissionregistrationv1.MatchCondition
	set(func(c []admissionregistrationv1.MatchCondition) []admissionregistrationv1.MatchCondition {
		saved = c
		return nil
	})
	waitPlainPodsReachWebhook(b, ns, true)
	return func() {
		set(func([]admissionregistrationv1.MatchCondition) []admissionregistrationv1.MatchCondition { return saved })
		waitPlainPodsReachWebhook(b, ns, false)
	}
}

func waitPlainPodsReachWebhook(b testing.TB, ns string, want bool) {
	b.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		before := podWebhookRequests(b)
		pod := samplePod(ns, nil)
		pod.Name = ""
		pod.GenerateName = "probe-"
		if err := k8sClient().Create(ctx(b), pod); err != nil {
			b.Fatal(err)
		}
		if (podWebhookRequests(b) > before) == want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("match conditions change (plain pods reach the webhook: %v) never took effect", want)
		}
	}
}
