//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/cli"
	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/instrumentation"
)

// Rollback thresholds for this tier (startOperator): the kubelet's crash
// back-off is 10 s, 20 s, 40 s, so two restarts come within ~40 s.
var e2eRollbackThresholds = controllers.Thresholds{MinRestarts: 2, StartupWindow: 20 * time.Second, ImagePullGrace: 15 * time.Second, OOMKills: 2}

// rollbackCase is one workload of the rollback step: it runs ready without
// instrumentation, then its template asks for Python injection from an
// Instrumentation (opted in with autotel.io/rollback) whose image is image.
type rollbackCase struct {
	name    string
	image   string   // the Instrumentation's Python image
	command []string // the app's command
	// want: the Deployment is rolled back (else: an Event saying why not).
	want    bool
	reason  string // the Event reason expected on the Deployment
	text    string // a part of that Event's message
	failure string // the failure kind (the metric's label) of a rollback
}

// testRollback (issue 16): a broken agent and a missing agent image are
// rolled back once; an app that crashes on its own and one that flaps are
// not, with an Event saying why.
func testRollback(t *testing.T, c *cluster) {
	cases := []rollbackCase{
		{name: "agent-exits", image: "autotel.local/autoinstrumentation-python:exits",
			command: []string{"python3", "-c", "import time; time.sleep(100000)"},
			want:    true, reason: "InstrumentationRolledBack", text: "instrumented pods fail (crash-loop", failure: "crash-loop"},
		{name: "missing-image", image: "autotel.local/autoinstrumentation-python:nobody-built-this",
			command: []string{"python3", "-c", "import time; time.sleep(100000)"},
			want:    true, reason: "InstrumentationRolledBack", text: "autotel's init container opentelemetry-auto-instrumentation-python fails", failure: "init-image-pull"},
		{name: "app-crashes", image: agentImage,
			command: []string{"python3", "-c", "import sys; sys.exit(4)"},
			reason:  "InstrumentationNotRolledBack", text: "the app's own failure"},
		{name: "flapping", image: agentImage,
			command: []string{"python3", "-c", "import sys, time; time.sleep(25); sys.exit(5)"},
			reason:  "InstrumentationNotRolledBack", text: "only after running longer than"},
	}
	for _, rc := range cases {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			runRollbackCase(t, c, rc)
		})
	}
}

func runRollbackCase(t *testing.T, c *cluster, rc rollbackCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	ns := "e2e-rollback-" + rc.name
	c.createNamespace(t, ctx, ns)
	inst := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Name: "python", Namespace: ns,
		Annotations: map[string]string{controllers.RollbackAnnotation: "true"}}}
	inst.Spec.Python.Image = rc.image
	if err := c.client.Create(ctx, inst); err != nil {
		t.Fatalf("creating Instrumentation: %v", err)
	}
	// hostNetwork (sampleDeployment): the cluster's CNI gives other pods no sandbox network.
	dep := sampleDeployment(ns, "app", flaskImage, nil)
	dep.Spec.Template.Spec.Containers[0].Command = rc.command
	if err := c.client.Create(ctx, dep); err != nil {
		t.Fatalf("creating Deployment: %v", err)
	}
	sel := client.MatchingLabels{"app": "app"}
	// The uninstrumented pods first: the template the detector compares with.
	c.waitPod(t, ctx, ns, sel, "started", func(p *corev1.Pod) bool {
		if p.Status.Phase != corev1.PodRunning || len(p.Spec.InitContainers) != 0 {
			return false
		}
		// An app that crashes on its own has done so for a while before
		// injection is asked for.
		return !strings.HasPrefix(rc.name, "app-") || len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount >= int32(e2eRollbackThresholds.MinRestarts)
	})
	patch := client.MergeFrom(dep.DeepCopy())
	dep.Spec.Template.Annotations = map[string]string{instrumentation.Python.InjectAnnotation(): "true"}
	if err := c.client.Patch(ctx, dep, patch); err != nil {
		t.Fatalf("asking for injection: %v", err)
	}
	c.waitPod(t, ctx, ns, sel, "injected", func(p *corev1.Pod) bool { return len(p.Spec.InitContainers) > 0 })

	ev := waitEvent(t, c, ctx, ns, "Deployment", "app", rc.reason, rc.text)
	t.Logf("%s: kubectl get events shows: %s %s %s", rc.name, ev.Type, ev.Reason, ev.Message)
	var got appsv1.Deployment
	if err := c.client.Get(ctx, client.ObjectKeyFromObject(dep), &got); err != nil {
		t.Fatal(err)
	}
	mark, marked := got.Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation]
	if marked != rc.want {
		t.Fatalf("template annotation %s present=%t (%q), want %t", instrumentation.InjectionDisabledAnnotation, marked, mark, rc.want)
	}
	if !rc.want {
		// Neither now nor later: watch a while for a rollback that must not come.
		time.Sleep(30 * time.Second)
		if err := c.client.Get(ctx, client.ObjectKeyFromObject(dep), &got); err != nil {
			t.Fatal(err)
		}
		if v, ok := got.Annotations[controllers.RolledBackAnnotation]; ok {
			t.Fatalf("%s was rolled back (%s) although the failure is the app's", rc.name, v)
		}
		if n := countEvents(t, c, ctx, ns, rc.reason); n != 1 {
			t.Fatalf("%d %s Events, want exactly 1 (no repeats per restart)", n, rc.reason)
		}
		if v := counterValue(t, "autotel_instrumentation_failures_total", "decision", "app"); v < 1 {
			t.Fatalf("autotel_instrumentation_failures_total{decision=\"app\"} = %v, want >= 1", v)
		}
		return
	}
	pod := c.waitPod(t, ctx, ns, sel, "running uninstrumented after the rollback", func(p *corev1.Pod) bool {
		return running(p) && len(p.Spec.InitContainers) == 0 && p.Annotations[instrumentation.InjectionDisabledAnnotation] != ""
	})
	waitEvent(t, c, ctx, ns, "Instrumentation", "python", "InstrumentationRolledBack", "Deployment "+ns+"/app rolled back")
	var out bytes.Buffer
	if err := cli.Explain(ctx, &out, c.client, ns, pod.Name); err != nil {
		t.Fatalf("autotel explain: %v", err)
	}
	t.Logf("%s: autotel explain pod/%s:\n%s", rc.name, pod.Name, out.String())
	if !strings.Contains(out.String(), "rolled back by autotel") {
		t.Fatalf("autotel explain does not give the rollback's reason:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "rolled back by autotel: "+rc.failure) {
		t.Fatalf("autotel explain does not name the failure %s:\n%s", rc.failure, out.String())
	}
	if v := rollbackMetric(t, rc.failure); v < 1 {
		t.Fatalf("autotel_instrumentation_rollbacks_total{failure=%q} = %v, want >= 1", rc.failure, v)
	}
	if rc.name != "agent-exits" {
		return
	}
	// Never a loop: the user removes the mark, the same Instrumentation
	// fails the same way, and autotel does not roll back a second time.
	if err := c.client.Get(ctx, client.ObjectKeyFromObject(dep), &got); err != nil {
		t.Fatal(err)
	}
	patch = client.MergeFrom(got.DeepCopy())
	delete(got.Spec.Template.Annotations, instrumentation.InjectionDisabledAnnotation)
	if err := c.client.Patch(ctx, &got, patch); err != nil {
		t.Fatalf("removing the mark: %v", err)
	}
	ev = waitEvent(t, c, ctx, ns, "Deployment", "app", "InstrumentationNotRolledBack", "never rolled back twice")
	t.Logf("%s, mark removed by hand: %s %s", rc.name, ev.Reason, ev.Message)
	if err := c.client.Get(ctx, client.ObjectKeyFromObject(dep), &got); err != nil {
		t.Fatal(err)
	}
	if _, marked := got.Spec.Template.Annotations[instrumentation.InjectionDisabledAnnotation]; marked {
		t.Fatal("rolled back a second time for the same spec hash")
	}
}

// waitEvent waits for an Event on the named object whose reason matches and
// whose message contains text.
func waitEvent(t *testing.T, c *cluster, ctx context.Context, ns, kind, name, reason, text string) corev1.Event {
	t.Helper()
	var found corev1.Event
	err := wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		var evs corev1.EventList
		if err := c.client.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return false, nil
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name && e.Reason == reason && strings.Contains(e.Message, text) {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		c.dump(t, ns)
		t.Fatalf("no %s Event on %s %s/%s containing %q: %v", reason, kind, ns, name, text, err)
	}
	return found
}

func countEvents(t *testing.T, c *cluster, ctx context.Context, ns, reason string) int {
	t.Helper()
	var evs corev1.EventList
	if err := c.client.List(ctx, &evs, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing events: %v", err)
	}
	n := 0
	for _, e := range evs.Items {
		if e.Reason == reason {
			n += int(max(e.Count, 1))
		}
	}
	return n
}

// rollbackMetric reads the operator's rollback counter.
func rollbackMetric(t *testing.T, failure string) float64 {
	t.Helper()
	return counterValue(t, "autotel_instrumentation_rollbacks_total", "failure", failure)
}

// counterValue reads one of the operator's counters (it runs in this
// process) and logs it as a scrape would show it.
func counterValue(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					t.Logf("metric: %s{%s=%q} %v", name, label, value, m.GetCounter().GetValue())
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
