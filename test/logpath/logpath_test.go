package logpath

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/syncbuf"
	corev1 "k8s.io/api/core/v1"
)

// The per-workload log path (issue 5, item 5): a workload annotated
// autotel.io/logs: otlp ships its lines through its SDK (here autotel's
// Python agent, which then also captures print()); one annotated stdout
// ships them through the node's container logs, which the collector's
// filelog receiver reads. The collector drops the container-log records of
// otlp pods (testdata/logpath-collector.yaml), so every line is stored
// once, by one path, and the console stays as it was.

const logsAnnotation = "autotel.io/logs"

// canaryPod has a container log but no pod in the API server.
const canaryPod = "canary-0"

// pathCase is one workload of TestPerWorkloadLogPath.
type pathCase struct {
	deployment string
	namespace  string
	kind       serverKind
	// path is the log path the workload ends up with; podAnnotation is
	// what its pod template says ("" leaves it to the namespace).
	path          string
	podAnnotation string

	pod   *corev1.Pod
	srv   *server
	port  int
	hello []string // request ids of /hello
	error []string // request ids of /error
	// servedBy maps a /hello request id to the worker pid that answered.
	servedBy map[string]int
	mu       sync.Mutex
}

func (c *pathCase) logPathOTLP() bool { return c.path == "otlp" }

// traceparent is the W3C header of request id's trace: a trace and span
// id derived from the id, so each record can be checked against its
// request.
func traceparent(id string) (header, traceID, spanID string) {
	sum := sha256.Sum256([]byte(id))
	traceID, spanID = hex.EncodeToString(sum[:16]), hex.EncodeToString(sum[16:24])
	return "00-" + traceID + "-" + spanID + "-01", traceID, spanID
}

// TestPerWorkloadLogPath runs two workloads per server kind, one per log
// path, plus one that takes otlp from its namespace's annotation, all at
// once on one node, behind one collector: the seed's pipeline with the
// chart's filelog and k8sattributes presets and the log path filter.
func TestPerWorkloadLogPath(t *testing.T) {
	vl := startVictoriaLogs(t)
	cports := newCollectorPorts(t)
	logRoot := filepath.Join(t.TempDir(), "var", "log", "pods")
	if err := os.MkdirAll(logRoot, 0o755); err != nil {
		t.Fatal(err)
	}

	ensureNamespace(t, "shop", nil)
	ensureNamespace(t, "shop-otlp", map[string]string{logsAnnotation: "otlp"})
	for _, ns := range []string{"shop", "shop-otlp"} {
		applyInstrumentation(t, ns, seedInstrumentation(t, cports.otlpHTTP()))
	}

	cases := []*pathCase{
		{deployment: "flask-otlp", namespace: "shop", kind: flaskDev, path: "otlp", podAnnotation: "otlp"},
		{deployment: "flask-stdout", namespace: "shop", kind: flaskDev, path: "stdout", podAnnotation: "stdout"},
		{deployment: "gunicorn-otlp", namespace: "shop", kind: gunicorn, path: "otlp", podAnnotation: "otlp"},
		{deployment: "gunicorn-stdout", namespace: "shop", kind: gunicorn, path: "stdout", podAnnotation: "stdout"},
		{deployment: "uvicorn-otlp", namespace: "shop", kind: uvicorn, path: "otlp", podAnnotation: "otlp"},
		{deployment: "uvicorn-stdout", namespace: "shop", kind: uvicorn, path: "stdout", podAnnotation: "stdout"},
		{deployment: "flask-nsotlp", namespace: "shop-otlp", kind: flaskDev, path: "otlp"},
	}
	// The apps ship the OpenTelemetry API (the harness's stand-in for it:
	// no Debian package has it) on their own PYTHONPATH, which the webhook
	// keeps behind the agent's folders.
	otelAPI := corev1.EnvVar{Name: "PYTHONPATH", Value: filepath.Join(repoRoot, "agent", "python", "harness", "testdata", "otelapi")}
	// Pods first: the collector's k8sattributes then has them all when it
	// reports ready (wait_for_metadata), as a node's collector has the
	// pods long before their containers write.
	for _, c := range cases {
		c.port = ports.Free(t)
		annotations := map[string]string{}
		if c.podAnnotation != "" {
			annotations[logsAnnotation] = c.podAnnotation
		}
		c.pod = createPod(t, workload{namespace: c.namespace, deployment: c.deployment, container: "app",
			image: "shop/" + c.deployment + ":1.0", annotations: annotations, env: appEnv(c.kind, c.port, otelAPI)})
	}

	col := startCollector(t, filepath.Join("testdata", "logpath-collector.yaml"), cports,
		[]string{"MY_POD_IP=127.0.0.1", "LOKI_PUSH_ENDPOINT=" + vl.pushURL(), "K8S_NODE_NAME=" + nodeName, "KUBECONFIG=" + collectorKubeconfig(t)},
		fmt.Sprintf("receivers::filelog::include: [%s/*/*/*.log]", logRoot),
		fmt.Sprintf("receivers::filelog::exclude: [%s/autotel-system_autotel-collector*_*/collector/*.log]", logRoot))

	waitFilelogPolling(t, vl, logRoot)

	appsDir, err := filepath.Abs(filepath.Join("testdata", "apps"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		c.srv = startServer(t, c.pod, "app", c.kind, c.port, logRoot, appsDir)
	}
	for _, c := range cases {
		c.srv.waitReady()
		if c.kind == gunicorn {
			// "Booting worker" comes before a worker imports the app.
			c.srv.waitConsole(regexp.MustCompile(`worker ready pid=\d+`), 4, 60*time.Second)
		}
	}

	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		go func() { defer wg.Done(); c.sendRequests(t) }()
	}
	wg.Wait()
	for _, c := range cases {
		wg.Add(1)
		go func() { defer wg.Done(); c.srv.stopAsKubelet() }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Wait until filelog has read every line of the apps' container logs
	// and the canary's lines it read (those its file held at the first
	// poll are skipped by start_at: end), and all is delivered.
	logLines := map[*pathCase][]criLine{}
	appLines, otlpLines := 0, 0
	for _, c := range cases {
		logLines[c] = readContainerLog(t, c.srv.logFile)
		appLines += len(logLines[c])
		if c.logPathOTLP() {
			otlpLines += len(logLines[c])
		}
	}
	recs := waitDelivered(t, col, vl, func(recs []record, n counts) (bool, string) {
		canaries := len(filterRecs(recs, func(r record) bool { return r.Labels["pod"] == canaryPod }))
		return n.filelog == float64(appLines+canaries), fmt.Sprintf("filelog read %v lines, want the apps' %d and the canary's %d",
			n.filelog, appLines, canaries)
	})
	// Exactly the otlp pods' container-log lines were dropped: proof that
	// filelog read them and the filter, not chance, kept them out.
	if n := col.metric(t, "otelcol_processor_filter_logs_filtered", `filter="filter/autotel-logpath"`); n != float64(otlpLines) {
		t.Errorf("the log path filter dropped %v records, want the %d lines of the otlp pods' container logs", n, otlpLines)
	}

	for _, c := range cases {
		t.Run(c.deployment, func(t *testing.T) {
			mine := ofPod(recs, c.pod.Name)
			checkConsole(t, c, logLines[c])
			if c.logPathOTLP() {
				checkOTLPPath(t, c, mine)
			} else {
				checkStdoutPath(t, c, mine, logLines[c])
			}
		})
	}
}

// sendRequests sends /hello (with a traceparent) and /error requests; for
// gunicorn the first four hold their worker so that all four serve.
func (c *pathCase) sendRequests(t *testing.T) {
	c.servedBy = map[string]int{}
	hello := func(id string, hold bool) {
		h, _, _ := traceparent(id)
		path := "/hello?id=" + id
		if hold {
			path += "&hold=1"
		}
		code, body := get(t, c.port, path, http.Header{"Traceparent": {h}})
		if code != 200 {
			t.Errorf("%s %s: HTTP %d", c.deployment, path, code)
			return
		}
		c.mu.Lock()
		c.servedBy[id] = servedBy(t, body)
		c.mu.Unlock()
	}
	for i := 0; i < 6; i++ {
		c.hello = append(c.hello, fmt.Sprintf("%s.h%02d", c.deployment, i))
	}
	for i := 0; i < 2; i++ {
		c.error = append(c.error, fmt.Sprintf("%s.e%02d", c.deployment, i))
	}
	rest := c.hello
	if c.kind == gunicorn {
		var wg sync.WaitGroup
		for _, id := range c.hello[:4] {
			wg.Add(1)
			go func() { defer wg.Done(); hello(id, true) }()
		}
		wg.Wait()
		workers := map[int]bool{}
		for _, pid := range c.servedBy {
			workers[pid] = true
		}
		if len(workers) != 4 {
			t.Errorf("%s: held requests served by %d workers, want 4", c.deployment, len(workers))
		}
		rest = c.hello[4:]
	}
	for _, id := range rest {
		hello(id, false)
	}
	for _, id := range c.error {
		h, _, _ := traceparent(id)
		if code, _ := get(t, c.port, "/error?id="+id, http.Header{"Traceparent": {h}}); code != 500 {
			t.Errorf("%s /error: HTTP %d", c.deployment, code)
		}
	}
}

// waitFilelogPolling writes a container log for a pod the API server does
// not know until one of its lines is stored: filelog's first poll is then
// over (start_at: end skips what files hold at the first poll, and reads
// files created later from their start) and a record whose pod k8sattributes
// cannot find is kept, not dropped.
func waitFilelogPolling(t *testing.T, vl *victoriaLogs, logRoot string) {
	t.Helper()
	path := filepath.Join(logRoot, "canary_"+canaryPod+"_00000000-0000-0000-0000-000000000001", "canary", "0.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &criWriter{f: f}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		redirectLogs(strings.NewReader(fmt.Sprintf("canary line %d\n", i)), "stdout", w, &syncbuf.Buffer{})
		time.Sleep(100 * time.Millisecond)
		stored := filterRecs(vl.records(t), func(r record) bool { return r.Labels["pod"] == canaryPod })
		if len(stored) > 0 {
			seen := map[string]bool{}
			for _, r := range stored {
				if seen[r.body()] || !strings.HasPrefix(r.body(), "canary line ") {
					t.Fatalf("canary record %q stored twice or mangled", r.body())
				}
				seen[r.body()] = true
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no line of a new container log reached the store within 30s: filelog is not reading " + logRoot)
		}
	}
}

// checkConsole: whichever the path, the app's console output is in its
// container log as without autotel: each request's log line and print()
// exactly once, and one print() at import per worker.
func checkConsole(t *testing.T, c *pathCase, log []criLine) {
	t.Helper()
	for _, id := range c.hello {
		var logLine string
		switch c.kind {
		case flaskDev:
			logLine = "INFO flask_app: hello request " + id + "\n"
		case gunicorn: // Flask's default handler: "[time] INFO in flask_app: ..."
			logLine = "] INFO in flask_app: hello request " + id + "\n"
		case uvicorn:
			logLine = "INFO:root:hello request " + id + "\n"
		}
		wantConsole(t, log, "stderr", logLine, 1)
		wantConsole(t, log, "stdout", "print from hello "+id, 1)
	}
	for _, id := range c.error {
		wantConsole(t, log, "stderr", "about to fail "+id+"\n", 1)
		wantConsole(t, log, "stderr", "ValueError: boom "+id+"\n", map[serverKind]int{flaskDev: 1, gunicorn: 1, uvicorn: 2}[c.kind])
	}
	wantConsoleMatch(t, log, "stdout", regexp.MustCompile(`worker ready pid=\d+`), c.kind.workers())
}

// checkStdoutPath: the SDK exports nothing; every line of the container
// log is stored exactly once, through filelog.
func checkStdoutPath(t *testing.T, c *pathCase, recs []record, log []criLine) {
	t.Helper()
	if v, _ := envValue(c.srv.env, "OTEL_LOGS_EXPORTER"); v != "none" {
		t.Errorf("OTEL_LOGS_EXPORTER=%q injected, want none", v)
	}
	if v, ok := envValue(c.srv.env, "AUTOTEL_PYTHON_CAPTURE_STDOUT"); ok {
		t.Errorf("AUTOTEL_PYTHON_CAPTURE_STDOUT=%s injected for the stdout path", v)
	}
	if sdk := filterRecs(recs, func(r record) bool { return !r.fromFilelog() }); len(sdk) > 0 {
		t.Errorf("%d records not from the container log (the SDK exported them), e.g. %s", len(sdk), sdk[0].Line)
	}
	// The stored lines are the container log's lines, as a multiset.
	want := map[string]int{}
	for _, l := range log {
		want[l.Stream+" "+l.Content]++
	}
	got := map[string]int{}
	for _, r := range recs {
		got[r.attr("log.iostream")+" "+r.body()]++
	}
	var diffs []string
	for k, n := range want {
		if got[k] != n {
			diffs = append(diffs, fmt.Sprintf("%q: stored %d, in the container log %d", k, got[k], n))
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			diffs = append(diffs, fmt.Sprintf("%q: stored %d, not in the container log", k, n))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("stored lines differ from the container log (%d stored, %d logged):\n%s", len(recs), len(log), strings.Join(diffs, "\n"))
	}
	for _, id := range c.hello {
		wantN(t, "stored log line of "+id, filterRecs(recs, func(r record) bool { return strings.HasSuffix(r.body(), "hello request "+id) }), 1)
		wantN(t, "stored print() of "+id, filterRecs(recs, func(r record) bool {
			return strings.Contains(r.body(), "print from hello "+id) && r.attr("log.iostream") == "stdout"
		}), 1)
	}
	for _, r := range recs {
		want := map[string]string{
			"label pod": c.pod.Name, "label namespace": c.pod.Namespace, "label container": "app", "label exporter": "OTLP",
			"resource k8s.pod.uid": string(c.pod.UID), "resource autotel.logs.pod": "stdout",
			"resource k8s.deployment.name": c.deployment,
		}
		for k, v := range want {
			got := r.res(strings.TrimPrefix(k, "resource "))
			if name, ok := strings.CutPrefix(k, "label "); ok {
				got = r.Labels[name]
			}
			if got != v {
				t.Errorf("%s: %s = %q, want %q", r, k, got, v)
				return
			}
		}
	}
}

// expected is a record a request must produce on the otlp path.
type expected struct {
	scope    string
	contains string // in the body
	exc      string // exception.message, for framework exception logs
	traced   bool   // written while the request's span was active
}

func otlpExpectations(kind serverKind, route, id string) []expected {
	appLogger, errLogger := "flask_app", "demo.app"
	if kind == uvicorn {
		appLogger, errLogger = "root", "root"
	}
	if route == "hello" {
		out := []expected{
			{scope: appLogger, contains: "hello request " + id, traced: true},
			{scope: "sys.stdout", contains: "print from hello " + id, traced: true},
		}
		switch kind {
		case flaskDev:
			out = append(out, expected{scope: "werkzeug", contains: "GET /hello?id=" + id + " HTTP/1.1"})
		case uvicorn: // uvicorn's access logger does not propagate: its stdout line is captured
			out = append(out, expected{scope: "sys.stdout", contains: `"GET /hello?id=` + id + ` HTTP/1.1" 200`})
		}
		return out
	}
	out := []expected{{scope: errLogger, contains: "about to fail " + id, traced: true}}
	switch kind {
	case flaskDev:
		out = append(out, expected{scope: "flask_app", contains: "Exception on /error [GET]", exc: "boom " + id},
			expected{scope: "werkzeug", contains: "GET /error?id=" + id + " HTTP/1.1"})
	case gunicorn:
		out = append(out, expected{scope: "flask_app", contains: "Exception on /error [GET]", exc: "boom " + id})
	case uvicorn:
		out = append(out, expected{scope: "uvicorn.error", contains: "Exception in ASGI application", exc: "boom " + id},
			expected{scope: "sys.stdout", contains: `"GET /error?id=` + id + ` HTTP/1.1" 500`})
	}
	return out
}

// checkOTLPPath: the agent exports every line, print() included, with the
// request's trace and its attributes; nothing of the pod's container log
// is stored.
func checkOTLPPath(t *testing.T, c *pathCase, recs []record) {
	t.Helper()
	if v, _ := envValue(c.srv.env, "OTEL_LOGS_EXPORTER"); v != "otlp" {
		t.Errorf("OTEL_LOGS_EXPORTER=%q injected, want otlp", v)
	}
	if v, _ := envValue(c.srv.env, "AUTOTEL_PYTHON_CAPTURE_STDOUT"); v != "true" {
		t.Errorf("AUTOTEL_PYTHON_CAPTURE_STDOUT=%q injected, want true", v)
	}
	if len(recs) == 0 {
		t.Fatal("nothing stored")
	}
	if leaked := filterRecs(recs, record.fromFilelog); len(leaked) > 0 {
		t.Errorf("%d container-log records of an otlp pod were stored, e.g. %s", len(leaked), leaked[0].Line)
	}
	check := func(route, id string) {
		mentions := filterRecs(recs, func(r record) bool { return r.mentions(id) })
		want := otlpExpectations(c.kind, route, id)
		if len(mentions) != len(want) {
			wantN(t, fmt.Sprintf("records of request %s (want %+v)", id, want), mentions, len(want))
		}
		_, traceID, spanID := traceparent(id)
		for _, e := range want {
			got := filterRecs(mentions, func(r record) bool {
				return r.scope() == e.scope && strings.Contains(r.body(), e.contains) && (e.exc == "" || r.attr("exception.message") == e.exc)
			})
			wantN(t, fmt.Sprintf("request %s: %s %q", id, e.scope, e.contains), got, 1)
			for _, r := range got {
				if e.traced && (r.TraceID != traceID || r.SpanID != spanID || r.Flags != 1) {
					t.Errorf("%s: trace %q span %q flags %d, want the request's %s %s 1", r, r.TraceID, r.SpanID, r.Flags, traceID, spanID)
				}
				if !e.traced && (r.TraceID != "" || r.SpanID != "") {
					t.Errorf("%s: logged outside the request's span but carries trace %q", r, r.TraceID)
				}
				if r.res("telemetry.sdk.name") != "autotel" || r.res("k8s.pod.name") != c.pod.Name || r.Labels["pod"] != c.pod.Name {
					t.Errorf("%s: not the agent's record of this pod: %s", r, r.Line)
				}
				switch {
				case e.scope == "sys.stdout":
					if r.attr("log.iostream") != "stdout" {
						t.Errorf("%s: captured line without log.iostream=stdout: %s", r, r.Line)
					}
				case strings.HasPrefix(e.contains, "hello request") || strings.HasPrefix(e.contains, "about to fail"):
					if r.attr("request_id") != id || r.attr("worker_pid") != r.res("process.pid") ||
						r.attr("code.function.name") == "" || r.attr("code.file.path") == "" || r.attr("code.line.number") == "" {
						t.Errorf("%s: the app's extra= and code attributes missing: %s", r, r.Line)
					}
				}
			}
		}
	}
	for _, id := range c.hello {
		check("hello", id)
		if rs := filterRecs(recs, scopeBody("sys.stdout", "print from hello "+id)); len(rs) == 1 {
			if got, want := rs[0].res("process.pid"), fmt.Sprint(c.servedBy[id]); got != want {
				t.Errorf("print of %s exported by pid %s, served by %s", id, got, want)
			}
		}
	}
	for _, id := range c.error {
		check("error", id)
	}
	wantN(t, "app loaded log line, once per worker", filterRecs(recs, func(r record) bool {
		return strings.HasPrefix(r.body(), "app loaded pid=")
	}), c.kind.workers())
	wantN(t, "print() at import, once per worker", filterRecs(recs, scopeBody("sys.stdout", "worker ready pid=")), c.kind.workers())

	if c.kind == gunicorn {
		// gunicorn's own loggers do not propagate to the root logger, so
		// the agent sees their lines only on sys.stderr. With the otlp path
		// the collector drops the pod's container log, so if the agent does
		// not capture stderr these lines (worker boots, and worse, worker
		// timeouts and crashes) are stored nowhere.
		booted := filterRecs(recs, func(r record) bool {
			return r.scope() == "sys.stderr" && regexp.MustCompile(`\[INFO\] Booting worker with pid: \d+`).MatchString(r.body())
		})
		if len(booted) != 4 {
			t.Errorf("gunicorn's 4 \"Booting worker\" stderr lines: %d stored, want 4. The otlp log path must capture stderr too "+
				"(internal/instrumentation/logs.go applyLogPath sets AUTOTEL_PYTHON_CAPTURE_STDOUT only; AUTOTEL_PYTHON_CAPTURE_STDERR=%q)",
				len(booted), envOr(c.srv.env, "AUTOTEL_PYTHON_CAPTURE_STDERR"))
		}
	}
}

func envOr(env []string, name string) string {
	v, _ := envValue(env, name)
	return v
}
