package chart

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func envValue(c corev1.Container, name string) (string, int) {
	var v string
	n := 0
	for _, e := range c.Env {
		if e.Name == name {
			v, n = e.Value, n+1
		}
	}
	return v, n
}

// The collector's memory: GOMEMLIMIT from the container's limit, and
// memory_limiter thresholds (percentages the collector resolves against its
// cgroup, i.e. the same limit) below it.
func TestCollectorMemoryLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   []string
		want  string // GOMEMLIMIT; "" = not set by the chart
		count int    // how many GOMEMLIMIT entries
	}{
		{"default 512Mi", nil, "409MiB", 1},
		{"1Gi", []string{"collector.resources.limits.memory=1Gi"}, "819MiB", 1},
		{"decimal 1G", []string{"collector.resources.limits.memory=1G"}, "762MiB", 1},
		{"plain bytes", []string{"collector.resources.limits.memory=536870912"}, "409MiB", 1},
		{"fractional 1.5Gi", []string{"collector.resources.limits.memory=1.5Gi"}, "1228MiB", 1},
		{"other share", []string{"collector.goMemLimitPercent=50"}, "256MiB", 1},
		{"share 0: the collector's own cgroup reading", []string{"collector.goMemLimitPercent=0"}, "", 0},
		{"no limit", []string{"collector.resources.limits=null"}, "", 0},
		{"the user's GOMEMLIMIT wins", []string{"collector.extraEnvs[0].name=GOMEMLIMIT", "collector.extraEnvs[0].value=300MiB"}, "300MiB", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--set", "mode=daemonset"}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			ds := get[appsv1.DaemonSet](t, template(t, args...), "DaemonSet", "autotel-collector")
			got, n := envValue(ds.Spec.Template.Spec.Containers[0], "GOMEMLIMIT")
			if got != tc.want || n != tc.count {
				t.Errorf("GOMEMLIMIT %q (%d entries), want %q (%d)", got, n, tc.want, tc.count)
			}
		})
	}

	out, err := templateRaw(t, "--set", "mode=daemonset", "--set", "collector.resources.limits.memory=lots")
	if err == nil || !strings.Contains(out+err.Error(), "collector.resources.limits.memory") {
		t.Errorf("an unreadable limit renders (err %v); want a failure naming the key", err)
	}

	// memory_limiter: refuse (limit - spike) and force GC (limit) below
	// GOMEMLIMIT's share, checked often enough for a fast receiver.
	cfg := collectorConfig(t, template(t, "--set", "mode=daemonset"))
	ml := dig(cfg, "processors", "memory_limiter").(map[string]any)
	limit, _ := ml["limit_percentage"].(float64)
	spike, _ := ml["spike_limit_percentage"].(float64)
	if !(spike > 0 && spike < limit && limit < 80) {
		t.Errorf("memory_limiter %v: want 0 < spike < limit < 80 (GOMEMLIMIT's share)", ml)
	}
	if ml["check_interval"] != "1s" {
		t.Errorf("memory_limiter check_interval %v, want 1s", ml["check_interval"])
	}
	for _, p := range []string{"logs", "metrics", "traces"} {
		if got := strs(dig(cfg, "service", "pipelines", p, "processors")); !slices.Equal(got, []string{"memory_limiter"}) {
			t.Errorf("default %s processors %v, want [memory_limiter] (no batch in front of a queue)", p, got)
		}
	}
}

// The seed's values: the loki exporter gets the persistent queue, the pod a
// node folder for it, handed to the non-root collector by an init container.
func TestPersistentQueueSeed(t *testing.T) {
	objs := template(t, scenarioByName(t, "seed-collector").args()...)
	cfg := collectorConfig(t, objs)
	q := dig(cfg, "exporters", "loki", "sending_queue").(map[string]any)
	want := map[string]any{
		"enabled": true, "storage": "file_storage/autotel-queue", "sizer": "items",
		"queue_size": float64(3000000), "num_consumers": float64(10),
	}
	for k, v := range want {
		if q[k] != v {
			t.Errorf("loki sending_queue.%s = %v, want %v", k, q[k], v)
		}
	}
	if b := dig(q, "batch", "min_size"); b != float64(5000) {
		t.Errorf("sending_queue.batch %v: want batching inside the queue", q["batch"])
	}
	if got := dig(cfg, "exporters", "loki", "retry_on_failure", "max_elapsed_time"); got != "0s" {
		t.Errorf("retry_on_failure.max_elapsed_time %v, want 0s (no deadline: a long outage drops nothing)", got)
	}
	dir, _ := dig(cfg, "extensions", "file_storage/autotel-queue", "directory").(string)
	if dir == "" || !slices.Contains(strs(dig(cfg, "service", "extensions")), "file_storage/autotel-queue") {
		t.Fatalf("file_storage/autotel-queue not configured and enabled: %s", toYAML(t, cfg["extensions"]))
	}

	ds := get[appsv1.DaemonSet](t, objs, "DaemonSet", "autotel-collector")
	pod := ds.Spec.Template.Spec
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == "queue" {
			vol = &pod.Volumes[i]
		}
	}
	if vol == nil || vol.HostPath == nil || vol.HostPath.Path != "/var/lib/autotel-collector/"+namespace {
		t.Fatalf("queue volume %+v, want hostPath /var/lib/autotel-collector/%s", vol, namespace)
	}
	mountedAt := func(c corev1.Container) bool {
		for _, m := range c.VolumeMounts {
			if m.Name == "queue" && m.MountPath == dir && !m.ReadOnly {
				return true
			}
		}
		return false
	}
	if !mountedAt(pod.Containers[0]) {
		t.Errorf("collector does not mount the queue volume at %s", dir)
	}
	if len(pod.InitContainers) != 1 {
		t.Fatalf("init containers %v, want the queue folder's", pod.InitContainers)
	}
	ic := pod.InitContainers[0]
	if !slices.Equal(ic.Command, []string{"/autotel-collector", "prepare-dir", dir, "65532:65532"}) || !mountedAt(ic) || ic.Image != pod.Containers[0].Image {
		t.Errorf("init container %s %v: want the collector image preparing %s for 65532:65532", ic.Image, ic.Command, dir)
	}
	sc := ic.SecurityContext
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("init container securityContext %+v: want ALL dropped but chown, no escalation", sc)
	}
	if pc := pod.SecurityContext; pc == nil || pc.RunAsNonRoot == nil || !*pc.RunAsNonRoot {
		t.Errorf("pod securityContext %+v: the collector must stay non-root", pc)
	}
}

func TestPersistentQueueChoices(t *testing.T) {
	cfgOf := func(t *testing.T, values string, set ...string) (map[string]any, objects) {
		args := []string{"-f", valuesFile(t, values)}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		objs := template(t, args...)
		return collectorConfig(t, objs), objs
	}
	pipelines := `mode: daemonset
config:
  exporters:
    loki: {endpoint: http://loki/loki/api/v1/push}
    loki/other: {endpoint: http://loki2/loki/api/v1/push, sending_queue: {enabled: false}}
    otlp: {endpoint: backend:4317, sending_queue: {storage: file_storage/mine, queue_size: 10}}
    otlphttp/unused: {endpoint: http://backend:4318}
  extensions:
    file_storage/mine: {directory: /tmp}
  service:
    extensions: [health_check, file_storage/mine]
    pipelines:
      logs: {receivers: [otlp], processors: [memory_limiter], exporters: [loki, loki/other]}
      traces: {receivers: [otlp], processors: [memory_limiter], exporters: [otlp, debug]}
`
	cfg, _ := cfgOf(t, pipelines)
	if got := dig(cfg, "exporters", "loki", "sending_queue", "storage"); got != "file_storage/autotel-queue" {
		t.Errorf("loki storage %v, want the chart's queue", got)
	}
	if got := dig(cfg, "exporters", "loki/other", "sending_queue"); fmt.Sprint(got) != "map[enabled:false]" {
		t.Errorf("loki/other sending_queue %v: the user's enabled: false must stand", got)
	}
	if got := dig(cfg, "exporters", "otlp", "sending_queue"); fmt.Sprint(got) != "map[queue_size:10 storage:file_storage/mine]" {
		t.Errorf("otlp sending_queue %v: the user's own storage must stand", got)
	}
	if got := dig(cfg, "exporters", "otlphttp/unused", "sending_queue"); got != nil {
		t.Errorf("an exporter no pipeline uses got a queue: %v", got)
	}
	if got := dig(cfg, "exporters", "debug", "sending_queue"); got != nil {
		t.Errorf("debug exporter got a queue: %v", got)
	}
	if got := strs(dig(cfg, "service", "extensions")); !slices.Equal(got, []string{"health_check", "file_storage/mine", "file_storage/autotel-queue", "pushback"}) {
		t.Errorf("service extensions %v", got)
	}

	// The user's keys win inside the queue.
	cfg, _ = cfgOf(t, pipelines, "config.exporters.loki.sending_queue.queue_size=42", "config.exporters.loki.retry_on_failure.max_elapsed_time=1h")
	if got := dig(cfg, "exporters", "loki", "sending_queue", "queue_size"); got != float64(42) {
		t.Errorf("queue_size %v, want the user's 42", got)
	}
	if got := dig(cfg, "exporters", "loki", "retry_on_failure", "max_elapsed_time"); got != "1h" {
		t.Errorf("max_elapsed_time %v, want the user's 1h", got)
	}

	// Turned off: upstream's behaviour, no volume.
	cfg, objs := cfgOf(t, pipelines, "collector.persistentQueue.enabled=false")
	if got := dig(cfg, "exporters", "loki", "sending_queue"); got != nil {
		t.Errorf("persistentQueue off, loki sending_queue %v", got)
	}
	ds := get[appsv1.DaemonSet](t, objs, "DaemonSet", "autotel-collector")
	for _, v := range ds.Spec.Template.Spec.Volumes {
		if v.Name == "queue" {
			t.Errorf("persistentQueue off, queue volume %+v", v)
		}
	}
	if n := len(ds.Spec.Template.Spec.InitContainers); n != 0 {
		t.Errorf("persistentQueue off, %d init containers", n)
	}

	// Nothing to queue (the chart's defaults export to debug): no volume.
	_, objs = cfgOf(t, "mode: daemonset\n")
	ds = get[appsv1.DaemonSet](t, objs, "DaemonSet", "autotel-collector")
	if n := len(ds.Spec.Template.Spec.Volumes); n != 1 {
		t.Errorf("no queueing exporter, volumes %+v, want the config only", ds.Spec.Template.Spec.Volumes)
	}

	// Deployment mode: an emptyDir (pods move between nodes), no init.
	_, objs = cfgOf(t, strings.Replace(pipelines, "mode: daemonset", "mode: deployment", 1))
	dep := get[appsv1.Deployment](t, objs, "Deployment", "autotel-collector")
	var emptyDir bool
	for _, v := range dep.Spec.Template.Spec.Volumes {
		emptyDir = emptyDir || v.Name == "queue" && v.EmptyDir != nil
	}
	if !emptyDir || len(dep.Spec.Template.Spec.InitContainers) != 0 {
		t.Errorf("deployment: volumes %+v, init %v; want an emptyDir queue and no init container", dep.Spec.Template.Spec.Volumes, dep.Spec.Template.Spec.InitContainers)
	}

	// Running as root (storeCheckpoints): the folder is handed to root.
	_, objs = cfgOf(t, pipelines, "presets.logsCollection.enabled=true", "presets.logsCollection.storeCheckpoints=true")
	ds = get[appsv1.DaemonSet](t, objs, "DaemonSet", "autotel-collector")
	if ic := ds.Spec.Template.Spec.InitContainers; len(ic) != 1 || ic[0].Command[3] != "0:0" {
		t.Errorf("root collector: init containers %+v, want the folder handed to 0:0", ic)
	}
}

// A user pipeline with batch in front of a persistent queue is rendered as
// written (the user's pipeline wins, as upstream), and the install notes
// say what it costs and what to change.
func TestNotesWarnAboutBatchBeforeQueue(t *testing.T) {
	notes := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := helm(t, append([]string{"install", release, chartDir, "--dry-run=client", "--namespace", namespace}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		_, n, _ := strings.Cut(out, "NOTES:\n")
		return n
	}
	values := valuesFile(t, `mode: daemonset
config:
  exporters:
    loki: {endpoint: http://loki/loki/api/v1/push}
  service:
    pipelines:
      logs: {receivers: [otlp], processors: [memory_limiter, batch], exporters: [loki]}
`)
	n := notes(t, "-f", values)
	if !strings.Contains(n, "WARNING: a batch processor in front of a persistent queue: logs (batch -> loki)") ||
		!strings.Contains(n, "Remove it from the pipeline's processors") {
		t.Errorf("no warning about batch before the queue:\n%s", n)
	}
	cfg := collectorConfig(t, template(t, "-f", values))
	if got := strs(dig(cfg, "service", "pipelines", "logs", "processors")); !slices.Equal(got, []string{"memory_limiter", "batch"}) {
		t.Errorf("logs processors %v: the user's pipeline is rendered as written", got)
	}
	if n := notes(t, "-f", values, "--set", "collector.persistentQueue.enabled=false"); strings.Contains(n, "batch processor") {
		t.Errorf("warning without a persistent queue:\n%s", n)
	}
}

// Refusals say when to come back: the otlp receivers pipelines use get the
// pushback middleware on both protocols, unless the user set middlewares.
func TestPushbackMiddleware(t *testing.T) {
	cfg := collectorConfig(t, template(t, scenarioByName(t, "seed-collector").args()...))
	for _, proto := range []string{"grpc", "http"} {
		if got := fmt.Sprint(dig(cfg, "receivers", "otlp", "protocols", proto, "middlewares")); got != "[map[id:pushback]]" {
			t.Errorf("otlp %s middlewares %s, want [pushback]", proto, got)
		}
	}
	if got := dig(cfg, "extensions", "pushback", "retry_after"); got != "5s" {
		t.Errorf("pushback retry_after %v, want 5s", got)
	}
	if !slices.Contains(strs(dig(cfg, "service", "extensions")), "pushback") {
		t.Errorf("pushback not enabled in service.extensions %v", dig(cfg, "service", "extensions"))
	}

	values := valuesFile(t, `mode: daemonset
config:
  receivers:
    otlp:
      protocols:
        http: {endpoint: "0.0.0.0:4318", middlewares: [{id: mine}]}
        grpc: null
`)
	cfg = collectorConfig(t, template(t, "-f", values, "--set", "collector.pushback.retryAfter=30s"))
	if got := fmt.Sprint(dig(cfg, "receivers", "otlp", "protocols", "http", "middlewares")); got != "[map[id:mine]]" {
		t.Errorf("user's http middlewares became %s", got)
	}
	if got := dig(cfg, "receivers", "otlp", "protocols", "grpc"); got != nil {
		t.Errorf("grpc: null became %v", got)
	}
	if got := dig(cfg, "extensions", "pushback"); got != nil {
		t.Errorf("pushback extension %v added though no protocol uses it", got)
	}

	cfg = collectorConfig(t, template(t, "--set", "mode=daemonset", "--set", "collector.pushback.enabled=false"))
	if got := dig(cfg, "receivers", "otlp", "protocols", "http", "middlewares"); got != nil {
		t.Errorf("pushback disabled, middlewares %v", got)
	}
}
