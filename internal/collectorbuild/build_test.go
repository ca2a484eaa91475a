package collectorbuild

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1beta1"
)

var update = flag.Bool("update", false, "rewrite the golden files from the builder's output")

func loadCase(t *testing.T, name string) *v1beta1.OpenTelemetryCollector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cases", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c v1beta1.OpenTelemetryCollector
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatalf("case %s: %v", name, err)
	}
	return &c
}

// render writes the built objects as one YAML stream, each headed by its kind.
func render(t *testing.T, c *v1beta1.OpenTelemetryCollector) []byte {
	t.Helper()
	objs, err := Build(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("---\n# " + KindOf(o) + "\n")
		buf.Write(b)
	}
	return buf.Bytes()
}

// TestGolden compares the objects built for each case with testdata/golden
// (go test -run TestGolden -update rewrites them; review the diff).
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/cases/*.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, p := range cases {
		name := strings.TrimSuffix(filepath.Base(p), ".yaml")
		t.Run(name, func(t *testing.T) {
			got := render(t, loadCase(t, name))
			golden := filepath.Join("testdata", "golden", name+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("objects for %s differ from %s; got:\n%s", name, golden, got)
			}
		})
	}
}

func find[T any](t *testing.T, c *v1beta1.OpenTelemetryCollector, name string) *T {
	t.Helper()
	objs, err := Build(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if v, ok := any(o).(*T); ok && o.GetName() == name {
			return v
		}
	}
	return nil
}

// The facts the goldens encode, asserted one by one so a golden update
// cannot quietly change them.
func TestUpstreamNamesAndLabels(t *testing.T) {
	c := loadCase(t, "deployment")
	hash, err := ConfigHash(c.Spec.Config)
	if err != nil {
		t.Fatal(err)
	}
	if len(hash) != 64 {
		t.Fatalf("hash %q is not hex sha256", hash)
	}
	if cm := find[corev1.ConfigMap](t, c, "simplest-collector-"+hash[:8]); cm == nil {
		t.Fatalf("no ConfigMap simplest-collector-%s", hash[:8])
	} else if !strings.Contains(cm.Data["collector.yaml"], "memory_limiter") {
		t.Errorf("collector.yaml lacks the config: %q", cm.Data["collector.yaml"])
	}
	d := find[appsv1.Deployment](t, c, "simplest-collector")
	if d == nil {
		t.Fatal("no Deployment simplest-collector")
	}
	want := map[string]string{
		"app.kubernetes.io/managed-by": "opentelemetry-operator",
		"app.kubernetes.io/instance":   "observability.simplest",
		"app.kubernetes.io/part-of":    "opentelemetry",
		"app.kubernetes.io/component":  "opentelemetry-collector",
		"app.kubernetes.io/name":       "simplest-collector",
		"app.kubernetes.io/version":    "0.1.0",
		"team":                         "platform",
	}
	for k, v := range want {
		if d.Labels[k] != v || d.Spec.Template.Labels[k] != v {
			t.Errorf("label %s = %q (template %q), want %q", k, d.Labels[k], d.Spec.Template.Labels[k], v)
		}
	}
	if len(d.Spec.Selector.MatchLabels) != 4 || d.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "" {
		t.Errorf("selector %v: want upstream's four selector labels", d.Spec.Selector.MatchLabels)
	}
	ct := d.Spec.Template.Spec.Containers[0]
	if ct.Name != "otc-container" || ct.Image != DefaultImage || len(ct.Args) != 1 || ct.Args[0] != "--config=/conf/collector.yaml" {
		t.Errorf("container %s image %s args %v", ct.Name, ct.Image, ct.Args)
	}
	if d.Spec.Template.Annotations[AnnotationConfigHash] != hash {
		t.Errorf("pod template hash annotation %q, want %q", d.Spec.Template.Annotations[AnnotationConfigHash], hash)
	}
	svc := find[corev1.Service](t, c, "simplest-collector")
	if svc == nil {
		t.Fatal("no base Service")
	}
	got := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		got[p.Name] = p.Port
	}
	if got["otlp-grpc"] != 4317 || got["otlp-http"] != 4318 || len(got) != 2 {
		t.Errorf("base Service ports %v, want otlp-grpc 4317 and otlp-http 4318", got)
	}
	if *svc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster {
		t.Errorf("deployment Service internalTrafficPolicy %s", *svc.Spec.InternalTrafficPolicy)
	}
	if h := find[corev1.Service](t, c, "simplest-collector-headless"); h == nil || h.Spec.ClusterIP != "None" {
		t.Errorf("headless Service missing or not headless: %+v", h)
	}
	if m := find[corev1.Service](t, c, "simplest-collector-monitoring"); m == nil || m.Spec.Ports[0].Port != 8888 || m.Spec.Ports[0].Name != "monitoring" {
		t.Errorf("monitoring Service missing or not on 8888: %+v", m)
	}
	if find[corev1.ServiceAccount](t, c, "simplest-collector") == nil {
		t.Error("no ServiceAccount simplest-collector")
	}
}

func TestDaemonSetServiceIsNodeLocalAndUserPortsWin(t *testing.T) {
	c := loadCase(t, "daemonset")
	svc := find[corev1.Service](t, c, "agent-collector")
	if svc == nil {
		t.Fatal("no base Service")
	}
	if *svc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal {
		t.Errorf("internalTrafficPolicy %s, want Local", *svc.Spec.InternalTrafficPolicy)
	}
	n := 0
	for _, p := range svc.Spec.Ports {
		if p.Port == 4318 {
			n++
			if p.AppProtocol != nil {
				t.Errorf("the user's otlp-http port should replace the inferred one (no appProtocol), got %+v", p)
			}
		}
	}
	if n != 1 {
		t.Errorf("port 4318 appears %d times", n)
	}
	ds := find[appsv1.DaemonSet](t, c, "agent-collector")
	if ds == nil {
		t.Fatal("no DaemonSet")
	}
	if ds.Labels["app.kubernetes.io/version"] != "0.120.0" {
		t.Errorf("version label %q from image %s", ds.Labels["app.kubernetes.io/version"], c.Spec.Image)
	}
	if ds.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("hostNetwork pods need ClusterFirstWithHostNet, got %s", ds.Spec.Template.Spec.DNSPolicy)
	}
	if lp := ds.Spec.Template.Spec.Containers[0].LivenessProbe; lp == nil || lp.HTTPGet.Port.IntVal != 13133 {
		t.Errorf("liveness probe from health_check: %+v", lp)
	}
}

func TestConfigChangeChangesHash(t *testing.T) {
	c := loadCase(t, "deployment")
	h1, _ := ConfigHash(c.Spec.Config)
	c.Spec.Config.Exporters.Object["debug"] = map[string]any{"verbosity": "detailed"}
	h2, _ := ConfigHash(c.Spec.Config)
	if h1 == h2 {
		t.Fatal("config change kept the hash")
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("x", 70)
	for _, n := range []string{Collector(long), ConfigMapName(long, strings.Repeat("a", 64)), HeadlessService(long), MonitoringService(long)} {
		if len(n) > 63 {
			t.Errorf("%q longer than 63", n)
		}
	}
	if got := ConfigMapName(long, "0123456789abcdef"); !strings.HasSuffix(got, "-collector-01234567") {
		t.Errorf("truncation lost the suffix: %s", got)
	}
	for in, want := range map[string]string{"otlp-grpc": "otlp-grpc", "jaeger-thrift_compact": "port-6831", "otlp/2-http": "otlp-2-http", "-otlp": "port-6831", "my-\u00e9-port": "port-6831", "zipkin": "zipkin"} {
		if got := portName(in, 6831); got != want {
			t.Errorf("portName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Collector("My.Collector"); got != "my-collector-collector" {
		t.Errorf("Collector(My.Collector) = %q", got)
	}
	if got := Collector("-x-"); got != "x--collector" {
		t.Errorf("Collector(-x-) = %q: leading non-alphanumerics are trimmed", got)
	}
	for img, want := range map[string]string{"a/b:1.2": "1.2", "host:5000/a/b": "latest", "host:5000/a/b:v2@sha256:00": "v2", "b": "latest"} {
		if got := Version(img); got != want {
			t.Errorf("Version(%q) = %q, want %q", img, got, want)
		}
	}
}

// TestHashInput pins the JSON the config hash is taken from: upstream's
// field order (receivers, exporters, processors, connectors, extensions,
// service), absent optional sections left out, pipelines' lists in
// exporters/processors/receivers order. ConfigMap names of resources
// upstream's operator created depend on it.
func TestHashInput(t *testing.T) {
	c := loadCase(t, "deployment")
	b, err := json.Marshal(&c.Spec.Config)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"receivers":{"otlp":{"protocols":{"grpc":{"endpoint":"0.0.0.0:4317"},"http":{"endpoint":"0.0.0.0:4318"}}}},` +
		`"exporters":{"debug":{}},"processors":{"batch":{},"memory_limiter":{"check_interval":"1s","limit_percentage":75}},` +
		`"service":{"pipelines":{"traces":{"exporters":["debug"],"processors":["memory_limiter","batch"],"receivers":["otlp"]}}}}`
	if string(b) != want {
		t.Errorf("hash input\n got %s\nwant %s", b, want)
	}
	sum := sha256.Sum256(b)
	if h, _ := ConfigHash(c.Spec.Config); h != hex.EncodeToString(sum[:]) {
		t.Errorf("ConfigHash %s is not sha256 of that JSON", h)
	}
}
