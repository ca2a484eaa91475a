// Package ha runs two operator replicas in one process against a real
// kube-apiserver, with leader election, and kills the leader in the middle
// of a rollout.
package ha

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/testenv"
)

const injectPython = "instrumentation.opentelemetry.io/inject-python"

type replica struct {
	name    string
	elected <-chan struct{}
	cancel  context.CancelFunc
	done    chan struct{} // closed when the manager has stopped
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestLeaderKilledMidRollout: two replicas, the leader dies while restarts
// are still deferred by the rate limit; the other takes over and finishes,
// and no workload is restarted twice (each Deployment's template changes
// exactly once: generation 2).
func TestLeaderKilledMidRollout(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := testenv.BinaryDir()
	if err != nil {
		t.Fatal(err)
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
	}
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = te.Stop() })
	log := zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel))

	start := func(name string, port int) *replica {
		o := operator.DefaultOptions()
		o.MetricsAddr, o.ProbeAddr = "0", "0"
		o.WebhookHost, o.WebhookPort = te.WebhookInstallOptions.LocalServingHost, port
		o.CertDir = te.WebhookInstallOptions.LocalServingCertDir
		o.Certs.Mode = "external"
		o.Certs.MutatingName = "mutating-webhook-configuration"
		o.InjectionConfig.Name = ""
		o.LeaderElection, o.LeaderElectionNS = true, "default"
		o.SkipControllerNameValidation = true
		o.RolloutPerMinute = 6 // burst 3, then one every 10s: a rollout of 6 spans the kill
		mgr, err := operator.NewManager(cfg, o, log.WithName(name))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{name: name, elected: mgr.Elected(), cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			if err := mgr.Start(ctx); err != nil {
				t.Errorf("replica %s: %v", name, err)
			}
		}()
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	a := start("a", te.WebhookInstallOptions.LocalServingPort) // serves the API server's webhook calls
	b := start("b", freePort(t))

	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var leader, follower *replica
	select {
	case <-a.elected:
		leader, follower = a, b
	case <-b.elected:
		leader, follower = b, a
	case <-ctx.Done():
		t.Fatal("no replica became leader")
	}
	t.Logf("leader: replica %s", leader.name)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ha", Annotations: map[string]string{"autotel.io/rollout": "true"}}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "testdata", "seed", "instrumentation-otlp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var inst v1alpha1.Instrumentation
	if err := yaml.Unmarshal(raw, &inst); err != nil {
		t.Fatal(err)
	}
	inst.Namespace = ns.Name
	if err := c.Create(ctx, &inst); err != nil {
		t.Fatal(err)
	}

	const n = 6
	for i := range n {
		name := fmt.Sprintf("app-%d", i)
		labels := map[string]string{"app": name}
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{injectPython: "true"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
		if err := c.Create(ctx, dep); err != nil {
			t.Fatal(err)
		}
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name + "-1", Namespace: ns.Name, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{Selector: dep.Spec.Selector, Template: tmpl}}
		if err := c.Create(ctx, rs); err != nil {
			t.Fatal(err)
		}
		for {
			// The webhook reads Instrumentations from its cache: retry
			// until the pod is injected (and recorded: rollout opt-in).
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: rs.Name + "-", Namespace: ns.Name, Labels: labels, Annotations: tmpl.Annotations,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
				Spec: tmpl.Spec}
			if err := c.Create(ctx, pod); err != nil {
				t.Fatal(err)
			}
			if len(pod.Spec.InitContainers) == 1 {
				break
			}
			_ = c.Delete(ctx, pod)
			if ctx.Err() != nil {
				t.Fatal("pods never injected")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	restarted := func() (done int) {
		for i := range n {
			var d appsv1.Deployment
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: fmt.Sprintf("app-%d", i)}, &d); err != nil {
				t.Fatal(err)
			}
			if d.Spec.Template.Annotations[controllers.RestartedAtAnnotation] != "" {
				done++
			}
			if d.Generation > 2 {
				t.Fatalf("Deployment %s restarted more than once (generation %d)", d.Name, d.Generation)
			}
		}
		return done
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(&inst), &inst); err != nil {
			return err
		}
		inst.Spec.Exporter.Endpoint = "http://collector-v2:4318"
		return c.Update(ctx, &inst)
	}); err != nil {
		t.Fatal(err)
	}
	for restarted() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the leader never started the rollout")
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := restarted()
	leader.cancel()
	<-leader.done
	t.Logf("killed replica %s after %d of %d restarts", leader.name, before, n)
	if before == n {
		t.Fatalf("the rollout finished before the leader was killed; the rate limit should have spread it")
	}

	select {
	case <-follower.elected:
	case <-ctx.Done():
		t.Fatal("the follower never took over")
	}
	for restarted() < n {
		if ctx.Err() != nil {
			t.Fatalf("the follower did not finish the rollout: %d of %d restarted", restarted(), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Let the follower reconcile again (its resync and pod events): still
	// no second restart.
	time.Sleep(5 * time.Second)
	restarted()
}
