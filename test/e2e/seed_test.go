//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/testkit/ports"
)

const (
	seedNS   = "example"
	seedInst = "python-instrumentation"
	// There is no DNS on this cluster (no add-on, no Service traffic), so
	// the seed's http://otel-collector:4318 cannot resolve. The node-local
	// pattern needs none: the kubelet resolves $(OTEL_NODE_IP) to the
	// node's address, where the collector DaemonSet listens.
	nodeLocalEndpoint = "http://$(OTEL_NODE_IP):4318"
	// Requests per route and workload; the store must hold exactly these.
	helloRequests = 3
	errorRequests = 2
)

// workload is one Deployment made from the seed's annotated Deployment:
// the seed's own (Flask dev server) and the variants.
type workload struct {
	name    string // Deployment name, app label, OTEL_SERVICE_NAME
	sample  sample
	logs    string // the pod template's autotel.io/logs: "", "otlp" or "stdout"
	workers int    // server worker processes (0: one process serves)
	port    int
	pod     *corev1.Pod
}

func seedWorkloads() []*workload {
	return []*workload{
		// The seed's Deployment as it is: logging goes over OTLP, print()
		// only reaches the node's container log (upstream's behaviour).
		{name: "sample", sample: samples[0]},
		{name: "sample-gunicorn", sample: samples[1], logs: instrumentation.LogsOTLP, workers: 2},
		{name: "sample-uvicorn", sample: samples[2], logs: instrumentation.LogsOTLP, workers: 2},
		{name: "sample-stdout", sample: samples[0], logs: instrumentation.LogsStdout},
	}
}

// bindEnv is what binds the server to its loopback port, with its workers.
func (w *workload) bindEnv() []corev1.EnvVar {
	env := w.sample.bind(w.port)
	if w.workers == 0 {
		return env
	}
	switch w.sample.name {
	case "gunicorn": // pre-fork: the master forks the workers
		env[0].Value += fmt.Sprintf(" --workers=%d", w.workers)
	case "uvicorn": // a supervisor spawns fresh interpreters
		env = append(env, corev1.EnvVar{Name: "UVICORN_WORKERS", Value: fmt.Sprint(w.workers)})
	}
	return env
}

// seedRun carries what one step of the seed's story hands to the next.
type seedRun struct {
	c         *cluster
	store     *store
	workloads []*workload
}

// seedDeployment is the seed's annotated Deployment with what this machine
// needs: a local image, the host network on a loopback port, and a
// rolling update that stops the old pod before starting the new one (two
// pods of a host-network workload cannot bind the same port).
func seedDeployment(t *testing.T, root string, w *workload) *appsv1.Deployment {
	t.Helper()
	var dep appsv1.Deployment
	readYAML(t, filepath.Join(root, "testdata", "seed", "deployment-annotated.yaml"), &dep)
	if dep.Spec.Template.Annotations["instrumentation.opentelemetry.io/inject-python"] != "true" {
		t.Fatalf("the seed's Deployment lost its annotation: %v", dep.Spec.Template.Annotations)
	}
	dep.Name, dep.Namespace = w.name, seedNS
	labels := map[string]string{"app": w.name}
	dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels = labels, labels
	if w.logs != "" {
		dep.Spec.Template.Annotations[instrumentation.AnnotationLogs] = w.logs
	}
	zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
	dep.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &zero, MaxUnavailable: &one}}
	spec := &dep.Spec.Template.Spec
	spec.HostNetwork = true
	// Python is PID 1 in these images, and the kernel drops a SIGTERM that
	// PID 1 has no handler for: the Flask dev server (with or without the
	// agent) only ends at the SIGKILL after the grace period, 30 s by default.
	spec.TerminationGracePeriodSeconds = ptr.To[int64](3)
	app := &spec.Containers[0]
	app.Image, app.ImagePullPolicy, app.Env = w.sample.image, corev1.PullIfNotPresent, w.bindEnv()
	app.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(w.port), HostPort: int32(w.port)}}
	return &dep
}

// testSeedInjection: the seed's otlp Instrumentation (autotel's agent image,
// the node-local endpoint, rollout opted in) and the four Deployments
// become Running pods with the init container, the agent and the env.
func testSeedInjection(t *testing.T, r *seedRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := r.c
	c.createNamespace(t, ctx, seedNS)
	inst := readUnstructured(t, filepath.Join(c.root, "testdata", "seed", "instrumentation-otlp.yaml"))
	inst.SetNamespace(seedNS)
	inst.SetAnnotations(map[string]string{instrumentation.RolloutAnnotation: "true"})
	for path, v := range map[string]string{"spec.python.image": agentImage, "spec.exporter.endpoint": nodeLocalEndpoint} {
		if err := unstructured.SetNestedField(inst.Object, v, strings.Split(path, ".")...); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.client.Create(ctx, inst); err != nil {
		t.Fatalf("creating the seed's Instrumentation: %v", err)
	}
	for _, w := range r.workloads {
		w.port = ports.Free(t)
		if err := c.client.Create(ctx, seedDeployment(t, c.root, w)); err != nil {
			t.Fatalf("creating Deployment %s: %v", w.name, err)
		}
	}
	for _, w := range r.workloads {
		w.pod = c.waitPod(t, ctx, seedNS, client.MatchingLabels{"app": w.name}, "Running", running)
		checkInjected(t, c, w, "")
		checkAgentTree(t, c, w.pod)
		checkWorkers(t, c, w)
		// Listening, without a request: the store must hold exactly the
		// requests the next step sends.
		waitListening(t, ctx, w.port)
	}
}

// checkInjected asserts the pod's init container and the environment the
// kubelet gave the app process (every $(VAR) resolved).
func checkInjected(t *testing.T, c *cluster, w *workload, rolloutEnv string) {
	t.Helper()
	pod := w.pod
	if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Name != initName {
		t.Fatalf("pod %s was not injected: init containers %+v", pod.Name, pod.Spec.InitContainers)
	}
	ic := pod.Spec.InitContainers[0]
	if ic.Image != agentImage || strings.Join(ic.Command, " ") != "cp -r /autoinstrumentation/. "+agentMount {
		t.Fatalf("pod %s: init container image %q command %q", pod.Name, ic.Image, ic.Command)
	}
	if s := pod.Status.InitContainerStatuses; len(s) != 1 || s[0].State.Terminated == nil || s[0].State.Terminated.ExitCode != 0 {
		t.Fatalf("pod %s: init container did not finish with exit code 0: %+v", pod.Name, s)
	}
	pid := c.containerPID(t, pod, "sample")
	env := environ(t, pid)
	// An empty value: the variable must be absent.
	want := map[string]string{
		"OTEL_SERVICE_NAME":                  w.name,
		"OTEL_NODE_IP":                       "127.0.0.1",
		"OTEL_POD_IP":                        "127.0.0.1",
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://127.0.0.1:4318",
		"OTEL_RESOURCE_ATTRIBUTES_POD_NAME":  pod.Name,
		"OTEL_RESOURCE_ATTRIBUTES_NODE_NAME": c.env["NODE_NAME"],
		"PYTHONPATH":                         agentMount + "/opentelemetry/instrumentation/auto_instrumentation:" + agentMount,
		// The workload's log path wins over the Instrumentation's exporter.
		"OTEL_LOGS_EXPORTER":            map[string]string{"": "otlp_proto_http", "otlp": "otlp", "stdout": "none"}[w.logs],
		"AUTOTEL_PYTHON_CAPTURE_STDOUT": map[string]string{"otlp": "true"}[w.logs],
		"AUTOTEL_PYTHON_CAPTURE_STDERR": map[string]string{"otlp": "true"}[w.logs],
		"OTEL_BLRP_SCHEDULE_DELAY":      rolloutEnv,
	}
	for k, v := range want {
		if got, ok := env[k]; got != v || (v == "") == ok {
			t.Errorf("%s: app process env %s = %q (set: %v), want %q", pod.Name, k, got, ok, v)
		}
	}
	attrs := env["OTEL_RESOURCE_ATTRIBUTES"]
	for _, want := range []string{
		"k8s.pod.name=" + pod.Name,
		"k8s.node.name=" + c.env["NODE_NAME"],
		"k8s.namespace.name=" + seedNS,
		"k8s.container.name=sample",
		"k8s.deployment.name=" + w.name,
		"service.instance.id=" + seedNS + "." + pod.Name + ".sample",
	} {
		if !strings.Contains(attrs, want) {
			t.Errorf("%s: OTEL_RESOURCE_ATTRIBUTES = %q lacks %q", pod.Name, attrs, want)
		}
	}
	if strings.Contains(attrs, "$(") {
		t.Errorf("%s: OTEL_RESOURCE_ATTRIBUTES = %q still holds an unresolved $(VAR)", pod.Name, attrs)
	}
}

// checkAgentTree: what the init container copied into the app's volume is
// autotel's agent, file for file as in agent/python/src.
func checkAgentTree(t *testing.T, c *cluster, pod *corev1.Pod) {
	t.Helper()
	pid := c.containerPID(t, pod, "sample")
	src := filepath.Join(c.root, "agent", "python", "src")
	n := 0
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(path, ".pyc") {
			return nil
		}
		rel, _ := filepath.Rel(src, path)
		want, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(fmt.Sprintf("/proc/%d/root", pid), agentMount, rel))
		if err != nil {
			return fmt.Errorf("in the app container: %w", err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s in the app container differs from agent/python/src", rel)
		}
		n++
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("%s: the agent tree is not autotel's agent (%d files compared): %v", pod.Name, n, err)
	}
}

// checkWorkers: a pre-fork or multi-process server really runs its workers,
// each with the agent on its path.
func checkWorkers(t *testing.T, c *cluster, w *workload) {
	t.Helper()
	if w.workers == 0 {
		return
	}
	main := c.containerPID(t, w.pod, "sample")
	var workers []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		workers = workers[:0]
		for _, pid := range children(main) {
			cmd := cmdline(pid)
			// multiprocessing's resource tracker is a helper, not a server.
			if strings.Contains(cmd, "resource_tracker") {
				continue
			}
			if env, err := readEnviron(pid); err == nil && strings.HasPrefix(env["PYTHONPATH"], agentMount) {
				workers = append(workers, fmt.Sprintf("%d: %s", pid, cmd))
			}
		}
		if len(workers) == w.workers || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(workers) != w.workers {
		t.Fatalf("%s: %d worker processes with the agent, want %d: %v", w.name, len(workers), w.workers, workers)
	}
	t.Logf("%s: server pid %d, workers %v", w.name, main, workers)
}

func children(parent int) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// The command name may hold spaces; fields after its ")" are fixed.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(parent) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// expectation is how many stored entries of one pod, from one path, have
// a body equal to (or, for access-log lines with their time, containing)
// a text.
type expectation struct {
	fromFile bool
	body     string
	contains bool
	want     int
}

func (e expectation) matches(r row) bool {
	if r.fromFile() != e.fromFile {
		return false
	}
	if e.contains {
		return strings.Contains(r.body(), e.body)
	}
	return r.body() == e.body
}

func (e expectation) String() string {
	how := "="
	if e.contains {
		how = "containing"
	}
	return fmt.Sprintf("entries from %s with body %s %q", path(e.fromFile), how, e.body)
}

func (w *workload) expectations() []expectation {
	var out []expectation
	add := func(fromFile, contains bool, body string, n int) {
		out = append(out, expectation{fromFile: fromFile, body: body, contains: contains, want: n})
	}
	otlp := func(body string, n int) { add(false, false, body, n) }
	file := func(body string, n int) { add(true, false, body, n) }
	logger := w.sample.logger
	agentOn := w.logs != instrumentation.LogsStdout
	if agentOn {
		otlp("hello called", helloRequests)
		otlp("error called; raising", errorRequests)
	}
	if w.logs == instrumentation.LogsOTLP {
		otlp("print: hello called", helloRequests)
		otlp("print: error called", errorRequests)
		// stderr is captured too on this path, but never the console
		// copy of a record the logging bridge already exported.
		otlp("INFO:"+logger+":hello called", 0)
		otlp("ERROR:"+logger+":error called; raising", 0)
	} else {
		file("print: hello called", helloRequests)
		file("print: error called", errorRequests)
		// Without an annotation the console copy is stored too: upstream.
		file("INFO:"+logger+":hello called", helloRequests)
		file("ERROR:"+logger+":error called; raising", errorRequests)
	}
	switch w.sample.name {
	case "flask":
		// werkzeug's access log goes through logging (to stderr).
		add(false, true, "GET /hello HTTP/1.1", map[bool]int{true: helloRequests}[agentOn])
		add(false, true, "GET /error HTTP/1.1", map[bool]int{true: errorRequests}[agentOn])
		add(true, true, "GET /hello HTTP/1.1", helloRequests)
		add(true, true, "GET /error HTTP/1.1", errorRequests)
	case "gunicorn":
		if w.logs == instrumentation.LogsOTLP {
			// gunicorn's own logger does not propagate: its lines on
			// stderr arrive only through the agent's stderr capture.
			add(false, true, "Booting worker with pid", w.workers)
		}
	case "uvicorn":
		// uvicorn's access log (not propagated, on stdout) arrives
		// through the stdout capture on the otlp path.
		if w.logs == instrumentation.LogsOTLP {
			add(false, true, `"GET /hello HTTP/1.1" 200`, helloRequests)
			add(false, true, `"GET /error HTTP/1.1" 500`, errorRequests)
		}
	}
	if agentOn {
		// The unhandled exception, logged with its traceback in the
		// record's attributes: Flask's app logger, uvicorn's error logger.
		if w.sample.name == "uvicorn" {
			otlp("Exception in ASGI application\n", errorRequests)
		} else {
			otlp("Exception on /error [GET]", errorRequests)
		}
	}
	return out
}

// request asks the workload for /hello helloRequests times and /error
// errorRequests times.
func (w *workload) request(t *testing.T, ctx context.Context) {
	t.Helper()
	for i := 0; i < helloRequests; i++ {
		if code, body := get(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/hello", w.port)); code != 200 || body != "world!" {
			t.Fatalf("%s: GET /hello = %d %q", w.name, code, body)
		}
	}
	for i := 0; i < errorRequests; i++ {
		if code, _ := get(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/error", w.port)); code != 500 {
			t.Fatalf("%s: GET /error = %d, want 500", w.name, code)
		}
	}
}

// count is how many of rows are the workload's pod's and match e.
func (w *workload) count(rows []row, e expectation) int {
	n := 0
	for _, row := range rows {
		if row.Fields["pod"] == w.pod.Name && e.matches(row) {
			n++
		}
	}
	return n
}

// testLogsReachTheStore: /hello and /error on every workload; the store
// holds exactly the expected entries per route, labelled with the real
// pod, each line once per the workload's log path.
func testLogsReachTheStore(t *testing.T, r *seedRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	byPod := map[string]*workload{}
	for _, w := range r.workloads {
		byPod[w.pod.Name] = w
		w.request(t, ctx)
	}
	query := `{namespace="` + seedNS + `"}`
	var rows []row
	var missing []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		rows = r.store.query(t, query)
		missing = missing[:0]
		for _, w := range r.workloads {
			for _, e := range w.expectations() {
				if n := w.count(rows, e); n < e.want {
					missing = append(missing, fmt.Sprintf("%s: %d of %d %s", w.name, n, e.want, e))
				}
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		dumpRows(t, rows)
		t.Fatalf("the store did not receive every expected entry within a minute (%v):\n%s", err, strings.Join(missing, "\n"))
	}

	// Everything the container-log path read for otlp workloads was
	// dropped, and nothing more: the count settles at their log lines.
	var lines int
	var dropped float64
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		lines = 0
		for _, w := range r.workloads {
			if w.logs == instrumentation.LogsOTLP {
				lines += fileLines(podLogFile(w.pod, "sample"))
			}
		}
		dropped = metric(t, collectorMetrics, "otelcol_processor_filter_logs_filtered")
		return lines > 0 && int(dropped) == lines, nil
	})
	if err != nil {
		t.Fatalf("the collector dropped %v container-log lines of the otlp workloads, want all %d of them", dropped, lines)
	}
	// Late duplicates would arrive within the agent's 1 s batch delay.
	time.Sleep(2 * time.Second)
	rows = r.store.query(t, query)

	perPath := map[string]map[bool]int{}
	for _, row := range rows {
		pod := row.Fields["pod"]
		w, ok := byPod[pod]
		if !ok {
			t.Errorf("stored entry names pod %q, which is none of the workloads' pods: %v", pod, row.Fields)
			continue
		}
		if row.Fields["namespace"] != seedNS || row.Fields["container"] != "sample" {
			t.Errorf("entry of %s labelled namespace=%q container=%q, want %q and sample", pod, row.Fields["namespace"], row.Fields["container"], seedNS)
		}
		// They are stream labels, not fields parsed from the line.
		for _, l := range []string{`pod="` + pod + `"`, `namespace="` + seedNS + `"`, `container="sample"`} {
			if !strings.Contains(row.Fields["_stream"], l) {
				t.Errorf("entry of %s: stream %s lacks %s", pod, row.Fields["_stream"], l)
			}
		}
		if !row.fromFile() && row.Line.Resources["service.name"] != w.name {
			t.Errorf("OTLP entry of %s has service.name %v, want %s", pod, row.Line.Resources["service.name"], w.name)
		}
		if perPath[pod] == nil {
			perPath[pod] = map[bool]int{}
		}
		perPath[pod][row.fromFile()]++
	}
	for _, w := range r.workloads {
		for _, e := range w.expectations() {
			if got := w.count(rows, e); got != e.want {
				t.Errorf("%s (pod %s): %d %s, want %d", w.name, w.pod.Name, got, e, e.want)
			}
		}
		switch w.logs {
		case instrumentation.LogsOTLP:
			if n := perPath[w.pod.Name][true]; n != 0 {
				t.Errorf("%s is annotated autotel.io/logs: otlp, yet %d of its container-log lines were stored", w.name, n)
			}
		case instrumentation.LogsStdout:
			if n := perPath[w.pod.Name][false]; n != 0 {
				t.Errorf("%s is annotated autotel.io/logs: stdout, yet its SDK exported %d records", w.name, n)
			}
		}
		t.Logf("%s (pod %s, logs %q): %d entries over OTLP, %d from the container log:\n%s", w.name, w.pod.Name, w.logs,
			perPath[w.pod.Name][false], perPath[w.pod.Name][true], summary(rows, w.pod.Name))
	}
	t.Logf("container-log lines of otlp workloads dropped by the collector: %d", lines)
	if t.Failed() {
		dumpRows(t, rows)
	}
}

func path(fromFile bool) string {
	if fromFile {
		return "the container log"
	}
	return "OTLP"
}

// summary counts a pod's stored entries by path and first line of body.
func summary(rows []row, pod string) string {
	n := map[string]int{}
	for _, r := range rows {
		if r.Fields["pod"] == pod {
			first, _, _ := strings.Cut(r.body(), "\n")
			if len(first) > 90 {
				first = first[:90] + "..."
			}
			n[fmt.Sprintf("%-17s %q", path(r.fromFile()), first)]++
		}
	}
	var lines []string
	for k, v := range n {
		lines = append(lines, fmt.Sprintf("  %3d x %s", v, k))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func dumpRows(t *testing.T, rows []row) {
	t.Helper()
	for _, r := range rows {
		t.Logf("stored: pod=%s %s body=%q", r.Fields["pod"], path(r.fromFile()), r.body())
	}
}

// testRollout: a change to the Instrumentation (a new spec.python.env
// value) restarts every workload once, like `kubectl rollout restart`, and
// the new pods carry the value.
func testRollout(t *testing.T, r *seedRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := r.c
	key := types.NamespacedName{Namespace: seedNS, Name: seedInst}
	var inst v1alpha1.Instrumentation
	if err := c.client.Get(ctx, key, &inst); err != nil {
		t.Fatal(err)
	}
	// Before: the pods carry the injected hash, and nothing is outdated.
	before := inst.Status.SpecHash
	if before == "" || inst.Status.Pods != int32(len(r.workloads)) || inst.Status.OutdatedPods != 0 {
		t.Fatalf("Instrumentation status before the change: %+v, want %d pods, none outdated", inst.Status, len(r.workloads))
	}
	old := map[string]*corev1.Pod{}
	for _, w := range r.workloads {
		old[w.name] = w.pod
		if w.pod.Labels[instrumentation.InjectedLabel] != "true" {
			t.Fatalf("pod %s lacks the %s label rollout finds pods by", w.pod.Name, instrumentation.InjectedLabel)
		}
	}

	inst.Spec.Python.Env = append(inst.Spec.Python.Env, corev1.EnvVar{Name: "OTEL_BLRP_SCHEDULE_DELAY", Value: "500"})
	if err := c.client.Update(ctx, &inst); err != nil {
		t.Fatalf("changing the Instrumentation: %v", err)
	}
	start := time.Now()
	for _, w := range r.workloads {
		prev := old[w.name]
		w.pod = c.waitPod(t, ctx, seedNS, client.MatchingLabels{"app": w.name}, "replaced and Running", func(p *corev1.Pod) bool {
			return p.UID != prev.UID && running(p)
		})
		checkInjected(t, c, w, "500")
	}
	t.Logf("all %d workloads restarted with the change in %s", len(r.workloads), time.Since(start).Round(time.Second))

	var after string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.client.Get(ctx, key, &inst); err != nil {
			return false, nil
		}
		after = inst.Status.SpecHash
		return after != before && inst.Status.Pods == int32(len(r.workloads)) && inst.Status.OutdatedPods == 0, nil
	})
	if err != nil {
		t.Fatalf("Instrumentation status after the rollout: %+v (hash before %s), want %d pods, none outdated", inst.Status, before, len(r.workloads))
	}

	// Give the controller every chance to restart twice: a metadata-only
	// change reconciles the Instrumentation again.
	if err := c.client.Patch(ctx, &inst, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"e2e.autotel.io/poke":"1"}}}`))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)

	var events corev1.EventList
	if err := c.client.List(ctx, &events, client.InNamespace(seedNS)); err != nil {
		t.Fatal(err)
	}
	for _, w := range r.workloads {
		var dep appsv1.Deployment
		if err := c.client.Get(ctx, types.NamespacedName{Namespace: seedNS, Name: w.name}, &dep); err != nil {
			t.Fatal(err)
		}
		if got := dep.Annotations[controllers.RolledOutAnnotation]; got != after {
			t.Errorf("%s: %s = %q, want the new spec hash %q", w.name, controllers.RolledOutAnnotation, got, after)
		}
		if dep.Spec.Template.Annotations[controllers.RestartedAtAnnotation] == "" {
			t.Errorf("%s: pod template lacks %s", w.name, controllers.RestartedAtAnnotation)
		}
		var rss appsv1.ReplicaSetList
		if err := c.client.List(ctx, &rss, client.InNamespace(seedNS), client.MatchingLabels{"app": w.name}); err != nil {
			t.Fatal(err)
		}
		if len(rss.Items) != 2 {
			t.Errorf("%s: %d ReplicaSets, want 2 (the original and one restart)", w.name, len(rss.Items))
		}
		var pods corev1.PodList
		if err := c.client.List(ctx, &pods, client.InNamespace(seedNS), client.MatchingLabels{"app": w.name}); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 1 || pods.Items[0].UID != w.pod.UID {
			var names []string
			for _, p := range pods.Items {
				names = append(names, p.Name)
			}
			t.Errorf("%s: pods %v after the rollout settled, want only %s", w.name, names, w.pod.Name)
		}
		var n int32
		for _, e := range events.Items {
			if e.InvolvedObject.Kind == "Deployment" && e.InvolvedObject.Name == w.name && e.Reason == "InstrumentationRollout" {
				n += max(e.Count, 1)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d InstrumentationRollout events, want 1", w.name, n)
		}
	}

	// The restarted seed pod still delivers, under its new name.
	w := r.workloads[0]
	if code, body := get(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/hello", w.port)); code != 200 || body != "world!" {
		t.Fatalf("%s after the rollout: GET /hello = %d %q", w.name, code, body)
	}
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		n := 0
		for _, row := range r.store.query(t, `{pod="`+w.pod.Name+`"}`) {
			if !row.fromFile() && row.body() == "hello called" {
				n++
			}
		}
		return n == 1, nil
	})
	if err != nil {
		t.Fatalf("the restarted pod %s's /hello record did not reach the store: %v", w.pod.Name, err)
	}
}

func waitListening(t *testing.T, ctx context.Context, port int) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
	if err != nil {
		t.Fatalf("nothing listens on %s: %v", addr, err)
	}
}

// readEnviron is environ without failing the test (processes come and go).
func readEnviron(pid int) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env, nil
}
