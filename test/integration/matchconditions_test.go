package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/autotel/autotel/internal/controllers"
)

// podWebhookCondition is autotel's match condition on the pod webhook
// ("" when absent).
func podWebhookCondition(t testing.TB) string {
	t.Helper()
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Name: "mutating-webhook-configuration"}, &mwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range mwc.Webhooks {
		if w.Name != "mpod.kb.io" {
			continue
		}
		for _, c := range w.MatchConditions {
			if c.Name == controllers.MatchConditionName {
				return c.Expression
			}
		}
	}
	return ""
}

// waitExcluded waits until the condition leaves out (or lets in) ns.
func waitExcluded(t testing.TB, ns string, excluded bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		expr := podWebhookCondition(t)
		listed := strings.Contains(expr, "'"+ns+"'")
		if expr != "" && strings.Contains(expr, "!(request.namespace in") && listed == excluded {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod webhook's condition never %s namespace %s: %q", map[bool]string{true: "excluded", false: "stopped excluding"}[excluded], ns, expr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// podWebhookRequests is how many admission requests the operator's pod
// webhook has served (controller-runtime's own counter).
func podWebhookRequests(t testing.TB) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_webhook_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "webhook" && l.GetValue() == "/mutate-v1-pod" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// TestMatchConditionsOnlyInjectablePodsReachWebhook: pods that ask for
// nothing in namespaces that ask for nothing never reach the webhook; a pod
// annotation still does, in any namespace, and is injected as before.
func TestMatchConditionsOnlyInjectablePodsReachWebhook(t *testing.T) {
	ns := newNamespace(t, nil)
	createInstrumentation(t, ns, seedInstrumentation(t, "instrumentation-otlp.yaml"))
	waitExcluded(t, ns, true)

	before := podWebhookRequests(t)
	for i := range 3 {
		p := samplePod(ns, map[string]string{"unrelated": "x"})
		p.Name = fmt.Sprintf("plain-%d", i)
		if got := createPod(t, p); len(got.Spec.InitContainers) != 0 {
			t.Fatalf("a pod that asks for nothing was changed")
		}
	}
	if after := podWebhookRequests(t); after != before {
		t.Errorf("pods that ask for nothing reached the webhook: %v requests, want %v", after, before)
	}
	p := samplePod(ns, map[string]string{injectPython: "true"})
	p.Name = "asks"
	if got := createPod(t, p); len(got.Spec.InitContainers) != 1 {
		t.Errorf("a pod with inject-python in an unannotated namespace must still be injected")
	}
	if after := podWebhookRequests(t); after != before+1 {
		t.Errorf("the annotated pod should have been the one request: %v, want %v", after, before+1)
	}
}

// TestMatchConditionsNewNamespaceNoWindow: a namespace created with its
// annotation and a pod right after: the operator has not listed the
// namespace yet, and an unlisted namespace reaches the webhook, so the pod
// is injected without recovery.
func TestMatchConditionsNewNamespaceNoWindow(t *testing.T) {
	for i := range 5 {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "it-new-", Annotations: map[string]string{injectPython: "true"}}}
		if err := k8sClient().Create(ctx(t), ns); err != nil {
			t.Fatal(err)
		}
		createInstrumentation(t, ns.Name, seedInstrumentation(t, "instrumentation-otlp.yaml"))
		if got := createPod(t, samplePod(ns.Name, nil)); len(got.Spec.InitContainers) != 1 {
			t.Fatalf("round %d: pod in a namespace created with inject-python was not injected", i)
		}
	}
}

// TestMatchConditionsAnnotateNamespaceThenPod: annotating an existing
// namespace and creating pods right after. Pods created before the
// condition includes the namespace reach no webhook; their workloads are
// restarted once (bare pods get an event), pods created earlier than the
// annotation are left alone, and pods created after the update are injected.
func TestMatchConditionsAnnotateNamespaceThenPod(t *testing.T) {
	nsName := newNamespace(t, nil)
	createInstrumentation(t, nsName, seedInstrumentation(t, "instrumentation-otlp.yaml"))
	waitExcluded(t, nsName, true)
	_, oldPod := workload(t, nsName, "old", nil)
	if len(oldPod.Spec.InitContainers) != 0 {
		t.Fatal("setup: a pod that asks for nothing was injected")
	}
	// Creation timestamps are whole seconds: keep the old workload's
	// visibly before the annotation.
	time.Sleep(2100 * time.Millisecond)

	setNamespaceAnnotations(t, nsName, map[string]string{injectPython: "true"})
	bare := samplePod(nsName, nil)
	bare.Name = "bare"
	bare = createPod(t, bare)
	_, windowPod := workload(t, nsName, "window", nil)

	waitExcluded(t, nsName, false)
	after := samplePod(nsName, nil)
	after.Name = "after"
	if got := createPod(t, after); len(got.Spec.InitContainers) != 1 {
		t.Fatalf("a pod created once the condition includes the namespace must be injected")
	}

	// The window pod is either injected (the operator was faster) or its
	// Deployment is restarted once; never both.
	if len(windowPod.Spec.InitContainers) == 1 {
		t.Log("the condition was updated before the workload's pod was created")
		time.Sleep(4 * time.Second)
		if d := deployment(t, nsName, "window"); d.Spec.Template.Annotations[controllers.RestartedAtAnnotation] != "" {
			t.Errorf("an injected pod's workload was restarted")
		}
	} else {
		t.Log("the workload's pod was created in the window")
		waitWindowRestart(t, nsName, "window")
	}
	if len(bare.Spec.InitContainers) == 0 {
		t.Log("the bare pod was created in the window")
		waitFor(t, func() bool { return countEvents(t, nsName, "bare", "InstrumentationMissed") == 1 })
	}
	// Annotating a namespace never restarts what ran before it, upstream
	// or here.
	if d := deployment(t, nsName, "old"); d.Spec.Template.Annotations[controllers.RestartedAtAnnotation] != "" {
		t.Errorf("a workload created before the namespace annotation was restarted")
	}
	// Removing the annotation lists the namespace again.
	var ns corev1.Namespace
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Name: nsName}, &ns); err != nil {
		t.Fatal(err)
	}
	delete(ns.Annotations, injectPython)
	if err := k8sClient().Update(ctx(t), &ns); err != nil {
		t.Fatal(err)
	}
	waitExcluded(t, nsName, true)
}

// TestMatchConditionsAtLimit: the longest expression the operator writes by
// default (its namespace limit, each name of the longest length) is
// accepted by the API server's validation (CEL compilation and cost).
func TestMatchConditionsAtLimit(t *testing.T) {
	names := make([]string, 1000) // the operator's default limit
	for i := range names {
		names[i] = fmt.Sprintf("%s%05d", strings.Repeat("n", 58), i)
	}
	expr, mode := controllers.BuildCondition(nil, names, len(names))
	if mode != controllers.ModeExclude {
		t.Fatalf("mode %s, want %s", mode, controllers.ModeExclude)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Name: "mutating-webhook-configuration"}, &mwc); err != nil {
		t.Fatal(err)
	}
	probe := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "autotel-limit-probe"}}
	for _, w := range mwc.Webhooks {
		if w.Name == "mpod.kb.io" {
			w.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: controllers.MatchConditionName, Expression: expr}}
			probe.Webhooks = append(probe.Webhooks, w)
		}
	}
	if err := k8sClient().Create(ctx(t), probe, client.DryRunAll); err != nil {
		msg := err.Error()
		if len(msg) > 400 {
			msg = msg[:200] + " ... " + msg[len(msg)-200:]
		}
		t.Fatalf("the API server rejects a %d-byte condition listing %d namespaces: %s", len(expr), len(names), msg)
	}
	t.Logf("a condition listing %d namespaces is %d bytes", len(names), len(expr))
}
