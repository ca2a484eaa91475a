package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/testkit/wait"
)

// rollbackWorkload creates a Deployment with two ReplicaSets as a rollout
// leaves them: the previous template's pod (not instrumented) and the new
// template's pod (asking for Python injection, instrumented by the webhook),
// then gives each the status a kubelet would report (status subresource).
func rollbackWorkload(t *testing.T, ns, name string, oldStatus, newStatus func(*corev1.Pod)) {
	t.Helper()
	c := k8sClient()
	sel := map[string]string{"app": name}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: sel, Annotations: map[string]string{injectPython: "true"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}}}
	if err := c.Create(ctx(t), dep); err != nil {
		t.Fatal(err)
	}
	for _, gen := range []struct {
		hash   string
		inject bool
		status func(*corev1.Pod)
	}{{"old", false, oldStatus}, {"new", true, newStatus}} {
		labels := map[string]string{"app": name, appsv1.DefaultDeploymentUniqueLabelKey: gen.hash}
		annotations := map[string]string{}
		if gen.inject {
			annotations[injectPython] = "true"
		}
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations}, Spec: dep.Spec.Template.Spec}
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + gen.hash, Namespace: ns, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
		if err := c.Create(ctx(t), rs); err != nil {
			t.Fatal(err)
		}
		pod := createPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: rs.Name + "-", Namespace: ns, Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
			Spec: tmpl.Spec})
		if got := len(pod.Spec.InitContainers) > 0; got != gen.inject {
			t.Fatalf("setup: pod %s injected=%t, want %t", pod.Name, got, gen.inject)
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "app:1"}}
		for _, ic := range pod.Spec.InitContainers {
			pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses, corev1.ContainerStatus{Name: ic.Name, Image: ic.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}})
		}
		gen.status(pod)
		if err := c.Status().Update(ctx(t), pod); err != nil {
			t.Fatalf("setting the status of pod %s: %v", pod.Name, err)
		}
	}
}

func readyPod(p *corev1.Pod) {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	p.Status.ContainerStatuses[0].Ready = true
	p.Status.ContainerStatuses[0].State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.Now()}
}

// crashLooping: the app exited 1 a second after each of restarts starts.
func crashLooping(restarts int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
		cs := &p.Status.ContainerStatuses[0]
		cs.RestartCount = restarts
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
		start := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", StartedAt: start, FinishedAt: metav1.NewTime(start.Add(time.Second))}
	}
}

// agentInitFails: autotel's init container exited 2 twice.
func agentInitFails(p *corev1.Pod) {
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
	cs := &p.Status.InitContainerStatuses[0]
	cs.RestartCount = 2
	cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}
}

// TestRollbackThroughAPIServer: pods whose statuses come through the API
// server reach the operator's slim pod cache with what the detector reads;
// an opted-in workload whose agent init container fails is marked and
// restarted once, with Events; one whose app crashes in both templates is
// not, with an Event saying why; a change of the Instrumentation removes the
// mark (one more try).
func TestRollbackThroughAPIServer(t *testing.T) {
	ns := newNamespace(t, nil)
	inst := seedInstrumentation(t, "instrumentation-otlp.yaml")
	inst.Annotations = map[string]string{controllers.RollbackAnnotation: "true"}
	createInstrumentation(t, ns, inst)

	rollbackWorkload(t, ns, "broken-agent", readyPod, agentInitFails)
	rollbackWorkload(t, ns, "own-crash", crashLooping(6), crashLooping(3))

	wait.For(t, 30*time.Second, "the broken-agent Deployment to be rolled back", func() (bool, string) {
		d := deployment(t, ns, "broken-agent")
		return d.Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation] != "", fmt.Sprint(d.Annotations)
	})
	d := deployment(t, ns, "broken-agent")
	mark := d.Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation]
	if !strings.Contains(mark, "init-exit") || d.Spec.Template.Annotations[controllers.RestartedAtAnnotation] == "" {
		t.Errorf("mark %q / restartedAt %q: want the failure kind and a restart", mark, d.Spec.Template.Annotations[controllers.RestartedAtAnnotation])
	}
	first := instrumentationStatusHash(t, ns)
	if got := d.Annotations[controllers.RolledBackAnnotation]; got != ns+"/python-instrumentation@"+first {
		t.Errorf("rolled-back-for %q, want %q", got, ns+"/python-instrumentation@"+first)
	}
	waitFor(t, func() bool { return countEvents(t, ns, "broken-agent", "InstrumentationRolledBack") == 1 })
	waitFor(t, func() bool { return countEvents(t, ns, "python-instrumentation", "InstrumentationRolledBack") == 1 })
	waitFor(t, func() bool { return countEvents(t, ns, "own-crash", "InstrumentationNotRolledBack") == 1 })
	if d := deployment(t, ns, "own-crash"); d.Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation] != "" {
		t.Fatalf("the app's own crash was rolled back: %v", d.Spec.Template.Annotations)
	}

	// The Instrumentation changes: injection gets one more try.
	changeEndpoint(t, ns, "python-instrumentation", "http://collector-v2:4318")
	wait.For(t, 30*time.Second, "the mark to be removed after the Instrumentation changed", func() (bool, string) {
		d := deployment(t, ns, "broken-agent")
		_, marked := d.Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation]
		return !marked, fmt.Sprint(d.Spec.Template.Annotations)
	})
	waitFor(t, func() bool { return countEvents(t, ns, "broken-agent", "InstrumentationRetry") == 1 })
}

func instrumentationStatusHash(t *testing.T, ns string) string {
	t.Helper()
	var h string
	wait.For(t, 15*time.Second, "the Instrumentation's spec hash in its status", func() (bool, string) {
		h = instrumentationStatus(t, ns, "python-instrumentation").SpecHash
		return h != "", ""
	})
	return h
}
