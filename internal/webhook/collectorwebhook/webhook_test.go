package collectorwebhook

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/api/v1beta1"
)

func collector(t *testing.T, image, cfg string) *v1beta1.OpenTelemetryCollector {
	t.Helper()
	c, err := v1alpha1.ConfigFromString(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &v1beta1.OpenTelemetryCollector{Spec: v1beta1.OpenTelemetryCollectorSpec{
		Config: c, OpenTelemetryCommonFields: v1beta1.OpenTelemetryCommonFields{Image: image},
	}}
}

const withKafka = `
receivers:
  otlp: {protocols: {grpc: {}}}
  kafka/in: {}
processors:
  batch: {}
  tail_sampling: {}
exporters:
  loki: {endpoint: http://loki:3100/loki/api/v1/push}
service:
  pipelines:
    logs: {receivers: [otlp, kafka/in], processors: [batch, tail_sampling], exporters: [loki]}
`

func TestMissingComponentsNamed(t *testing.T) {
	w := &Webhook{}
	_, err := w.ValidateCreate(context.Background(), collector(t, "", withKafka))
	if err == nil {
		t.Fatal("kafka and tail_sampling accepted for autotel-collector")
	}
	for _, want := range []string{`spec.config.receivers[kafka/in]`, `receiver "kafka"`, `processor "tail_sampling"`, "spec.image"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), `"otlp"`) || strings.Contains(err.Error(), `"batch" is not`) {
		t.Errorf("error names a component autotel-collector has: %v", err)
	}
}

func TestCustomImageMayHaveAnything(t *testing.T) {
	w := &Webhook{}
	if _, err := w.ValidateCreate(context.Background(), collector(t, "otel/opentelemetry-collector-contrib:0.120.0", withKafka)); err != nil {
		t.Errorf("custom image rejected: %v", err)
	}
	// The operator's own default, spelled out, is still autotel-collector.
	w = &Webhook{}
	w.Build.Image = "registry.example/autotel/collector:1.2.3"
	if _, err := w.ValidateCreate(context.Background(), collector(t, "registry.example/autotel/collector:1.2.3", withKafka)); err == nil {
		t.Error("the operator's default image named explicitly skipped the component check")
	}
}

func TestAutoscalerBounds(t *testing.T) {
	c := collector(t, "", "receivers: {otlp: {}}\nexporters: {debug: {}}\nservice: {pipelines: {}}\n")
	c.Spec.Autoscaler = &v1beta1.AutoscalerSpec{MinReplicas: ptr.To[int32](5), MaxReplicas: ptr.To[int32](2)}
	if _, err := (&Webhook{}).ValidateCreate(context.Background(), c); err == nil || !strings.Contains(err.Error(), "spec.autoscaler.minReplicas") {
		t.Errorf("minReplicas > maxReplicas: %v", err)
	}
}

// TestComponentTableMatchesCollector reads autotel-collector's components
// file so the table cannot drift from what the image contains.
func TestComponentTableMatchesCollector(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "collector", "cmd", "autotel-collector", "components.go"))
	if err != nil {
		t.Fatal(err)
	}
	// Factory packages → component type, as each factory registers it.
	types := map[string]string{
		"otlpreceiver": "otlp", "filelogreceiver": "filelog",
		"batchprocessor": "batch", "memorylimiterprocessor": "memory_limiter", "resourceprocessor": "resource",
		"attributesprocessor": "attributes", "transformprocessor": "transform", "filterprocessor": "filter",
		"k8sattributesprocessor": "k8sattributes",
		"debugexporter":          "debug", "otlpexporter": "otlp", "otlphttpexporter": "otlphttp", "fileexporter": "file",
		"lokiexporter": "loki", "filestorage": "file_storage", "healthcheckextension": "health_check",
	}
	section := map[string]string{"receiver": "receivers", "processor": "processors", "exporter": "exporters", "extension": "extensions", "connector": "connectors"}
	got := map[string][]string{}
	re := regexp.MustCompile(`(?m)^\s*(\w+)\.NewFactory\(\),`)
	blocks := regexp.MustCompile(`(?s)MakeFactoryMap\[(\w+)\.Factory\]\((.*?)\); err`).FindAllStringSubmatch(string(src), -1)
	if len(blocks) != 5 {
		t.Fatalf("found %d factory maps in components.go, want 5", len(blocks))
	}
	for _, b := range blocks {
		sec := section[b[1]]
		got[sec] = []string{}
		for _, m := range re.FindAllStringSubmatch(b[2], -1) {
			typ, ok := types[m[1]]
			if !ok {
				t.Errorf("components.go has %s.NewFactory(): add its component type to autotelComponents and this test", m[1])
				continue
			}
			got[sec] = append(got[sec], typ)
		}
		sort.Strings(got[sec])
	}
	for sec, want := range autotelComponents {
		w := slices.Clone(want)
		sort.Strings(w)
		if !slices.Equal(got[sec], w) {
			t.Errorf("%s: autotel-collector has %v, table says %v", sec, got[sec], w)
		}
	}
}

// TestNotRunFeaturesWarn: upstream features autotel stores but does not run
// are accepted with a warning naming the field; a plain collector gets none.
func TestNotRunFeaturesWarn(t *testing.T) {
	w := &Webhook{}
	plain := collector(t, "", otlpOnly)
	if warns, err := w.ValidateCreate(context.Background(), plain); err != nil || len(warns) != 0 {
		t.Fatalf("plain collector: warnings %v, err %v", warns, err)
	}
	c := collector(t, "", otlpOnly)
	c.Name = "gw"
	c.Spec.TargetAllocator = &runtime.RawExtension{Raw: []byte(`{"enabled":true}`)}
	c.Spec.Ingress = &runtime.RawExtension{Raw: []byte(`{"type":"ingress","hostname":"otel.example.com"}`)}
	c.Spec.HttpRoute = &runtime.RawExtension{Raw: []byte(`{"enabled":true}`)}
	c.Spec.NetworkPolicy = &runtime.RawExtension{Raw: []byte(`{"enabled":true}`)}
	c.Spec.Observability.Metrics.EnableMetrics = true
	warns, err := w.ValidateCreate(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(warns, "\n")
	for _, want := range []string{"spec.targetAllocator.enabled: autotel runs no target allocator", "spec.ingress: autotel makes no Ingress or Route; create one for Service gw-collector",
		"spec.httpRoute:", "spec.networkPolicy:", "spec.observability.metrics.enableMetrics: autotel makes no ServiceMonitor or PodMonitor; scrape Service gw-collector-monitoring"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	c.Spec.TargetAllocator = &runtime.RawExtension{Raw: []byte(`{"enabled":false}`)}
	c.Spec.Ingress, c.Spec.HttpRoute, c.Spec.NetworkPolicy = nil, nil, nil
	c.Spec.Observability.Metrics.EnableMetrics = false
	if warns, _ := w.ValidateCreate(context.Background(), c); len(warns) != 0 {
		t.Errorf("disabled features still warn: %v", warns)
	}
}

const otlpOnly = `
receivers:
  otlp: {protocols: {grpc: {}}}
exporters:
  debug: {}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
`
