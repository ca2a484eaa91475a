//go:build demo

// Package demo runs `make demo` (hack/demo.sh) end to end on the one-node
// cluster, the way a newcomer would, and checks what it prints: the injected
// pod, the stored log lines with the seed's labels naming that real pod, the
// /hello and /error records, each request's trace (spans in the collector's
// trace file, log lines in the store sharing its trace id, for each of the
// three sample apps under the real OpenTelemetry Python SDK), and how to
// reach and stop everything. Then
// `hack/demo.sh down`, after which nothing of the demo may be left running.
//
// The build tag keeps `go test ./...` from starting a kubelet:
//
//	go test -tags demo -timeout 60m -count=1 ./test/demo/
package demo

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/otlpfile"
	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/repo"
)

const (
	storeAddr = "127.0.0.1:9428"
	appNS     = "example"
	initName  = "opentelemetry-auto-instrumentation-python"
	agentRef  = "autotel.local/autoinstrumentation-python:dev"
	sdkRef    = "autotel.local/otel/autoinstrumentation-python:0.64b0"
	// What the test's --python-image tarball is tagged: an image the node
	// has never seen, so only the flag can have brought it there.
	retaggedRef = "example.local/autoinstrumentation-python:demo-test"
)

// Every port the demo's parts listen on: etcd, API server, kubelet, the
// store, the operator (webhook, metrics, probes), the collector, the apps.
var demoPorts = []int{2379, 6443, 10250, 9428, 9443, 8080, 8081, 4317, 4318, 8888, 13133, 5000, 8000}

type demo struct {
	root, stateRoot, cacheRoot string
}

func TestDemo(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	d := &demo{
		root:      root,
		stateRoot: envOr("AUTOTEL_STATE", filepath.Join(envOr("XDG_STATE_HOME", filepath.Join(home, ".local", "state")), "autotel")),
		cacheRoot: envOr("AUTOTEL_CACHE", filepath.Join(envOr("XDG_CACHE_HOME", filepath.Join(home, ".cache")), "autotel")),
	}
	// The demo reuses a running cluster and its down stops it: a cluster
	// someone else runs must not be taken over, nor a port they hold.
	if out, err := d.run(t, time.Minute, "hack/cluster.sh", "status"); exitCode(err) != 3 {
		t.Fatalf("a one-node cluster is already (partly) running on this machine; the demo test brings up and stops its own. Stop it first (hack/demo.sh down).\n%s", out)
	}
	for _, p := range demoPorts {
		if listening(p) {
			t.Fatalf("port %d on 127.0.0.1 is in use before the demo started; the demo needs %v", p, demoPorts)
		}
	}

	var downDone bool
	var daemons map[string]int
	t.Cleanup(func() {
		if !downDone {
			if out, err := d.run(t, 5*time.Minute, "hack/demo.sh", "down"); err != nil {
				t.Errorf("hack/demo.sh down (cleanup): %v\n%s", err, out)
			}
		}
	})

	// 1. The demo as `make demo` runs it, from whatever the caches hold
	// (cold in a fresh CI machine: the cluster's binaries are built first).
	out := d.up(t, 50*time.Minute)
	t.Logf("its output:\n%s", out)
	storePID := d.check(t, out, "flask", 5000, sdkRef)
	d.checkTraces(t, out)
	if storePID == 0 {
		t.Fatalf("the first run did not say it started VictoriaLogs with a pid:\n%s", out)
	}
	daemons = d.clusterPIDs(t)

	// 2. Run again on the running demo with another sample: the cluster, the
	// store and the release are reused, the workload is made anew.
	out = d.up(t, 10*time.Minute, "--app", "gunicorn")
	d.check(t, out, "gunicorn", 8000, sdkRef)
	d.checkTraces(t, out)
	if !strings.Contains(out, fmt.Sprintf("VictoriaLogs already running (pid %d)", storePID)) {
		t.Errorf("the re-run did not reuse the running store (pid %d):\n%s", storePID, out)
	}

	// 3. --python-image with a tarball, as a user would pass upstream's
	// image saved from Docker. The SDK image retagged stands in for it.
	tarball := d.retaggedAgent(t)
	out = d.up(t, 10*time.Minute, "--app", "uvicorn", "--python-image", tarball)
	d.check(t, out, "uvicorn", 8000, retaggedRef)
	d.checkTraces(t, out)
	if !strings.Contains(out, "spec.python.image: "+retaggedRef) {
		t.Errorf("the output does not explain the --python-image change to the Instrumentation:\n%s", out)
	}

	// 3b. autotel's log agent, as the demo ran before the SDK: logs only.
	out = d.up(t, 10*time.Minute, "--python-agent", "logs")
	d.check(t, out, "flask", 5000, agentRef)
	for _, want := range []string{"autotel.io/python-agent: logs (--python-agent logs)", "autotel's log agent sends no spans"} {
		if !strings.Contains(out, want) {
			t.Errorf("the --python-agent logs run does not say %q:\n%s", want, out)
		}
	}

	// 4. down: nothing of the demo may be left, and a second down is harmless.
	start := time.Now()
	out, err = d.run(t, 5*time.Minute, "hack/demo.sh", "down")
	downDone = true
	if err != nil {
		t.Fatalf("hack/demo.sh down: %v\n%s", err, out)
	}
	t.Logf("demo down in %s", time.Since(start).Round(time.Second))
	for _, want := range []string{"helm uninstall autotel", fmt.Sprintf("stopping VictoriaLogs (pid %d)", storePID), "demo: down"} {
		if !strings.Contains(out, want) {
			t.Errorf("hack/demo.sh down did not say %q:\n%s", want, out)
		}
	}
	d.checkNothingLeft(t, storePID, daemons)
	if out, err := d.run(t, 5*time.Minute, "hack/demo.sh", "down"); err != nil {
		t.Errorf("a second hack/demo.sh down failed: %v\n%s", err, out)
	}
}

// up runs hack/demo.sh with args, failing the test when it fails, and
// returns its output.
func (d *demo) up(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	start := time.Now()
	out, err := d.run(t, timeout, "hack/demo.sh", args...)
	if err != nil {
		t.Fatalf("hack/demo.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("hack/demo.sh %s: up in %s", strings.Join(args, " "), time.Since(start).Round(time.Second))
	return out
}

// check asserts one run's output against the cluster and the store, and
// returns the store's pid when the run started it.
func (d *demo) check(t *testing.T, out, app string, port int, pythonImage string) int {
	t.Helper()
	pod := match(t, out, `==> 8/8 Log records stored in VictoriaLogs for pod example/(\S+), with their labels`)

	// The pod the output names is the one running now, injected.
	env := d.clusterEnv(t)
	kubectl := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(env["KUBE_BIN"], "kubectl"), append([]string{"--kubeconfig", env["KUBECONFIG"]}, args...)...)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
		}
		return string(b)
	}
	if got := kubectl("-n", appNS, "get", "pods", "-l", "app=sample", "-o", "jsonpath={.items[*].metadata.name} {.items[*].status.phase}"); got != pod+" Running" {
		t.Errorf("the cluster's sample pods are %q, the output names %s", got, pod)
	}
	if got := kubectl("-n", appNS, "get", "pod", pod, "-o", "jsonpath={.spec.initContainers[0].name} {.spec.initContainers[0].image} {.status.initContainerStatuses[0].state.terminated.exitCode} {.spec.containers[0].image}"); got != fmt.Sprintf("%s %s 0 autotel.local/examples/%s:dev", initName, pythonImage, app) {
		t.Errorf("pod %s: init container, its image, exit code and the app image are %q", pod, got)
	}

	// What the output shows about the pod.
	for _, want := range []string{
		"init container (added by autotel's webhook): " + initName,
		"image:   " + pythonImage,
		"exited:  0",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://$(OTEL_NODE_IP):4318",
		// As the app process sees it: the kubelet resolved the reference.
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318",
		"k8s.pod.name=" + pod + ",",
		"PYTHONPATH=/otel-auto-instrumentation-python/opentelemetry/instrumentation/auto_instrumentation:/otel-auto-instrumentation-python",
		"spec.exporter.endpoint: http://otel-collector:4318 -> http://$(OTEL_NODE_IP):4318",
		fmt.Sprintf("GET http://127.0.0.1:%d/hello -> HTTP 200 world!", port),
		fmt.Sprintf("GET http://127.0.0.1:%d/error -> HTTP 500", port),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// The stored lines, each with its labels.
	entries := storedLines(t, out)
	if n := match(t, out, `\n    (\d+) records; labels pod, namespace, container`); n != strconv.Itoa(len(entries)) {
		t.Errorf("the output counts %s records but prints %d", n, len(entries))
	}
	bodies := map[string]bool{}
	for _, e := range entries {
		want := map[string]string{"pod": pod, "namespace": appNS, "container": "sample", "exporter": "OTLP", "job": appNS + "/sample"}
		for k, v := range want {
			if e.labels[k] != v {
				t.Errorf("stored line has label %s=%q, want %q (labels %v)", k, e.labels[k], v, e.labels)
			}
		}
		if got := e.line.Resources["k8s.pod.name"]; got != pod {
			t.Errorf("stored line's resource k8s.pod.name = %v, want %s", got, pod)
		}
		if b, ok := e.line.Body.(string); ok {
			bodies[b] = true
		}
	}
	for _, want := range []string{"hello called", "error called; raising"} {
		if !bodies[want] {
			t.Errorf("no stored line with body %q among %d: %v", want, len(entries), bodies)
		}
	}
	// print() goes to stdout only: the seed's pipeline has no filelog receiver.
	for b := range bodies {
		if strings.HasPrefix(b, "print: ") {
			t.Errorf("stored a print() line %q; the seed's pipeline only carries logging records", b)
		}
	}
	// The printed lines are the store's, not an echo of what was sent.
	if n := storeCount(t, pod); n != len(entries) {
		t.Errorf("the store holds %d entries for pod %s, the output printed %d", n, pod, len(entries))
	}

	// How to reach and how to stop.
	for _, want := range []string{
		"==> How to reach each part",
		"export KUBECONFIG=" + env["KUBECONFIG"],
		"export PATH=" + env["KUBE_BIN"] + ":",
		"kubectl -n autotel-system logs deployment/autotel-operator",
		"kubectl -n autotel-system logs daemonset/autotel-collector",
		fmt.Sprintf("curl http://127.0.0.1:%d/hello", port),
		"curl http://" + storeAddr + "/select/logsql/query --data-urlencode 'query=namespace:=\"example\"'",
		"==> How to stop it",
		"make demo-down        # or: hack/demo.sh down",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The query the output tells the user to run answers.
	if n := storeCountQuery(t, `namespace:="example"`); n < len(entries) {
		t.Errorf("the advertised query returns %d entries, fewer than the %d printed", n, len(entries))
	}
	if m := regexp.MustCompile(`VictoriaLogs started \(pid (\d+)\)`).FindStringSubmatch(out); m != nil {
		pid, _ := strconv.Atoi(m[1])
		return pid
	}
	return 0
}

// checkTraces asserts what step 7 shows for /hello and /error under the
// SDK, against the trace file and the store themselves: each request's
// trace id and span are in the collector's trace file (the span naming the
// path, /error's marked an error), the store holds log lines of the pod
// with that traceid and the spanid of the request's span or one below it,
// and the pod's stored lines carry trace ids.
func (d *demo) checkTraces(t *testing.T, out string) {
	t.Helper()
	pod := match(t, out, `==> 8/8 Log records stored in VictoriaLogs for pod example/(\S+), with their labels`)
	file := filepath.Join(d.stateRoot, "demo", "collector", "autotel-system", "traces.jsonl")
	if !strings.Contains(out, "spans: the collector's file exporter, "+file) {
		t.Errorf("the output does not name the trace file %s:\n%s", file, out)
	}
	c, err := otlpfile.ReadFile(file)
	if err != nil {
		t.Fatalf("reading the collector's trace file: %v", err)
	}
	rows := storeRows(t, fmt.Sprintf("pod:=%q", pod))
	withID := 0
	for _, r := range rows {
		if tid, _ := lineIDs(t, r); tid != "" {
			withID++
		}
	}
	if withID == 0 {
		t.Errorf("none of the %d stored lines of pod %s has a traceid", len(rows), pod)
	}
	for _, path := range []string{"/hello", "/error"} {
		m := regexp.MustCompile(`GET http://127\.0\.0\.1:\d+` + path + ` -> HTTP \d+[^\n]*\n\s+trace ([0-9a-f]{32}), \d+ span\(s\) of this request[^\n]*\n\s+span ([0-9a-f]{16}) `).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("GET %s: the output shows no trace id and span:\n%s", path, out)
			continue
		}
		id, spanID := m[1], m[2]
		spans := c.Trace(id)
		var req *otlpfile.Span
		for i := range spans {
			if spans[i].SpanID == spanID {
				req = &spans[i]
			}
		}
		if req == nil {
			t.Errorf("GET %s: span %s of trace %s is not in %s (the trace has %d spans)", path, spanID, id, file, len(spans))
			continue
		}
		if !strings.Contains(req.Name, path) || req.Service != "sample" || (req.Kind != "Server" && req.Kind != "Internal") {
			t.Errorf("GET %s: span %q kind %s of service %q", path, req.Name, req.Kind, req.Service)
		}
		isErr := req.StatusCode == "Error" || req.Attributes["http.status_code"] == int64(500) || req.Attributes["http.response.status_code"] == int64(500)
		if isErr != (path == "/error") {
			t.Errorf("GET %s: span status %s, attributes %v", path, req.StatusCode, req.Attributes)
		}
		// The request's span and those below it.
		mine := map[string]bool{spanID: true}
		for grew := true; grew; {
			grew = false
			for _, sp := range spans {
				if !mine[sp.SpanID] && mine[sp.ParentSpanID] {
					mine[sp.SpanID], grew = true, true
				}
			}
		}
		n := 0
		for _, r := range rows {
			if tid, sid := lineIDs(t, r); tid == id && mine[sid] {
				n++
			}
		}
		if n == 0 {
			t.Errorf("GET %s: no stored line of pod %s has traceid %s and a spanid of the request's spans", path, pod, id)
		}
		if !strings.Contains(out, fmt.Sprintf("%d stored log line(s) with traceid %s", n, id)) {
			t.Errorf("GET %s: the output does not say %d stored lines have traceid %s", path, n, id)
		}
	}
}

func lineIDs(t *testing.T, msg string) (traceID, spanID string) {
	t.Helper()
	var l struct {
		TraceID string `json:"traceid"`
		SpanID  string `json:"spanid"`
	}
	if err := json.Unmarshal([]byte(msg), &l); err != nil {
		t.Errorf("stored line is not JSON: %v: %s", err, msg)
	}
	return l.TraceID, l.SpanID
}

// storeRows returns the stored lines (_msg) matching the LogsQL query q.
func storeRows(t *testing.T, q string) []string {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.PostForm("http://"+storeAddr+"/select/logsql/query", url.Values{"query": {q}})
	if err != nil {
		t.Fatalf("querying the store: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("query %q: HTTP %d: %s", q, resp.StatusCode, b)
	}
	dec := json.NewDecoder(resp.Body)
	var msgs []string
	for {
		var r struct {
			Msg string `json:"_msg"`
		}
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("query %q: answer is not JSON lines: %v", q, err)
		}
		msgs = append(msgs, r.Msg)
	}
	return msgs
}

type entry struct {
	labels map[string]string
	line   struct {
		Body       any            `json:"body"`
		Severity   string         `json:"severity"`
		Attributes map[string]any `json:"attributes"`
		Resources  map[string]any `json:"resources"`
	}
}

var (
	entryRe = regexp.MustCompile(`^(\{[^{}]*\}) (\{.*\})$`)
	labelRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// storedLines parses the `{labels} line` rows of the last step.
func storedLines(t *testing.T, out string) []entry {
	t.Helper()
	i := strings.Index(out, "==> 8/8 ")
	j := strings.Index(out, "==> How to reach each part")
	if i < 0 || j < i {
		t.Fatalf("output lacks the stored-lines step followed by the how-to:\n%s", out)
	}
	var entries []entry
	for _, l := range strings.Split(out[i:j], "\n") {
		m := entryRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var e entry
		e.labels = map[string]string{}
		for _, kv := range labelRe.FindAllStringSubmatch(m[1], -1) {
			e.labels[kv[1]] = kv[2]
		}
		if err := json.Unmarshal([]byte(m[2]), &e.line); err != nil {
			t.Errorf("printed line is not the loki exporter's JSON: %v\n%s", err, m[2])
			continue
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		t.Fatalf("no `{labels} line` rows in the stored-lines step:\n%s", out[i:j])
	}
	return entries
}

func storeCount(t *testing.T, pod string) int {
	return storeCountQuery(t, fmt.Sprintf("pod:=%q", pod))
}

func storeCountQuery(t *testing.T, q string) int {
	t.Helper()
	return len(storeRows(t, q))
}

// retaggedAgent writes the SDK image's tarball (hack/cluster-images.sh
// builds it) under another name.
func (d *demo) retaggedAgent(t *testing.T) string {
	t.Helper()
	out, err := d.run(t, 5*time.Minute, "hack/cluster-images.sh", "build", "autoinstrumentation-python")
	if err != nil {
		t.Fatalf("hack/cluster-images.sh build autoinstrumentation-python: %v\n%s", err, out)
	}
	src := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	in, err := os.Open(src)
	if err != nil {
		t.Fatalf("opening the agent image %q: %v", src, err)
	}
	defer in.Close()
	dst := filepath.Join(t.TempDir(), "python-image.tar")
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", src, err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" {
			var m []map[string]any
			if err := json.Unmarshal(body, &m); err != nil || len(m) != 1 {
				t.Fatalf("%s: manifest.json %s: %v", src, body, err)
			}
			m[0]["RepoTags"] = []string{retaggedRef}
			body, _ = json.Marshal(m)
			h.Size = int64(len(body))
		}
		if h.Name == "repositories" {
			continue // names the old tag; docker-archive readers do not need it
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// ---------------------------------------------------------------- teardown

func (d *demo) clusterEnv(t *testing.T) map[string]string {
	t.Helper()
	out, err := d.run(t, time.Minute, "hack/cluster.sh", "env")
	if err != nil {
		t.Fatalf("hack/cluster.sh env: %v\n%s", err, out)
	}
	env := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	return env
}

func (d *demo) clusterPIDs(t *testing.T) map[string]int {
	t.Helper()
	pids := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(d.stateRoot, "cluster", "pids", "*.pid"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pids[strings.TrimSuffix(filepath.Base(f), ".pid")] = pid
		}
	}
	if len(pids) != 6 {
		t.Fatalf("want pid files for the cluster's 6 daemons, have %v", pids)
	}
	return pids
}

func (d *demo) checkNothingLeft(t *testing.T, storePID int, daemons map[string]int) {
	t.Helper()
	if proc.Alive(storePID) {
		t.Errorf("VictoriaLogs (pid %d) still running after down", storePID)
	}
	for name, pid := range daemons {
		if proc.Alive(pid) {
			t.Errorf("%s (pid %d) still running after down", name, pid)
		}
	}
	demoState, clusterState := filepath.Join(d.stateRoot, "demo"), filepath.Join(d.stateRoot, "cluster")
	for _, p := range proc.Others() {
		if strings.Contains(p.Cmdline, demoState+"/") || strings.Contains(p.Cmdline, clusterState+"/") || strings.Contains(p.Cgroup, "/k8s.io/") {
			t.Errorf("process left after down: pid %d: %s", p.Pid, p.Cmdline)
		}
	}
	for _, p := range demoPorts {
		if listening(p) {
			t.Errorf("port %d still accepts connections after down", p)
		}
	}
	if out, err := d.run(t, time.Minute, "hack/cluster.sh", "status"); exitCode(err) != 3 {
		t.Errorf("hack/cluster.sh status after down: want exit 3 (nothing running), got %v:\n%s", err, out)
	}
	for _, dir := range []string{demoState, clusterState} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "logs" {
				t.Errorf("state left after down: %s", filepath.Join(dir, e.Name()))
			}
		}
	}
}

// ---------------------------------------------------------------- helpers

// run starts a repository script, streams its stderr to the test's (progress
// with -v) and returns its stdout, within a bounded time.
func (d *demo) run(t *testing.T, timeout time.Duration, script string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(d.root, script)}, args...)...)
	cmd.Dir = d.root
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	// The scripts start daemons in their own sessions, which hold none of
	// these pipes; this bounds the wait should one ever keep them.
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %s: %w", script, timeout, err)
	}
	return stdout.String(), err
}

func match(t *testing.T, out, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output does not match %s:\n%s", re, out)
	}
	return m[1]
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
