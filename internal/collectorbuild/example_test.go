package collectorbuild

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1beta1"
)

// exampleManifest is the seed's collector as one OpenTelemetryCollector.
var exampleManifest = filepath.Join("..", "..", "examples", "collector", "otel-collector.yaml")

// TestSeedExampleIsTheSeedsCollector: examples/collector's config is the
// chart's rendering of the seed's values (collector/testdata/seed-merged.yaml,
// which the collector's own tests run), with the seed's Loki endpoint in
// place of the tests' variable; and it builds the seed's objects: a
// DaemonSet, and the node-local Service otel-collector on 4317 and 4318.
func TestSeedExampleIsTheSeedsCollector(t *testing.T) {
	b, err := os.ReadFile(exampleManifest)
	if err != nil {
		t.Fatal(err)
	}
	var c v1beta1.OpenTelemetryCollector
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatalf("%s: %v", exampleManifest, err)
	}
	var seed map[string]any
	raw, err := os.ReadFile(filepath.Join("..", "..", "collector", "testdata", "seed-merged.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &seed); err != nil {
		t.Fatal(err)
	}
	seed["exporters"].(map[string]any)["loki"].(map[string]any)["endpoint"] = "http://loki-gateway/loki/api/v1/push"
	js, err := json.Marshal(&c.Spec.Config)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, jsonRoundTrip(t, seed)) {
		t.Errorf("spec.config differs from the seed's rendered config:\n got %v\nwant %v", got, seed)
	}

	if c.Spec.Mode != v1beta1.ModeDaemonSet || c.Name != "otel" || c.Namespace != "opentelemetry" {
		t.Fatalf("example is %s %s/%s, want the seed's daemonset in opentelemetry", c.Spec.Mode, c.Namespace, c.Name)
	}
	if find[appsv1.DaemonSet](t, &c, "otel-collector") == nil {
		t.Error("no DaemonSet otel-collector")
	}
	svc := find[corev1.Service](t, &c, "otel-collector")
	if svc == nil {
		t.Fatal("no Service otel-collector, the seed's node-local Service's name")
	}
	if svc.Spec.InternalTrafficPolicy == nil || *svc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal {
		t.Errorf("Service otel-collector internalTrafficPolicy %v, want Local as the seed's", svc.Spec.InternalTrafficPolicy)
	}
	ports := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		ports[p.Port] = p.TargetPort.IntValue() == int(p.Port)
	}
	if !ports[4317] || !ports[4318] {
		t.Errorf("Service ports %+v, want 4317 and 4318 onto the same container ports", svc.Spec.Ports)
	}
}

func jsonRoundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
