package integration

import (
	"bytes"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/cli"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/testkit/wait"
)

func explainOut(t *testing.T, ns, pod string) string {
	t.Helper()
	var out bytes.Buffer
	if err := cli.Explain(ctx(t), &out, k8sClient(), ns, pod); err != nil {
		t.Fatalf("explain: %v", err)
	}
	return out.String()
}

func mustContain(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
}

// TestExplain: the CLI tells why pods are or are not instrumented, and
// whether an instrumented pod is outdated.
func TestExplain(t *testing.T) {
	ns := newNamespace(t, nil)
	c := k8sClient()

	// Created before any Instrumentation exists: not instrumented, and
	// explain says the webhook would do it now.
	early := createPod(t, samplePod(ns, map[string]string{injectPython: "true"}))
	mustContain(t, explainOut(t, ns, early.Name), "not instrumented; asked again now", "no OpenTelemetry Instrumentation instances available")
	createInstrumentation(t, ns, seedInstrumentation(t, "instrumentation-otlp.yaml"))
	mustContain(t, explainOut(t, ns, early.Name), "NOT instrumented, although the webhook would instrument it now", "kubectl rollout restart")

	// A Deployment with the annotation on its own metadata, not the template.
	labels := map[string]string{"app": "wrong"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "wrong", Namespace: ns, Annotations: map[string]string{injectPython: "true"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}}}
	if err := c.Create(ctx(t), dep); err != nil {
		t.Fatal(err)
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "wrong-1", Namespace: ns, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template}}
	if err := c.Create(ctx(t), rs); err != nil {
		t.Fatal(err)
	}
	wrong := createPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "wrong-1-abcde", Namespace: ns, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: dep.Spec.Template.Spec})
	mustContain(t, explainOut(t, ns, wrong.Name), "does not ask for it", "the Deployment wrong has instrumentation.opentelemetry.io/inject-python on its own metadata")

	// An instrumented ReplicaSet pod: up to date, then outdated after the
	// Instrumentation changes.
	good := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "good-1", Namespace: ns, Labels: map[string]string{"app": "good"}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "good"}}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "good"}, Annotations: map[string]string{injectPython: "true"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}}}
	if err := c.Create(ctx(t), good); err != nil {
		t.Fatal(err)
	}
	pod := createPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "good-1-abcde", Namespace: ns, Labels: good.Spec.Template.Labels, Annotations: good.Spec.Template.Annotations,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: good.Name, UID: good.UID, Controller: ptr.To(true)}}},
		Spec: good.Spec.Template.Spec})
	mustContain(t, explainOut(t, ns, pod.Name), "instrumented: python", "up to date")

	var inst v1alpha1.Instrumentation
	if err := c.Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "python-instrumentation"}, &inst); err != nil {
		t.Fatal(err)
	}
	inst.Spec.Exporter.Endpoint = "http://otel-collector.observability:4318"
	if err := c.Update(ctx(t), &inst); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(explainOut(t, ns, pod.Name), "OUTDATED") })
	mustContain(t, explainOut(t, ns, pod.Name), "container app's environment differs")
}

// waitFor fails t unless cond holds within 15 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	wait.For(t, 15*time.Second, "the condition", func() (bool, string) { return cond(), "" })
}

// TestCheck: autotel check proves the webhook is reached and resolves the
// exporter endpoint to a Service with ready endpoints.
func TestCheck(t *testing.T) {
	ns := newNamespace(t, nil)
	inst := seedInstrumentation(t, "instrumentation-otlp.yaml")
	inst.Spec.Exporter.Endpoint = "http://otel-collector." + ns + ":4318"
	createInstrumentation(t, ns, inst)
	check := func() (string, int) {
		var out bytes.Buffer
		n := cli.Check(ctx(t), &out, k8sClient(), time.Now())
		return out.String(), n
	}
	out, failures := check()
	if failures == 0 {
		t.Fatalf("check passed although the collector Service is missing:\n%s", out)
	}
	mustContain(t, out, "ok    Instrumentation CRD is served", "ok    pod webhook mpod.kb.io registered", "ok    webhook CA valid until",
		"ok    API server reaches the pod webhook", "Service "+ns+"/otel-collector not found")

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "otel-collector", Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 4318}}, Selector: map[string]string{"app": "collector"}}}
	if err := k8sClient().Create(ctx(t), svc); err != nil {
		t.Fatal(err)
	}
	out, _ = check()
	mustContain(t, out, "Service "+ns+"/otel-collector, which has no ready endpoints")

	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "otel-collector-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "otel-collector"}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}}}
	if err := k8sClient().Create(ctx(t), slice); err != nil {
		t.Fatal(err)
	}
	out, _ = check()
	mustContain(t, out, "ok    "+ns+"/python-instrumentation: endpoint http://otel-collector."+ns+":4318 resolves to Service "+ns+"/otel-collector with 1 ready endpoint(s)")
}

// TestDefaultInstrumentationThroughAPI: a namespace without an
// Instrumentation uses the cluster default; events tell about failures.
func TestDefaultInstrumentationThroughAPI(t *testing.T) {
	platform := newNamespace(t, nil)
	inst := seedInstrumentation(t, "instrumentation-otlp.yaml")
	inst.Name = "cluster-default"
	inst.Labels = map[string]string{instrumentation.DefaultLabel: "true"}
	createInstrumentation(t, platform, inst)
	// Other tests expect no cluster default: remove it and wait until the
	// operator's cache has seen the deletion.
	t.Cleanup(func() {
		_ = k8sClient().Delete(ctx(t), &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Namespace: platform, Name: "cluster-default"}})
		waitFor(t, func() bool {
			var list v1alpha1.InstrumentationList
			return env.CachedClient.List(ctx(t), &list, client.MatchingLabels{instrumentation.DefaultLabel: "true"}) == nil && len(list.Items) == 0
		})
	})

	app := newNamespace(t, nil)
	pod := createPod(t, samplePod(app, map[string]string{injectPython: "true"}))
	if len(pod.Spec.InitContainers) != 1 {
		t.Fatalf("the cluster default should have been used; init containers: %d", len(pod.Spec.InitContainers))
	}
	if got := envValue(t, pod.Spec.Containers[0], "OTEL_EXPORTER_OTLP_ENDPOINT"); got != "http://otel-collector:4318" {
		t.Errorf("endpoint %q", got)
	}
}

// TestEventsAndStatus: a skipped pod gets an event explaining why; in a
// namespace opted into rollout the decision is recorded on the pod.
func TestEventsAndStatus(t *testing.T) {
	ns := newNamespace(t, map[string]string{instrumentation.RolloutAnnotation: "true"})
	pod := samplePod(ns, map[string]string{injectPython: "missing"})
	stored := createPod(t, pod)
	st, ok, err := instrumentation.ReadStatus(stored)
	if !ok || err != nil || st.Outcome != instrumentation.OutcomeError || !strings.Contains(st.Reason, "missing") {
		t.Errorf("status annotation = %+v ok=%v err=%v", st, ok, err)
	}
	waitFor(t, func() bool {
		var events corev1.EventList
		if err := k8sClient().List(ctx(t), &events); err != nil {
			return false
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Namespace == ns && e.InvolvedObject.Name == "sample" && e.Reason == "InstrumentationFailed" && strings.Contains(e.Message, "Instrumentation "+ns+"/missing not found") {
				return true
			}
		}
		return false
	})

	createInstrumentation(t, ns, seedInstrumentation(t, "instrumentation-otlp.yaml"))
	ok2 := samplePod(ns, map[string]string{injectPython: "true"})
	ok2.Name = "injected"
	stored = createPod(t, ok2)
	st, _, _ = instrumentation.ReadStatus(stored)
	if st.Outcome != instrumentation.OutcomeInjected || len(st.Languages) != 1 || st.Languages[0].Hash == "" || st.Languages[0].Injected[0] != "sample" {
		t.Errorf("status of injected pod = %+v", st)
	}
}
