package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/testkit/wait"
)

// restartedPod creates the pod a Deployment's ReplicaSet would create from
// its (restarted) template: there is no controller-manager in this tier.
func restartedPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	dep := deployment(t, ns, name)
	tmpl := dep.Spec.Template
	return createPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-2-", Namespace: ns,
		Labels: tmpl.Labels, Annotations: tmpl.Annotations,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true)}}},
		Spec: tmpl.Spec})
}

// setNamespaceAnnotations replaces an existing namespace's annotations.
func setNamespaceAnnotations(t *testing.T, name string, annotations map[string]string) {
	t.Helper()
	var ns corev1.Namespace
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Name: name}, &ns); err != nil {
		t.Fatal(err)
	}
	ns.Annotations = annotations
	if err := k8sClient().Update(ctx(t), &ns); err != nil {
		t.Fatalf("annotating namespace %s: %v", name, err)
	}
}

// waitWindowRestart waits until the operator restarted the Deployment for
// the namespace-annotation window, with one Event.
func waitWindowRestart(t *testing.T, ns, name string) {
	t.Helper()
	// The operator's restart rate limit (3 at once, then one every 10s)
	// is shared with the other tests' rollouts: allow for a queue.
	wait.For(t, 60*time.Second, "the window restart of Deployment "+ns+"/"+name, func() (bool, string) {
		d := deployment(t, ns, name)
		return d.Spec.Template.Annotations[controllers.RestartedAtAnnotation] != "" &&
			strings.HasPrefix(d.Annotations[controllers.RolledOutAnnotation], "window:"), fmt.Sprint(d.Annotations)
	})
	waitFor(t, func() bool { return countEvents(t, ns, name, "InstrumentationRollout") == 1 })
}

// missedSweeper is a missed-pod sweep on a fake clock (a restart is stamped
// with it) and without a rate limit, run by hand rather than on a ticker.
func missedSweeper(t *testing.T) (*controllers.MissedPods, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r := &controllers.Rollout{Client: env.CachedClient, Reader: k8sClient(), Recorder: record.NewFakeRecorder(10),
		Log: zap.New(zap.WriteTo(testWriter{t})), Limiter: rate.NewLimiter(rate.Inf, 1), Clock: clk}
	return &controllers.MissedPods{Rollout: r, Reader: k8sClient()}, clk
}

// TestMissedSidecarOnlyPodRestarted: a pod that asks only for the collector
// sidecar, created while the webhook was unreachable in a namespace opted
// into rollout, is recovered like a missed language pod: its Deployment is
// restarted once and the new pod has the sidecar. A sidecar-only pod the
// webhook saw, even one whose sidecar failed, carries the recorded decision
// and is not taken for a missed one.
func TestMissedSidecarOnlyPodRestarted(t *testing.T) {
	ns := newNamespace(t, map[string]string{instrumentation.RolloutAnnotation: "true"})
	// withoutPodWebhookT tells the webhook's state by injecting python.
	createInstrumentation(t, ns, seedInstrumentation(t, "instrumentation-otlp.yaml"))
	createSidecarCollector(t, ns, "sidecar")

	failed := samplePod(ns, map[string]string{sidecarInject: "no-such-collector"})
	failed = createPod(t, failed)
	st, ok, err := instrumentation.ReadStatus(failed)
	if !ok || err != nil || st.Sidecar == nil || !st.Sidecar.Error {
		t.Fatalf("a sidecar-only pod the webhook saw in an opted-in namespace must record the failed decision: %v %v %+v", ok, err, failed.Annotations)
	}
	if instrumentation.UnseenByWebhook(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, failed) {
		t.Errorf("a recorded sidecar-only pod is taken for a missed one")
	}

	restore := withoutPodWebhookT(t, ns)
	_, missed := workload(t, ns, "sidecar-missed", map[string]string{sidecarInject: "true"})
	restore()
	if len(missed.Spec.InitContainers) != 0 || missed.Annotations[instrumentation.StatusAnnotation] != "" {
		t.Fatal("setup: the pod should have been created without the webhook")
	}

	sweeper, clk := missedSweeper(t)
	sweeper.Sweep(ctx(t))
	dep := deployment(t, ns, "sidecar-missed")
	first := dep.Spec.Template.Annotations[controllers.RestartedAtAnnotation]
	if first == "" || !strings.HasPrefix(dep.Annotations[controllers.RolledOutAnnotation], "missed:") ||
		!strings.Contains(dep.Annotations[controllers.RolledOutAnnotation], "sidecar:") {
		t.Fatalf("the sidecar-only missed pod's Deployment was not restarted for its sidecar: %v / %v", dep.Annotations, dep.Spec.Template.Annotations)
	}

	fresh := restartedPod(t, ns, "sidecar-missed")
	sidecarOf(t, fresh)
	if st, ok, err := instrumentation.ReadStatus(fresh); !ok || err != nil || st.Sidecar == nil || !st.Sidecar.Injected {
		t.Errorf("the new pod does not record its sidecar: %v %v %+v", ok, err, fresh.Annotations)
	}

	// The old pod is still there (nothing deletes it in this tier): the
	// same miss never restarts the workload again.
	clk.Step(time.Minute)
	sweeper.Sweep(ctx(t))
	if got := deployment(t, ns, "sidecar-missed").Spec.Template.Annotations[controllers.RestartedAtAnnotation]; got != first {
		t.Errorf("restarted twice for the same miss")
	}
}

// TestMatchConditionsSidecarNamespaceWindow: annotating an existing
// namespace with only the sidecar annotation. A workload's pod created
// before the condition includes the namespace gets no sidecar; the
// operator restarts its Deployment once, and the new pod has the sidecar.
func TestMatchConditionsSidecarNamespaceWindow(t *testing.T) {
	nsName := newNamespace(t, nil)
	createSidecarCollector(t, nsName, "sidecar")
	waitExcluded(t, nsName, true)
	// The Deployment and its ReplicaSet exist before the annotation, so
	// the ReplicaSet's next pod is created right after it, well inside
	// the window (creating the whole workload there is slower than the
	// operator). Its first pod may fall in the same second as the
	// annotation: either way the same Deployment is restarted.
	workload(t, nsName, "window", nil)
	var rs appsv1.ReplicaSet
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Namespace: nsName, Name: "window-1"}, &rs); err != nil {
		t.Fatal(err)
	}

	setNamespaceAnnotations(t, nsName, map[string]string{sidecarInject: "true"})
	windowPod := createPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "window-1-", Namespace: nsName,
		Labels: rs.Spec.Template.Labels, OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet",
			Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}}, Spec: rs.Spec.Template.Spec})

	waitExcluded(t, nsName, false)
	after := samplePod(nsName, nil)
	after.Name = "after"
	sidecarOf(t, createPod(t, after))

	if len(windowPod.Spec.InitContainers) != 0 {
		t.Log("the condition was updated before the workload's pod was created")
		time.Sleep(4 * time.Second)
		if d := deployment(t, nsName, "window"); d.Spec.Template.Annotations[controllers.RestartedAtAnnotation] != "" {
			t.Errorf("a pod that got its sidecar had its workload restarted")
		}
		return
	}
	t.Log("the workload's pod was created in the window")
	waitWindowRestart(t, nsName, "window")
	sidecarOf(t, restartedPod(t, nsName, "window"))
	// Once: the restart key names the annotation's time.
	restarted := deployment(t, nsName, "window").Spec.Template.Annotations[controllers.RestartedAtAnnotation]
	time.Sleep(4 * time.Second)
	if got := deployment(t, nsName, "window").Spec.Template.Annotations[controllers.RestartedAtAnnotation]; got != restarted {
		t.Errorf("the window restart happened twice")
	}
}
