package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
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

// rollbackObjects: Deployment "web" with the previous template's pod (not
// instrumented, ready) and the new template's pod (instrumented, whose
// agent init container exits non-zero), and the Instrumentation.
func rollbackObjects(annotations map[string]string) []client.Object {
	sel := map[string]string{"app": "web"}
	inst := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "python", Annotations: annotations}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", UID: "dep-uid"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}}}
	objs := []client.Object{inst, dep}
	for _, gen := range []struct {
		hash     string
		injected bool
	}{{"old", false}, {"new", true}} {
		labels := map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: gen.hash}
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-" + gen.hash,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: ptr.To(true)}}}}
		var pod *corev1.Pod
		if gen.injected {
			pod = testPod("web-new-1", true, initExited(2, 1))
		} else {
			pod = testPod("web-old-1", false, ready)
		}
		pod.Namespace, pod.Labels = ns, labels
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, Controller: ptr.To(true)}}
		if gen.injected {
			instrumentation.SetStatus(pod, instrumentation.Report{Outcome: instrumentation.OutcomeInjected, Languages: []instrumentation.LanguageReport{{
				Language: instrumentation.Python, Instrumentation: ns + "/python", Containers: []instrumentation.ContainerReport{{Name: "app", Injected: true}}}}})
		}
		objs = append(objs, rs, pod)
	}
	return objs
}

func (f fixture) rollbackPod(t *testing.T, b *Rollback) {
	t.Helper()
	if _, err := b.reconcilePod(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "web-new-1"}}); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
}

// TestRollbackOncePerSpec: not opted in, an Event asks for the opt-in;
// opted in, one rollback with Events; the mark removed by hand, no second
// rollback for the same spec; the spec changed, the mark goes (one more try).
func TestRollbackOncePerSpec(t *testing.T) {
	f := newFixture(t, rate.NewLimiter(rate.Inf, 1), rollbackObjects(nil)...)
	b := &Rollback{Rollout: f.r, Thresholds: DefaultThresholds}
	f.rollbackPod(t, b)
	f.rollbackPod(t, b)
	if ev := f.events(); len(ev) != 1 || !strings.Contains(ev[0], "Warning InstrumentationFailing") || !strings.Contains(ev[0], RollbackAnnotation+"=true") {
		t.Fatalf("not opted in: events %q, want one InstrumentationFailing naming the opt-in", ev)
	}
	if _, marked := f.deployment(t, "web").Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation]; marked {
		t.Fatal("rolled back without opt-in")
	}

	var inst v1alpha1.Instrumentation
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "python"}, &inst); err != nil {
		t.Fatal(err)
	}
	inst.Annotations = map[string]string{RollbackAnnotation: "true"}
	if err := f.c.Update(context.Background(), &inst); err != nil {
		t.Fatal(err)
	}
	f.rollbackPod(t, b)
	d := f.deployment(t, "web")
	mark := d.Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation]
	key := ns + "/python@" + instrumentation.SpecHash(&inst)
	if !strings.HasPrefix(mark, "rolled back by autotel: init-exit") || d.Annotations[RolledBackAnnotation] != key || d.Spec.Template.Annotations[RestartedAtAnnotation] == "" {
		t.Fatalf("after rollback: annotations %v, template %v", d.Annotations, d.Spec.Template.Annotations)
	}
	if ev := f.events(); len(ev) != 2 || !strings.Contains(ev[0], "InstrumentationRolledBack") || !strings.Contains(ev[1], "Deployment "+ns+"/web rolled back") {
		t.Fatalf("rollback events %q, want one on the Deployment and one on the Instrumentation", ev)
	}
	f.rollbackPod(t, b) // marked: pods are coming back uninstrumented
	if ev := f.events(); len(ev) != 0 {
		t.Fatalf("events while marked: %q", ev)
	}

	// The user removes the mark; the same spec fails again: no second rollback.
	delete(d.Spec.Template.Annotations, instrumentation.InjectionDisabledAnnotation)
	if err := f.c.Update(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(time.Hour)
	f.rollbackPod(t, b)
	f.rollbackPod(t, b)
	if _, marked := f.deployment(t, "web").Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation]; marked {
		t.Fatal("rolled back twice for one spec hash")
	}
	if ev := f.events(); len(ev) != 1 || !strings.Contains(ev[0], "never rolled back twice") {
		t.Fatalf("events after the mark was removed: %q, want one saying it is not rolled back again", ev)
	}

	// Rolled back again for nothing else: the retry only removes autotel's
	// own mark, and only when the spec changed.
	d = f.deployment(t, "web")
	d.Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation] = "rolled back by autotel: earlier"
	d.Annotations[RolledBackAnnotation] = ns + "/python@oldhash"
	if err := f.c.Update(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if _, err := b.retry(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "python"}}); err != nil {
		t.Fatal(err)
	}
	if _, marked := f.deployment(t, "web").Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation]; marked {
		t.Fatal("the mark of an older spec hash stayed after the Instrumentation changed")
	}
	if ev := f.events(); len(ev) != 1 || !strings.Contains(ev[0], "InstrumentationRetry") {
		t.Fatalf("retry events %q", ev)
	}
}

// TestRollbackComparesWithDeletedPods: the previous template's pod was
// scaled down (or replaced, StatefulSet) before the new pod failed; the
// deletion of that ready, uninstrumented pod is what the detector compares
// with.
func TestRollbackComparesWithDeletedPods(t *testing.T) {
	var objs []client.Object
	var old *corev1.Pod
	for _, o := range rollbackObjects(map[string]string{RollbackAnnotation: "true"}) {
		if p, ok := o.(*corev1.Pod); ok && p.Name == "web-old-1" {
			old = p
			continue
		}
		objs = append(objs, o)
	}
	f := newFixture(t, rate.NewLimiter(rate.Inf, 1), objs...)
	// The failing pod is an app crash, which needs the comparison.
	var pod corev1.Pod
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "web-new-1"}, &pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.InitContainerStatuses = nil
	crashed(3, time.Second, "Error")(&pod)
	if err := f.c.Status().Update(context.Background(), &pod); err != nil {
		t.Fatal(err)
	}
	b := &Rollback{Rollout: f.r, Thresholds: DefaultThresholds}
	f.rollbackPod(t, b)
	if ev := f.events(); len(ev) != 1 || !strings.Contains(ev[0], "no uninstrumented pod of an earlier template is left") {
		t.Fatalf("without the deleted pod: events %q, want one saying there is nothing to compare with", ev)
	}

	b = &Rollback{Rollout: f.r, Thresholds: DefaultThresholds}
	old.UID, old.DeletionTimestamp = "old-uid", &metav1.Time{Time: start}
	b.noteGone(old)
	f.rollbackPod(t, b)
	if mark := f.deployment(t, "web").Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation]; !strings.HasPrefix(mark, "rolled back by autotel: crash-loop") {
		t.Fatalf("with the deleted ready pod remembered: mark %q, events %q", mark, f.events())
	}
}

// TestSlimPodWithStatusKeepsPlainPodsFindable: plain pods, cached as their
// identity by SlimPod, keep the labels and owner the detector selects the
// previous template's pods by, and their readiness.
func TestSlimPodWithStatusKeepsPlainPodsFindable(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p",
		Labels:          map[string]string{"app": "p", "pod-template-hash": "abc"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "p-abc"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	out, err := SlimPodWithStatus(pod)
	if err != nil {
		t.Fatal(err)
	}
	slim := out.(*corev1.Pod)
	if slim.Labels["pod-template-hash"] != "abc" || len(slim.OwnerReferences) != 1 || len(slim.Status.Conditions) != 1 {
		t.Errorf("the slim plain pod lost what the rollback detector reads: %+v", slim)
	}
	if slim.Annotations != nil || slim.Spec.Containers != nil {
		t.Errorf("the slim plain pod keeps more than the detector needs: %+v", slim)
	}
}
