//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/cli"
	"github.com/autotel/autotel/internal/collectorbuild"
	testwait "github.com/autotel/autotel/testkit/wait"
)

// collectorImage is the collector image hack/cluster-images.sh imports
// (internal/imagebuild's "collector"), the one the hand-made DaemonSet runs.
const collectorImage = "autotel.local/autotel/collector:dev"

// testCollectorResource runs the seed's collector the way a user of the
// operator would: examples/collector/otel-collector.yaml, one
// OpenTelemetryCollector, made into a DaemonSet and the node-local Service
// by the operator's collector controller (on in startOperator). It takes
// the place of the hand-made DaemonSet of CollectorDaemonSet, which it
// deletes first, and the seed's pods, still running from the steps before,
// send their log records to it on the same node address.
//
// It runs after the seed's story rather than in place of CollectorDaemonSet:
// the seed's collector has no log collection (presets.logsCollection was
// off), and LogsReachTheStoreOncePerPath needs the node agent's filelog
// pipeline, its RBAC and host paths, which the hand-made DaemonSet adds.
// What this step adds is the operator's path: CRD, webhooks, controller,
// upstream's object names, the seed's lines in the store with its labels.
//
// Three changes to the example, each forced by this cluster: the image is
// the locally built one (no registry), the pod uses the host network (no
// kube-proxy: the Service carries no traffic, apps send to the node's
// address, as the seed's Instrumentation here does), and the loki exporter
// pushes to the test's store instead of the seed's loki-gateway.
func testCollectorResource(t *testing.T, r *seedRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := r.c
	start := time.Now()

	// The hand-made DaemonSet holds the node's ports 4317, 4318, 8888, 13133.
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "autotel-collector", Namespace: collectorNS}}
	if err := c.client.Delete(ctx, ds, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil {
		t.Fatalf("deleting the hand-made collector DaemonSet: %v", err)
	}
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := c.client.List(ctx, &pods, client.InNamespace(collectorNS), client.MatchingLabels{"app": "autotel-collector"}); err != nil {
			return false, nil
		}
		if len(pods.Items) > 0 {
			return false, nil
		}
		conn, err := net.DialTimeout("tcp", "127.0.0.1:4318", time.Second)
		if err == nil {
			conn.Close()
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the hand-made collector's pod did not go and free 4318: %v", err)
	}

	raw, err := os.ReadFile(filepath.Join(c.root, "examples", "collector", "otel-collector.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var col v1beta1.OpenTelemetryCollector
	if err := yaml.UnmarshalStrict(raw, &col); err != nil {
		t.Fatalf("examples/collector/otel-collector.yaml: %v", err)
	}
	loki, ok := col.Spec.Config.Exporters.Object["loki"].(map[string]any)
	if !ok {
		t.Fatalf("the example has no loki exporter: %v", col.Spec.Config.Exporters.Object)
	}
	loki["endpoint"] = r.store.pushURL()
	col.Spec.Image, col.Spec.ImagePullPolicy, col.Spec.HostNetwork = collectorImage, corev1.PullNever, true
	c.createNamespace(t, ctx, col.Namespace)
	if err := c.client.Create(ctx, &col); err != nil {
		t.Fatalf("creating the seed's OpenTelemetryCollector: %v", err)
	}
	name := collectorbuild.Collector(col.Name)
	pod := c.waitPod(t, ctx, col.Namespace, client.MatchingLabels(collectorbuild.SelectorLabels(&col)), "Ready", func(p *corev1.Pod) bool {
		return running(p) && podReady(p)
	})
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.Kind != "DaemonSet" || ref.Name != name {
		t.Errorf("collector pod %s is controlled by %+v, want DaemonSet %s", pod.Name, ref, name)
	}
	var svc corev1.Service
	if err := c.client.Get(ctx, client.ObjectKey{Namespace: col.Namespace, Name: name}, &svc); err != nil {
		t.Fatalf("the seed's node-local Service %s: %v", name, err)
	}
	if p := svc.Spec.InternalTrafficPolicy; p == nil || *p != corev1.ServiceInternalTrafficPolicyLocal {
		t.Errorf("Service %s internalTrafficPolicy %v, want Local (the seed's node-local Service)", name, p)
	}
	if !testwait.HTTPOK("http://" + collectorMetrics + "/metrics") {
		t.Fatalf("the resource's collector serves no metrics on %s", collectorMetrics)
	}
	ready := time.Since(start)

	// The seed's own Deployment (Flask, logs over OTLP) answers /hello and
	// /error; its records must reach the store through the new collector.
	w := r.workloads[0]
	hello := expectation{body: "hello called", want: helloRequests}
	failed := expectation{body: "error called; raising", want: errorRequests}
	count := w.count
	query := `{pod="` + w.pod.Name + `"}`
	before := r.store.query(t, query)
	sentBefore := metric(t, collectorMetrics, "otelcol_exporter_sent_log_records", `exporter="loki"`)
	w.request(t, ctx)
	var rows []row
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		rows = r.store.query(t, query)
		return count(rows, hello)-count(before, hello) >= hello.want && count(rows, failed)-count(before, failed) >= failed.want, nil
	})
	if err != nil {
		dumpRows(t, rows)
		t.Fatalf("%d new %s and %d new %s for pod %s within a minute, want %d and %d", count(rows, hello)-count(before, hello), hello,
			count(rows, failed)-count(before, failed), failed, w.pod.Name, hello.want, failed.want)
	}
	// No duplicates arrive late (the agent batches for 1 s).
	time.Sleep(2 * time.Second)
	rows = r.store.query(t, query)
	for _, e := range []expectation{hello, failed} {
		if got := count(rows, e) - count(before, e); got != e.want {
			t.Errorf("%d new %s, want exactly %d", got, e, e.want)
		}
	}
	newRows := len(rows) - len(before)
	for _, row := range rows {
		for _, l := range []string{`pod="` + w.pod.Name + `"`, `namespace="` + seedNS + `"`, `container="sample"`} {
			if !strings.Contains(row.Fields["_stream"], l) {
				t.Errorf("stored entry %q: stream %s lacks the seed's label %s", row.body(), row.Fields["_stream"], l)
			}
		}
	}
	sent := metric(t, collectorMetrics, "otelcol_exporter_sent_log_records", `exporter="loki"`) - sentBefore
	if sent < float64(hello.want+failed.want) {
		t.Errorf("the resource's collector sent %v log records to the store, want at least %d: the lines came another way", sent, hello.want+failed.want)
	}

	// autotel check sees the same on a real cluster: the DaemonSet's pod
	// ready, admission accepting the spec, the operator's Ready condition.
	// The Service's endpoints depend on the node: the controller-manager
	// cannot put a loopback address (this node's, 127.0.0.1, which the
	// host-network pod takes) into an EndpointSlice, so here the Service
	// truly has no endpoint and check must say so, and only that; on a
	// node with a routable address it must print the ok line.
	want := fmt.Sprintf("ok    collector %s/%s: daemonset %s 1/1 ready, Service %s with 1 ready endpoint(s)", col.Namespace, col.Name, name, name)
	if ip := net.ParseIP(pod.Status.PodIP); ip != nil && ip.IsLoopback() {
		want = fmt.Sprintf("FAIL  collector %s/%s: Service %s has no ready endpoints: apps sending to it get connection errors", col.Namespace, col.Name, name)
	}
	var lines string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		var out bytes.Buffer
		cli.Check(ctx, &out, c.client, time.Now())
		var mine []string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, "collector "+col.Namespace+"/"+col.Name+":") {
				mine = append(mine, l)
			}
		}
		lines = strings.Join(mine, "\n")
		return len(mine) == 1 && strings.HasPrefix(mine[0], want), nil
	})
	if err != nil {
		t.Errorf("autotel check on the collector (pod IP %s): want one line starting %q, got:\n%s", pod.Status.PodIP, want, lines)
	} else {
		t.Logf("autotel check: %s", lines)
	}

	// Deleting the resource removes what the operator made.
	if err := c.client.Delete(ctx, &col); err != nil {
		t.Fatalf("deleting the OpenTelemetryCollector: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		err := c.client.Get(ctx, client.ObjectKey{Namespace: col.Namespace, Name: name}, &appsv1.DaemonSet{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("DaemonSet %s still there after its OpenTelemetryCollector was deleted: %v", name, err)
	}
	t.Logf("OpenTelemetryCollector %s/%s: collector Ready %s after the hand-made DaemonSet's deletion began; %d new entries of %s stored through it (%v records sent by its loki exporter); step took %s",
		col.Namespace, col.Name, ready.Round(100*time.Millisecond), newRows, w.pod.Name, sent, time.Since(start).Round(100*time.Millisecond))
}
