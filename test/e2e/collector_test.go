//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/wait"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

const (
	collectorNS = "autotel-system"
	// Where the seed's configuration serves the collector's own metrics
	// (${env:MY_POD_IP}:8888, the chart's port).
	collectorMetrics = "127.0.0.1:8888"
)

// collectorConfig is the seed's collector configuration as the chart
// renders it, plus the node agent's container-log pipeline. The seed's
// logs pipeline (otlp -> resource -> loki) is checked to be untouched.
func collectorConfig(t *testing.T, root string) []byte {
	t.Helper()
	var seed, extra map[string]any
	readYAML(t, filepath.Join(root, "collector", "testdata", "seed-merged.yaml"), &seed)
	readYAML(t, filepath.Join(root, "test", "e2e", "testdata", "collector-node.yaml"), &extra)
	want := map[string]any{"receivers": []any{"otlp"}, "processors": []any{"resource"}, "exporters": []any{"loki"}}
	if got := dig(seed, "service", "pipelines", "logs"); !reflect.DeepEqual(got, want) {
		t.Fatalf("the seed's logs pipeline is %v, want %v", got, want)
	}
	cfg := merge(seed, extra).(map[string]any)
	if got := dig(cfg, "service", "pipelines", "logs"); !reflect.DeepEqual(got, want) {
		t.Fatalf("collector-node.yaml changed the seed's logs pipeline to %v", got)
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// merge overlays b on a key by key, like Helm merges values.
func merge(a, b any) any {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		return b
	}
	out := map[string]any{}
	for k, v := range am {
		out[k] = v
	}
	for k, v := range bm {
		if av, ok := out[k]; ok {
			out[k] = merge(av, v)
		} else {
			out[k] = v
		}
	}
	return out
}

// deployCollector runs autotel-collector as a DaemonSet on the node,
// exporting to the store, and waits until it is ready and receiving.
func deployCollector(t *testing.T, c *cluster, s *store) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The collector binds fixed node ports on the host network; a process
	// already holding one would leave it crash-looping.
	for _, port := range []int{4317, 4318, 8888, 13133} {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			conn.Close()
			t.Fatalf("port %d on 127.0.0.1 is already in use; the collector DaemonSet needs 4317, 4318, 8888 and 13133 (is another collector test running?)", port)
		}
	}
	c.createNamespace(t, ctx, collectorNS)
	api, err := url.Parse(c.config.Host)
	if err != nil || api.Port() == "" {
		t.Fatalf("API server address %q has no port", c.config.Host)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "autotel-collector", Namespace: collectorNS},
		Data:       map[string]string{"config.yaml": string(collectorConfig(t, c.root))},
	}
	objs := []client.Object{cm}
	raw, err := os.ReadFile(filepath.Join(c.root, "test", "e2e", "testdata", "collector.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("collector.yaml: %v", err)
		}
		var obj client.Object
		switch meta.Kind {
		case "ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "ClusterRole":
			obj = &rbacv1.ClusterRole{}
		case "ClusterRoleBinding":
			obj = &rbacv1.ClusterRoleBinding{}
		case "DaemonSet":
			obj = &appsv1.DaemonSet{}
		default:
			t.Fatalf("collector.yaml: unexpected kind %q", meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("collector.yaml %s: %v", meta.Kind, err)
		}
		if ds, ok := obj.(*appsv1.DaemonSet); ok {
			setEnv(t, &ds.Spec.Template.Spec.Containers[0], "LOKI_PUSH_ENDPOINT", s.pushURL())
			setEnv(t, &ds.Spec.Template.Spec.Containers[0], "KUBERNETES_SERVICE_PORT", api.Port())
			setTracesDir(t, ds, collectorTracesDir(c))
		}
		objs = append(objs, obj)
	}
	for _, o := range objs {
		if err := c.client.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	pod := c.waitPod(t, ctx, collectorNS, client.MatchingLabels{"app": "autotel-collector"}, "Ready", func(p *corev1.Pod) bool {
		return running(p) && podReady(p)
	})
	// Its own telemetry answers on the node address: the seed's config
	// really is what runs.
	if !wait.HTTPOK("http://" + collectorMetrics + "/metrics") {
		t.Fatalf("collector metrics not served on %s", collectorMetrics)
	}
	return pod
}

func setEnv(t *testing.T, c *corev1.Container, name, value string) {
	t.Helper()
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value = value
			return
		}
	}
	t.Fatalf("container %s has no env %s to set", c.Name, name)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// logTail prints the last n lines of a container's CRI log.
func logTail(t *testing.T, what, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("%s log %s: %v", what, path, err)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("%s log (last %d lines of %s):\n%s", what, len(lines), path, strings.Join(lines, "\n"))
}
