package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// valuesFile writes a values file, the way a user passes one with -f.
func valuesFile(t *testing.T, content string) string {
	t.Helper()
	// Not t.TempDir(): helm splits -f on commas, which subtest names hold.
	dir, err := os.MkdirTemp("", "autotel-values-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func collectorConfig(t *testing.T, objs objects) map[string]any {
	t.Helper()
	cm := get[corev1.ConfigMap](t, objs, "ConfigMap", "autotel-collector")
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["relay"]), &cfg); err != nil {
		t.Fatalf("collector config is not YAML: %v\n%s", err, cm.Data["relay"])
	}
	return cfg
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func mapKeys(v any) []string {
	m, _ := v.(map[string]any)
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// The seed's values file for the upstream collector chart, used unchanged.
func TestSeedCollectorValues(t *testing.T) {
	s := scenarioByName(t, "seed-collector")
	seed := readYAML(t, path(t, s.values))
	objs := template(t, s.args()...)
	cfg := collectorConfig(t, objs)

	want := readYAML(t, path(t, "test", "chart", "testdata", "seed-relay.yaml"))
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("collector config differs from testdata/seed-relay.yaml:\n%s", toYAML(t, cfg))
	}
	// The same files the collector's own end-to-end tests run (there the
	// Loki endpoint comes from the environment): the chart's render as is
	// (the fault tests), and without autotel's persistent queue and pushback
	// (the upstream-equivalent merge the pipeline and cluster tests run).
	noQueue := collectorConfig(t, template(t, append(s.args(), "--set", "collector.persistentQueue.enabled=false", "--set", "collector.pushback.enabled=false")...))
	for file, render := range map[string]map[string]any{
		"collector/test/e2e/testdata/chart-seed-relay.yaml": cfg,
		"collector/testdata/seed-merged.yaml":               noQueue,
	} {
		copied := readYAML(t, path(t, strings.Split(file, "/")...))
		loki := dig(copied, "exporters", "loki").(map[string]any)
		if loki["endpoint"] != "${env:LOKI_PUSH_ENDPOINT}" {
			t.Fatalf("%s: loki endpoint %v, expected the test's environment variable", file, loki["endpoint"])
		}
		loki["endpoint"] = dig(seed, "config", "exporters", "loki", "endpoint")
		if !reflect.DeepEqual(render, copied) {
			t.Errorf("collector config differs from %s (copy the render there):\n%s", file, toYAML(t, render))
		}
	}

	// The points of the seed, spelt out.
	if got := mapKeys(cfg["receivers"]); !slices.Equal(got, []string{"otlp"}) {
		t.Errorf("receivers %v, want only otlp (the seed removes jaeger, zipkin, prometheus)", got)
	}
	if got := mapKeys(dig(cfg, "receivers", "otlp", "protocols")); !slices.Equal(got, []string{"grpc", "http"}) {
		t.Errorf("otlp protocols %v", got)
	}
	if !reflect.DeepEqual(dig(cfg, "processors", "resource"), dig(seed, "config", "processors", "resource")) {
		t.Errorf("resource processor %v is not the seed's", dig(cfg, "processors", "resource"))
	}
	if got := dig(cfg, "exporters", "loki", "endpoint"); got != "http://loki-gateway/loki/api/v1/push" {
		t.Errorf("loki endpoint %v", got)
	}
	for _, p := range []string{"logs", "metrics", "traces"} {
		if got := strs(dig(cfg, "service", "pipelines", p, "receivers")); !slices.Equal(got, []string{"otlp"}) {
			t.Errorf("%s receivers %v", p, got)
		}
	}
	if got := strs(dig(cfg, "service", "pipelines", "logs", "processors")); !slices.Equal(got, []string{"resource"}) {
		t.Errorf("logs processors %v, want the seed's [resource]", got)
	}
	if got := strs(dig(cfg, "service", "pipelines", "logs", "exporters")); !slices.Equal(got, []string{"loki"}) {
		t.Errorf("logs exporters %v, want the seed's [loki]", got)
	}

	// The node-local collector: a DaemonSet and a Service with
	// internalTrafficPolicy Local, open on the OTLP ports only.
	ds := get[appsv1.DaemonSet](t, objs, "DaemonSet", "autotel-collector")
	c := ds.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Command, []string{"/autotel-collector"}) || !slices.Contains(c.Args, "--config=/conf/relay.yaml") || c.Image != "autotel/collector:0.1.0" {
		t.Errorf("collector container: image %s command %v args %v", c.Image, c.Command, c.Args)
	}
	svc := get[corev1.Service](t, objs, "Service", "autotel-collector")
	if svc.Spec.InternalTrafficPolicy == nil || *svc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal {
		t.Errorf("collector Service internalTrafficPolicy %v, want Local", svc.Spec.InternalTrafficPolicy)
	}
	if !reflect.DeepEqual(svc.Spec.Selector, ds.Spec.Selector.MatchLabels) {
		t.Errorf("Service selects %v, DaemonSet pods are %v", svc.Spec.Selector, ds.Spec.Selector.MatchLabels)
	}
	var svcPorts, podPorts []string
	for _, p := range svc.Spec.Ports {
		svcPorts = append(svcPorts, p.Name+":"+p.TargetPort.String())
	}
	for _, p := range c.Ports {
		podPorts = append(podPorts, p.Name+":"+strconv.Itoa(int(p.ContainerPort)))
		if p.HostPort != 0 {
			t.Errorf("port %s binds hostPort %d; the node-local Service replaces it", p.Name, p.HostPort)
		}
	}
	if want := []string{"otlp:4317", "otlp-http:4318"}; !slices.Equal(svcPorts, want) || !slices.Equal(podPorts, want) {
		t.Errorf("ports: Service %v, pod %v, want %v (the seed disables jaeger and zipkin)", svcPorts, podPorts, want)
	}
	if objs.find("ClusterRole", "autotel-collector") != nil {
		t.Errorf("the collector gets a ClusterRole without the kubernetesAttributes preset")
	}
	checkCollectorPod(t, &ds.Spec.Template)
}

func checkCollectorPod(t *testing.T, pod *corev1.PodTemplateSpec) {
	t.Helper()
	c := pod.Spec.Containers[0]
	if pod.Annotations["checksum/config"] == "" {
		t.Errorf("no config checksum: a config change would not roll the pods")
	}
	var podIP bool
	for _, e := range c.Env {
		if e.Name == "MY_POD_IP" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP" {
			podIP = true
		}
	}
	if !podIP {
		t.Errorf("MY_POD_IP (the default config's listen address) not from status.podIP: %+v", c.Env)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.IntValue() != 13133 {
			t.Errorf("%s probe %+v, want the health_check extension on 13133", name, p)
		}
	}
	cs := c.SecurityContext
	if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation {
		t.Errorf("collector securityContext %+v", cs)
	}
	var conf bool
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/conf" {
			conf = true
		}
	}
	if !conf {
		t.Errorf("config not mounted at /conf")
	}
}

func TestCollectorFollowsMode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
		kind   string // "" = no collector
		policy corev1.ServiceInternalTrafficPolicy
	}{
		{"defaults", "", "", ""},
		{"mode set, as upstream values files do", "mode: daemonset", "DaemonSet", corev1.ServiceInternalTrafficPolicyLocal},
		{"enabled without mode", "collector: {enabled: true}", "DaemonSet", corev1.ServiceInternalTrafficPolicyLocal},
		{"disabled despite mode", "collector: {enabled: false}\nmode: daemonset", "", ""},
		{"deployment", "mode: deployment", "Deployment", corev1.ServiceInternalTrafficPolicyCluster},
		{"policy override", "mode: daemonset\ncollector: {service: {internalTrafficPolicy: Cluster}}", "DaemonSet", corev1.ServiceInternalTrafficPolicyCluster},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.values != "" {
				args = []string{"-f", valuesFile(t, tc.values)}
			}
			objs := template(t, args...)
			var found []string
			for _, u := range objs {
				if strings.HasPrefix(u.GetName(), "autotel-collector") {
					found = append(found, u.GetKind())
				}
			}
			if tc.kind == "" {
				if len(found) > 0 {
					t.Fatalf("collector objects rendered: %v", found)
				}
				return
			}
			slices.Sort(found)
			want := []string{"ConfigMap", tc.kind, "Service", "ServiceAccount"}
			slices.Sort(want)
			if !slices.Equal(found, want) {
				t.Fatalf("collector objects %v, want %v", found, want)
			}
			svc := get[corev1.Service](t, objs, "Service", "autotel-collector")
			if *svc.Spec.InternalTrafficPolicy != tc.policy {
				t.Errorf("internalTrafficPolicy %s, want %s", *svc.Spec.InternalTrafficPolicy, tc.policy)
			}
		})
	}
}

// The merge rules of the upstream chart, one by one.
func TestCollectorConfigMerge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
		check  func(t *testing.T, cfg map[string]any)
	}{
		{"null removes a default", `
mode: daemonset
config:
  processors:
    memory_limiter: null
  service:
    pipelines:
      traces: {processors: [batch]}
      metrics: {processors: [batch]}
      logs: {processors: [batch]}
`, func(t *testing.T, cfg map[string]any) {
			if got := mapKeys(cfg["processors"]); !slices.Equal(got, []string{"batch"}) {
				t.Errorf("processors %v, want memory_limiter removed", got)
			}
		}},
		{"maps merge key by key, lists are replaced", `
mode: daemonset
config:
  receivers:
    otlp:
      protocols:
        http:
          cors: {allowed_origins: ["*"]}
  exporters:
    otlphttp: {endpoint: "http://backend:4318"}
  service:
    pipelines:
      traces:
        exporters: [otlphttp]
`, func(t *testing.T, cfg map[string]any) {
			if got := dig(cfg, "receivers", "otlp", "protocols", "http", "endpoint"); got != "${env:MY_POD_IP}:4318" {
				t.Errorf("default http endpoint lost in the merge: %v", got)
			}
			if dig(cfg, "receivers", "otlp", "protocols", "http", "cors") == nil || dig(cfg, "receivers", "otlp", "protocols", "grpc") == nil {
				t.Errorf("otlp protocols %v", dig(cfg, "receivers", "otlp", "protocols"))
			}
			if got := mapKeys(cfg["exporters"]); !slices.Equal(got, []string{"debug", "otlphttp"}) {
				t.Errorf("exporters %v", got)
			}
			if got := strs(dig(cfg, "service", "pipelines", "traces", "exporters")); !slices.Equal(got, []string{"otlphttp"}) {
				t.Errorf("traces exporters %v, want the list replaced", got)
			}
			if got := strs(dig(cfg, "service", "pipelines", "traces", "processors")); !slices.Equal(got, []string{"memory_limiter"}) {
				t.Errorf("traces processors %v, want the defaults kept", got)
			}
		}},
		{"a null the defaults do not hold reaches the collector", `
mode: daemonset
config:
  processors:
    attributes/extra: null
`, func(t *testing.T, cfg map[string]any) {
			p := cfg["processors"].(map[string]any)
			if v, ok := p["attributes/extra"]; !ok || v != nil {
				t.Errorf("attributes/extra: %v (present %t), want a null (the component's defaults)", v, ok)
			}
		}},
		{"alternateConfig replaces everything", `
mode: daemonset
alternateConfig:
  receivers: {otlp: {protocols: {grpc: {endpoint: "0.0.0.0:4317"}}}}
  exporters: {debug: {}}
  extensions: {health_check: {endpoint: "0.0.0.0:13133"}}
  service:
    extensions: [health_check]
    pipelines: {traces: {receivers: [otlp], exporters: [debug]}}
`, func(t *testing.T, cfg map[string]any) {
			if cfg["processors"] != nil || mapKeys(dig(cfg, "service", "pipelines")) == nil || len(mapKeys(dig(cfg, "service", "pipelines"))) != 1 {
				t.Errorf("alternateConfig merged with defaults: %s", toYAML(t, cfg))
			}
		}},
		{"the old metrics address becomes a reader", `
mode: daemonset
config:
  service:
    telemetry:
      metrics:
        address: 0.0.0.0:9999
`, func(t *testing.T, cfg map[string]any) {
			m := dig(cfg, "service", "telemetry", "metrics").(map[string]any)
			want := []any{map[string]any{"pull": map[string]any{"exporter": map[string]any{"prometheus": map[string]any{"host": "0.0.0.0", "port": float64(9999)}}}}}
			if _, ok := m["address"]; ok || !reflect.DeepEqual(m["readers"], want) {
				t.Errorf("telemetry.metrics %v", m)
			}
		}},
		{"config is templated", `
mode: daemonset
config:
  exporters:
    debug:
      verbosity: '{{ if eq .Release.Namespace "autotel-system" }}detailed{{ else }}basic{{ end }}'
`, func(t *testing.T, cfg map[string]any) {
			if got := dig(cfg, "exporters", "debug", "verbosity"); got != "detailed" {
				t.Errorf("templated value %v", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, collectorConfig(t, template(t, "-f", valuesFile(t, tc.values))))
		})
	}
}

func TestPresets(t *testing.T) {
	objs := template(t, scenarioByName(t, "collector-presets").args()...)
	cfg := collectorConfig(t, objs)
	ds := get[appsv1.DaemonSet](t, objs, "DaemonSet", "autotel-collector")
	pod := ds.Spec.Template.Spec
	c := pod.Containers[0]

	// logsCollection: filelog over the pod log files with the container parser.
	f := dig(cfg, "receivers", "filelog")
	if f == nil {
		t.Fatalf("no filelog receiver: %s", toYAML(t, cfg["receivers"]))
	}
	if got := strs(dig(f, "include")); !slices.Equal(got, []string{"/var/log/pods/*/*/*.log"}) {
		t.Errorf("filelog include %v", got)
	}
	if got := strs(dig(f, "exclude")); !slices.Equal(got, []string{"/var/log/pods/" + namespace + "_autotel-collector*_*/collector/*.log"}) {
		t.Errorf("filelog exclude %v, want the collector's own logs (container %q)", got, c.Name)
	}
	ops, _ := dig(f, "operators").([]any)
	if len(ops) != 1 || dig(ops[0], "type") != "container" {
		t.Errorf("filelog operators %v, want the container parser", ops)
	}
	if got := dig(f, "start_at"); got != "beginning" {
		t.Errorf("start_at %v: the user's config must win over the preset", got)
	}
	if got := strs(dig(cfg, "service", "pipelines", "logs", "receivers")); !slices.Equal(got, []string{"otlp", "filelog"}) {
		t.Errorf("logs receivers %v", got)
	}
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/var/log/pods" && m.ReadOnly {
			mounted = true
		}
	}
	var hostPath bool
	for _, v := range pod.Volumes {
		if v.HostPath != nil && v.HostPath.Path == "/var/log/pods" {
			hostPath = true
		}
	}
	if !mounted || !hostPath {
		t.Errorf("/var/log/pods not mounted read-only from the node: %+v %+v", c.VolumeMounts, pod.Volumes)
	}
	if !slices.Contains(pod.SecurityContext.SupplementalGroups, 0) || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("pod securityContext %+v: want non-root with group root (pod logs are 0640 root:root)", pod.SecurityContext)
	}

	// kubernetesAttributes: k8sattributes first in every pipeline, scoped to
	// the node, with the RBAC it reads through.
	for _, p := range []string{"logs", "metrics", "traces"} {
		if got := strs(dig(cfg, "service", "pipelines", p, "processors")); len(got) == 0 || got[0] != "k8sattributes" {
			t.Errorf("%s processors %v, want k8sattributes first", p, got)
		}
	}
	if got := dig(cfg, "processors", "k8sattributes", "filter", "node_from_env_var"); got != "K8S_NODE_NAME" {
		t.Errorf("k8sattributes node filter %v", got)
	}
	if dig(cfg, "processors", "k8sattributes", "extract", "labels") == nil {
		t.Errorf("extractAllPodLabels did not add the labels rule")
	}
	var nodeName bool
	for _, e := range c.Env {
		if e.Name == "K8S_NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName" {
			nodeName = true
		}
	}
	if !nodeName {
		t.Errorf("K8S_NODE_NAME not set from spec.nodeName")
	}
	cr := get[rbacv1.ClusterRole](t, objs, "ClusterRole", "autotel-collector")
	got := expand(cr.Rules, nil)
	for _, g := range []grant{{"", "pods", "list"}, {"", "pods", "watch"}, {"", "namespaces", "get"}, {"apps", "replicasets", "list"}} {
		if !got[g] {
			t.Errorf("collector ClusterRole lacks %s", g)
		}
	}
	for g := range got {
		if !slices.Contains([]string{"get", "list", "watch"}, g.verb) {
			t.Errorf("collector ClusterRole grants %s: read-only is enough", g)
		}
	}
	crb := get[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "autotel-collector")
	if crb.RoleRef.Name != "autotel-collector" || len(crb.Subjects) != 1 || crb.Subjects[0].Name != pod.ServiceAccountName || crb.Subjects[0].Namespace != namespace {
		t.Errorf("collector binding %+v does not bind the pods' ServiceAccount %s", crb, pod.ServiceAccountName)
	}
	checkCollectorPod(t, &ds.Spec.Template)

	// storeCheckpoints: the file_storage extension on a node folder, as root.
	objs = template(t, append(scenarioByName(t, "collector-presets").args(), "--set", "presets.logsCollection.storeCheckpoints=true")...)
	cfg = collectorConfig(t, objs)
	if dig(cfg, "receivers", "filelog", "storage") != "file_storage" || !slices.Contains(strs(dig(cfg, "service", "extensions")), "file_storage") {
		t.Errorf("checkpoints not stored: %s", toYAML(t, cfg))
	}
	ds = get[appsv1.DaemonSet](t, objs, "DaemonSet", "autotel-collector")
	if sc := ds.Spec.Template.Spec.SecurityContext; sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("securityContext %+v: the node's checkpoint folder needs root", sc)
	}
}

func TestCollectorConfigChangeRollsPods(t *testing.T) {
	checksum := func(extra ...string) string {
		objs := template(t, append([]string{"--set", "mode=daemonset"}, extra...)...)
		return get[appsv1.DaemonSet](t, objs, "DaemonSet", "autotel-collector").Spec.Template.Annotations["checksum/config"]
	}
	a, b := checksum(), checksum("--set", "config.exporters.debug.verbosity=detailed")
	if a == "" || a == b {
		t.Errorf("checksum %q before and %q after a config change", a, b)
	}
}

// A values file for the upstream chart may hold pod settings (image,
// resources, ...) at the top level, where this chart does not read them: the
// install notes say so instead of dropping them silently.
func TestNotesWarnAboutUnreadUpstreamKeys(t *testing.T) {
	notes := func(t *testing.T, args ...string) string {
		t.Helper()
		// --dry-run=client renders the notes without a cluster.
		out, err := helm(t, append([]string{"install", release, chartDir, "--dry-run=client", "--namespace", namespace}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		_, n, ok := strings.Cut(out, "NOTES:\n")
		if !ok {
			t.Fatalf("no notes in:\n%s", out)
		}
		return n
	}
	n := notes(t, "-f", valuesFile(t, "mode: daemonset\nimage: {repository: otel/opentelemetry-collector-contrib}\nresources: {limits: {memory: 1Gi}}\n"))
	if !strings.Contains(n, "WARNING: top-level image, resources from an upstream collector values file") {
		t.Errorf("no warning about image and resources:\n%s", n)
	}
	n = notes(t, scenarioByName(t, "seed-collector").args()...)
	if strings.Contains(n, "WARNING") {
		t.Errorf("the seed's values draw a warning:\n%s", n)
	}
	if !strings.Contains(n, "http://autotel-collector."+namespace+".svc:4318") {
		t.Errorf("the notes do not say where to send telemetry:\n%s", n)
	}
}
