package integration

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/instrumentation"
)

// workload creates a Deployment, its ReplicaSet and one pod the way the
// controllers would (there is no controller-manager in this tier).
func workload(t *testing.T, ns, name string, podAnnotations map[string]string) (*appsv1.Deployment, *corev1.Pod) {
	t.Helper()
	c := k8sClient()
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnnotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	if err := c.Create(ctx(t), dep); err != nil {
		t.Fatal(err)
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name + "-1", Namespace: ns, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: dep.Spec.Selector, Template: tmpl}}
	if err := c.Create(ctx(t), rs); err != nil {
		t.Fatal(err)
	}
	pod := createPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: rs.Name + "-", Namespace: ns, Labels: labels, Annotations: podAnnotations,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: tmpl.Spec})
	return dep, pod
}

func deployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Namespace: ns, Name: name}, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func instrumentationStatus(t *testing.T, ns, name string) v1alpha1.InstrumentationStatus {
	t.Helper()
	var i v1alpha1.Instrumentation
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Namespace: ns, Name: name}, &i); err != nil {
		t.Fatal(err)
	}
	return i.Status
}

func changeEndpoint(t *testing.T, ns, name, endpoint string) {
	t.Helper()
	var i v1alpha1.Instrumentation
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Namespace: ns, Name: name}, &i); err != nil {
		t.Fatal(err)
	}
	i.Spec.Exporter.Endpoint = endpoint
	if err := k8sClient().Update(ctx(t), &i); err != nil {
		t.Fatal(err)
	}
}

// TestRolloutOnChange: a change to an Instrumentation restarts exactly the
// opted-in workloads, once per change, with an event; status counts the
// pods and the outdated ones.
func TestRolloutOnChange(t *testing.T) {
	optedNS := newNamespace(t, map[string]string{instrumentation.RolloutAnnotation: "true"})
	createInstrumentation(t, optedNS, seedInstrumentation(t, "instrumentation-otlp.yaml"))
	_, optedPod := workload(t, optedNS, "opted", map[string]string{injectPython: "true"})
	if _, ok, _ := instrumentation.ReadStatus(optedPod); !ok || optedPod.Labels[instrumentation.InjectedLabel] != "true" {
		t.Fatalf("pod in an opted-in namespace must carry the status annotation and label: %v", optedPod.ObjectMeta)
	}
	plainNS := newNamespace(t, nil)
	createInstrumentation(t, plainNS, seedInstrumentation(t, "instrumentation-otlp.yaml"))
	_, plainPod := workload(t, plainNS, "plain", map[string]string{injectPython: "true"})
	if _, ok, _ := instrumentation.ReadStatus(plainPod); ok {
		t.Fatalf("pods not opted in must look exactly like upstream's (no status annotation)")
	}

	waitFor(t, func() bool {
		st := instrumentationStatus(t, optedNS, "python-instrumentation")
		return st.Pods == 1 && st.OutdatedPods == 0
	})

	changeEndpoint(t, optedNS, "python-instrumentation", "http://collector-v2:4318")
	changeEndpoint(t, plainNS, "python-instrumentation", "http://collector-v2:4318")
	waitFor(t, func() bool {
		return deployment(t, optedNS, "opted").Spec.Template.Annotations[controllers.RestartedAtAnnotation] != ""
	})
	st := instrumentationStatus(t, optedNS, "python-instrumentation")
	if st.Pods != 1 || st.OutdatedPods != 1 || st.SpecHash == "" {
		t.Errorf("status after change = %+v, want 1 pod, 1 outdated", st)
	}
	dep := deployment(t, optedNS, "opted")
	firstRestart := dep.Spec.Template.Annotations[controllers.RestartedAtAnnotation]
	if dep.Annotations[controllers.RolledOutAnnotation] != st.SpecHash {
		t.Errorf("rolled-out marker %q, want the new spec hash %q", dep.Annotations[controllers.RolledOutAnnotation], st.SpecHash)
	}
	waitFor(t, func() bool { return countEvents(t, optedNS, "opted", "InstrumentationRollout") == 1 })

	// Never twice for one change, however often it reconciles (the old pod
	// stays outdated here: no controller-manager replaces it).
	time.Sleep(3 * time.Second)
	if got := deployment(t, optedNS, "opted").Spec.Template.Annotations[controllers.RestartedAtAnnotation]; got != firstRestart {
		t.Errorf("restarted again for the same change: %s then %s", firstRestart, got)
	}
	if n := countEvents(t, optedNS, "opted", "InstrumentationRollout"); n != 1 {
		t.Errorf("%d rollout events, want 1", n)
	}
	if d := deployment(t, plainNS, "plain"); d.Spec.Template.Annotations[controllers.RestartedAtAnnotation] != "" {
		t.Errorf("a workload that did not opt in was restarted")
	}

	// A second change restarts it again, once.
	changeEndpoint(t, optedNS, "python-instrumentation", "http://collector-v3:4318")
	waitFor(t, func() bool { return countEvents(t, optedNS, "opted", "InstrumentationRollout") == 2 })
}

func countEvents(t *testing.T, ns, name, reason string) int {
	t.Helper()
	var events corev1.EventList
	if err := k8sClient().List(ctx(t), &events); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events.Items {
		if e.InvolvedObject.Namespace == ns && e.InvolvedObject.Name == name && e.Reason == reason {
			n++
		}
	}
	return n
}

// TestMissedPodsRestarted: a pod created while the webhook was unreachable
// is found and its workload restarted once the webhook answers again.
func TestMissedPodsRestarted(t *testing.T) {
	ns := newNamespace(t, map[string]string{instrumentation.RolloutAnnotation: "true"})
	createInstrumentation(t, ns, seedInstrumentation(t, "instrumentation-otlp.yaml"))

	restore := withoutPodWebhookT(t, ns)
	_, missed := workload(t, ns, "missed", map[string]string{injectPython: "true"})
	restore()
	if len(missed.Spec.InitContainers) != 0 {
		t.Fatal("setup: the pod should have been created without the webhook")
	}

	sweeper, clk := missedSweeper(t)
	sweeper.Sweep(ctx(t))
	dep := deployment(t, ns, "missed")
	if dep.Spec.Template.Annotations[controllers.RestartedAtAnnotation] == "" || !strings.HasPrefix(dep.Annotations[controllers.RolledOutAnnotation], "missed:") {
		t.Fatalf("missed pod's Deployment not restarted: %v / %v", dep.Annotations, dep.Spec.Template.Annotations)
	}
	first := dep.Spec.Template.Annotations[controllers.RestartedAtAnnotation]
	// A later restart would carry a later restartedAt (second resolution).
	clk.Step(time.Minute)
	sweeper.Sweep(ctx(t))
	if got := deployment(t, ns, "missed").Spec.Template.Annotations[controllers.RestartedAtAnnotation]; got != first {
		t.Errorf("restarted twice for the same miss")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
