package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
)

// These are unit tests of the reconciler's decisions on controller-runtime's
// fake client; test/integration runs the same controller behind a real
// kube-apiserver.

const ns = "apps"

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func inst(rollout bool) *v1alpha1.Instrumentation {
	i := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "python"},
		Spec: v1alpha1.InstrumentationSpec{Exporter: v1alpha1.Exporter{Endpoint: "http://collector:4318"}}}
	if rollout {
		i.Annotations = map[string]string{instrumentation.RolloutAnnotation: "true"}
	}
	return i
}

// deployment returns a Deployment, its ReplicaSet and one pod whose status
// annotation says it was injected from hash.
func deployment(name, hash string) []client.Object {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(name + "-uid"),
		Annotations: map[string]string{"owner": "kept"}},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"template": "kept"}}}}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-1",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: dep.UID, Controller: ptr.To(true)}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-1-abcde",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	instrumentation.SetStatus(pod, instrumentation.Report{Outcome: instrumentation.OutcomeInjected, Languages: []instrumentation.LanguageReport{{
		Language: instrumentation.Python, Instrumentation: ns + "/python", Hash: hash,
		Containers: []instrumentation.ContainerReport{{Name: "app", Injected: true}},
	}}})
	return []client.Object{dep, rs, pod}
}

type fixture struct {
	r        *Rollout
	c        client.Client
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, limiter *rate.Limiter, objs ...client.Object) fixture {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(scheme(t)).
		WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.Instrumentation{}).
		WithIndex(&corev1.Pod{}, instrumentationIndex, podInstrumentations).
		Build()
	clk := clocktesting.NewFakeClock(start)
	rec := record.NewFakeRecorder(20)
	return fixture{
		r: &Rollout{Client: c, Reader: c, Recorder: rec, Log: logr.Discard(), Limiter: limiter, Resync: 5 * time.Minute, Clock: clk},
		c: c, clock: clk, recorder: rec,
	}
}

func (f fixture) reconcile(t *testing.T) reconcile.Result {
	t.Helper()
	res, err := f.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "python"}})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (f fixture) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func (f fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestRolloutRestartsOnceWithMergePatch: an outdated pod's Deployment is
// restarted with the clock's time, other annotations survive (a merge
// patch), the status counts the pods, and a second reconcile of the same
// change restarts nothing.
func TestRolloutRestartsOnceWithMergePatch(t *testing.T) {
	i := inst(true)
	objs := append([]client.Object{i}, deployment("web", "old-hash")...)
	f := newFixture(t, rate.NewLimiter(rate.Inf, 1), objs...)
	hash := instrumentation.SpecHash(i)

	if res := f.reconcile(t); res.RequeueAfter != 5*time.Minute {
		t.Errorf("requeue after %s, want the resync period", res.RequeueAfter)
	}
	d := f.deployment(t, "web")
	if got, want := d.Spec.Template.Annotations[RestartedAtAnnotation], start.Format(time.RFC3339); got != want {
		t.Errorf("restartedAt %q, want the clock's %q", got, want)
	}
	if d.Annotations[RolledOutAnnotation] != hash {
		t.Errorf("rolled-out marker %q, want %q", d.Annotations[RolledOutAnnotation], hash)
	}
	if d.Annotations["owner"] != "kept" || d.Spec.Template.Annotations["template"] != "kept" {
		t.Errorf("the patch dropped other annotations: %v / %v", d.Annotations, d.Spec.Template.Annotations)
	}
	var got v1alpha1.Instrumentation
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(i), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Pods != 1 || got.Status.OutdatedPods != 1 || got.Status.SpecHash != hash {
		t.Errorf("status %+v, want 1 pod, 1 outdated, hash %s", got.Status, hash)
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Normal InstrumentationRollout restarted to apply instrumentation: Instrumentation apps/python changed (spec hash "+hash+")" {
		t.Errorf("events %q", ev)
	}

	f.clock.Step(time.Hour)
	f.reconcile(t)
	if again := f.deployment(t, "web").Spec.Template.Annotations[RestartedAtAnnotation]; again != start.Format(time.RFC3339) {
		t.Errorf("restarted twice for one change (restartedAt now %s)", again)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Errorf("events on the second reconcile: %q", ev)
	}
}

// TestRolloutNotOptedIn: without the annotation on the Instrumentation or
// the namespace, outdated pods are counted but nothing restarts.
func TestRolloutNotOptedIn(t *testing.T) {
	objs := append([]client.Object{inst(false), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}, deployment("web", "old-hash")...)
	f := newFixture(t, rate.NewLimiter(rate.Inf, 1), objs...)
	f.reconcile(t)
	if d := f.deployment(t, "web"); d.Spec.Template.Annotations[RestartedAtAnnotation] != "" {
		t.Errorf("restarted a workload that did not opt in")
	}

	// Opting in the namespace is enough.
	var n corev1.Namespace
	if err := f.c.Get(context.Background(), types.NamespacedName{Name: ns}, &n); err != nil {
		t.Fatal(err)
	}
	n.Annotations = map[string]string{instrumentation.RolloutAnnotation: "true"}
	if err := f.c.Update(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	f.reconcile(t)
	if d := f.deployment(t, "web"); d.Spec.Template.Annotations[RestartedAtAnnotation] == "" {
		t.Errorf("namespace opted in, workload not restarted")
	}
}

// TestRolloutRateLimitDefers: with a budget of one restart per minute, the
// second outdated workload is deferred: the reconcile asks to come back
// when the limiter allows it, and then restarts it.
func TestRolloutRateLimitDefers(t *testing.T) {
	objs := []client.Object{inst(true)}
	objs = append(objs, deployment("a", "old-hash")...)
	objs = append(objs, deployment("b", "old-hash")...)
	f := newFixture(t, rate.NewLimiter(rate.Every(time.Minute), 1), objs...)

	res := f.reconcile(t)
	restarted := func() (n int) {
		for _, name := range []string{"a", "b"} {
			if f.deployment(t, name).Spec.Template.Annotations[RestartedAtAnnotation] != "" {
				n++
			}
		}
		return n
	}
	if n := restarted(); n != 1 {
		t.Fatalf("%d workloads restarted at once, want 1 (the limiter's burst)", n)
	}
	if res.RequeueAfter != time.Minute {
		t.Errorf("deferred restart requeued after %s, want the limiter's 1m", res.RequeueAfter)
	}

	// Too early: still deferred, for the time left.
	f.clock.Step(20 * time.Second)
	if res := f.reconcile(t); res.RequeueAfter != 40*time.Second || restarted() != 1 {
		t.Errorf("after 20s: requeue %s and %d restarted, want 40s and 1", res.RequeueAfter, restarted())
	}

	f.clock.Step(40 * time.Second)
	if res := f.reconcile(t); res.RequeueAfter != 5*time.Minute {
		t.Errorf("after the wait: requeue %s, want the resync period", res.RequeueAfter)
	}
	if n := restarted(); n != 2 {
		t.Errorf("%d workloads restarted after the wait, want 2", n)
	}
	stamps := map[string]bool{}
	for _, name := range []string{"a", "b"} {
		stamps[f.deployment(t, name).Spec.Template.Annotations[RestartedAtAnnotation]] = true
	}
	if !stamps[start.Format(time.RFC3339)] || !stamps[start.Add(time.Minute).Format(time.RFC3339)] {
		t.Errorf("restartedAt values %v, want the clock's time of each restart (%s and a minute later)", stamps, start.Format(time.RFC3339))
	}
}

// TestRolloutSkipsWhatNothingRecreates: a bare pod and a pod whose
// ReplicaSet has no Deployment have no workload to restart.
func TestRolloutSkipsWhatNothingRecreates(t *testing.T) {
	objs := append([]client.Object{inst(true)}, deployment("web", "old-hash")...)
	bare := objs[3].(*corev1.Pod).DeepCopy()
	bare.Name, bare.OwnerReferences, bare.ResourceVersion = "bare", nil, ""
	objs = append(objs, bare)
	f := newFixture(t, rate.NewLimiter(rate.Inf, 1), objs...)
	f.reconcile(t)
	var got v1alpha1.Instrumentation
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "python"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Pods != 2 || got.Status.OutdatedPods != 2 {
		t.Errorf("status %+v, want 2 pods, 2 outdated", got.Status)
	}
	if ev := f.events(); len(ev) != 1 {
		t.Errorf("events %q, want one restart (the Deployment's)", ev)
	}
}

// TestRolloutAndSidecarMarkersIndependent: a sidecar config restart during
// an Instrumentation rollout (the old pod still running) must not make the
// Instrumentation rollout restart the workload a second time for the same
// change, nor the other way round.
func TestRolloutAndSidecarMarkersIndependent(t *testing.T) {
	i := inst(true)
	objs := deployment("web", "old-hash")
	pod := objs[2].(*corev1.Pod)
	f := newFixture(t, rate.NewLimiter(rate.Inf, 1), append([]client.Object{i}, objs...)...)
	ctx := context.Background()
	restartedAt := func() string { return f.deployment(t, "web").Spec.Template.Annotations[RestartedAtAnnotation] }

	f.reconcile(t) // the Instrumentation change: restart 1
	f.clock.Step(time.Minute)
	if _, err := f.r.restartOwnerMarked(ctx, pod, SidecarRolledOutAnnotation, "sidecar:apps/agent@1", "sidecar config changed"); err != nil {
		t.Fatal(err)
	}
	second := restartedAt()
	if second != start.Add(time.Minute).Format(time.RFC3339) {
		t.Fatalf("the sidecar change did not restart the Deployment (restartedAt %s)", second)
	}
	f.clock.Step(time.Minute)
	f.reconcile(t) // the old pod is still stale for the Instrumentation
	if _, err := f.r.restartOwnerMarked(ctx, pod, SidecarRolledOutAnnotation, "sidecar:apps/agent@1", "sidecar config changed"); err != nil {
		t.Fatal(err)
	}
	if got := restartedAt(); got != second {
		t.Errorf("restarted again (at %s) for changes it was already restarted for", got)
	}
	d := f.deployment(t, "web")
	if d.Annotations[RolledOutAnnotation] != instrumentation.SpecHash(i) || d.Annotations[SidecarRolledOutAnnotation] != "sidecar:apps/agent@1" {
		t.Errorf("markers %v, want one per source", d.Annotations)
	}
}
