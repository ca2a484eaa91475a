package logpath

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/wait"
	corev1 "k8s.io/api/core/v1"
)

// TestSeedStory is issue 4's "what must be shown", end to end without a
// cluster: the seed's Instrumentation with autotel's Python log agent as
// spec.python.image, the seed's apps on Flask's development server,
// gunicorn with 4 workers and uvicorn with 2, each in a pod the operator's
// webhook mutated, exporting to autotel-collector running the seed's
// Helm-merged pipeline (otlp -> resource -> loki), whose loki exporter
// pushes to VictoriaLogs. Records are read back with the seed's labels.
func TestSeedStory(t *testing.T) {
	vl := startVictoriaLogs(t)
	col := startCollector(t, filepath.Join(repoRoot, "collector", "testdata", "seed-merged.yaml"), newCollectorPorts(t),
		[]string{"MY_POD_IP=127.0.0.1", "LOKI_PUSH_ENDPOINT=" + vl.pushURL()})

	// The user adds the agent's print() switch to the seed's Instrumentation
	// in "example"; "example-plain" has the seed's exactly.
	ensureNamespace(t, "example", nil)
	applyInstrumentation(t, "example", seedInstrumentation(t, col.otlpHTTP,
		corev1.EnvVar{Name: "AUTOTEL_PYTHON_CAPTURE_STDOUT", Value: "true"}))
	ensureNamespace(t, "example-plain", nil)
	applyInstrumentation(t, "example-plain", seedInstrumentation(t, col.otlpHTTP))

	logRoot := t.TempDir()
	seedApps := filepath.Join(repoRoot, "agent", "python", "harness", "testdata", "apps")
	seedObserved := readSeedLine(t)

	run := func(t *testing.T, namespace, deployment string, kind serverKind) (*server, *corev1.Pod) {
		port := ports.Free(t)
		pod := createPod(t, workload{namespace: namespace, deployment: deployment, container: "sample",
			image: "sample:amd64", env: appEnv(kind, port)})
		s := startServer(t, pod, "sample", kind, port, logRoot, seedApps)
		s.waitReady()
		return s, pod
	}

	t.Run("FlaskDevServer", func(t *testing.T) {
		s, pod := run(t, "example", "sample", flaskDev)
		for i := 0; i < 5; i++ {
			if code, _ := get(t, s.port, fmt.Sprintf("/hello?id=h%d", i), nil); code != 200 {
				t.Fatalf("/hello: %d", code)
			}
		}
		for i := 0; i < 2; i++ {
			if code, _ := get(t, s.port, fmt.Sprintf("/error?id=e%d", i), nil); code != 500 {
				t.Fatalf("/error: %d", code)
			}
		}
		s.stopAsKubelet()
		recs := ofPod(waitDelivered(t, col, vl, atLeast(pod.Name, 7+7+5)), pod.Name)

		checkSeedIdentity(t, pod, "sample", recs)
		hello := filterRecs(recs, scopeBody("flask_app", "hello request h"))
		wantN(t, "/hello: app.logger.info", hello, 5)
		wantN(t, "/hello: print()", filterRecs(recs, scopeBody("sys.stdout", "print from hello h")), 5)
		wantN(t, "/hello: werkzeug access line", filterRecs(recs, scopeBody("werkzeug", "GET /hello?id=h")), 5)
		wantN(t, "/error: log.error", filterRecs(recs, scopeBody("demo.app", "about to fail e")), 2)
		wantN(t, "/error: werkzeug access line", filterRecs(recs, scopeBody("werkzeug", "GET /error?id=e")), 2)
		exc := filterRecs(recs, scopeBody("flask_app", "Exception on /error [GET]"))
		wantN(t, "/error: Flask's exception log", exc, 2)
		for _, r := range exc {
			if r.Severity != "ERROR" || r.Labels["level"] != "ERROR" || r.attr("exception.type") != "ValueError" ||
				!strings.HasPrefix(r.attr("exception.message"), "boom e") ||
				!strings.Contains(r.attr("exception.stacktrace"), `raise ValueError("boom " + rid)`) {
				t.Errorf("exception record: %s", r.Line)
			}
		}
		for _, r := range hello {
			if r.Severity != "INFO" || r.Labels["level"] != "INFO" || r.attr("request_id") == "" ||
				r.attr("worker_pid") != fmt.Sprint(s.pid()) || r.attr("code.function.name") != "hello" {
				t.Errorf("hello record: %s", r.Line)
			}
		}
		wantN(t, "app loaded", filterRecs(recs, scopeBody("demo.app", fmt.Sprintf("app loaded pid=%d", s.pid()))), 1)

		// The seed's stored line was werkzeug's access line; ours has its
		// shape (see checkSeedShape for what differs, and why).
		access := filterRecs(recs, scopeBody("werkzeug", "GET /hello?id=h0 "))
		if len(access) == 1 {
			checkSeedShape(t, seedObserved, access[0], `^127\.0\.0\.1 - - \[[^\]]+\] "GET /hello\?id=h0 HTTP/1\.1" 200 -$`)
		}

		log := readContainerLog(t, s.logFile)
		for i := 0; i < 5; i++ {
			wantConsole(t, log, "stderr", fmt.Sprintf("INFO flask_app: hello request h%d\n", i), 1)
			wantConsole(t, log, "stdout", fmt.Sprintf("print from hello h%d\n", i), 1)
		}
		// werkzeug colours a 500's request line: no quote right before GET.
		wantConsoleMatch(t, log, "stderr", regexp.MustCompile(`(?m)^INFO werkzeug: 127\.0\.0\.1 .*GET /(hello|error)\?id=`), 7)
		wantConsole(t, log, "stderr", "ERROR flask_app: Exception on /error [GET]\nTraceback", 2)
	})

	t.Run("Gunicorn4Workers", func(t *testing.T) {
		s, pod := run(t, "example", "sample-gunicorn", gunicorn)
		// "Booting worker" comes before a worker imports the app; each
		// worker's "app loaded" record says it has.
		wait.For(t, 60*time.Second, "every worker's app loaded record", func() (bool, string) {
			n := len(filterRecs(ofPod(vl.records(t), pod.Name), scopeBody("demo.app", "app loaded pid=")))
			return n >= 4, fmt.Sprintf("%d stored", n)
		})
		served := map[string]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		// A sync worker serves one request at a time: four requests that
		// hold their worker for a second land on four workers.
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				code, body := get(t, s.port, "/hello?hold=1&id="+id, nil)
				if code != 200 {
					t.Errorf("/hello: %d", code)
				}
				mu.Lock()
				served[id] = servedBy(t, body)
				mu.Unlock()
			}(fmt.Sprintf("held%d", i))
		}
		wg.Wait()
		for i := 0; i < 12; i++ {
			id := fmt.Sprintf("h%02d", i)
			code, body := get(t, s.port, "/hello?id="+id, nil)
			if code != 200 {
				t.Fatalf("/hello: %d", code)
			}
			served[id] = servedBy(t, body)
		}
		for i := 0; i < 4; i++ {
			if code, _ := get(t, s.port, fmt.Sprintf("/error?id=e%d", i), nil); code != 500 {
				t.Fatalf("/error: %d", code)
			}
		}
		s.stopAsKubelet()
		recs := ofPod(waitDelivered(t, col, vl, atLeast(pod.Name, 16+16+8+4)), pod.Name)

		checkSeedIdentity(t, pod, "sample-gunicorn", recs)
		hello := filterRecs(recs, scopeBody("flask_app", "hello request "))
		wantN(t, "/hello: app.logger.info", hello, 16)
		workers, streams := map[string]bool{}, map[string]bool{}
		for _, r := range hello {
			id := r.attr("request_id")
			if got, want := r.res("process.pid"), fmt.Sprint(served[id]); got != want {
				t.Errorf("request %s served by pid %s, exported by %s", id, want, got)
			}
			workers[r.res("service.instance.id")] = true
			streams[r.Labels["instance"]] = true
		}
		// One service.instance.id per worker process (OpenTelemetry's rule),
		// one stream per container (the exporter's stable instance label).
		if len(workers) != 4 {
			t.Errorf("hello records from %d service.instance.ids, want one per worker (4): %v", len(workers), workers)
		}
		if len(streams) != 1 {
			t.Errorf("hello records in %d instance streams, want one per container: %v", len(streams), streams)
		}
		wantN(t, "/hello: print()", filterRecs(recs, scopeBody("sys.stdout", "print from hello ")), 16)
		wantN(t, "/error: log.error", filterRecs(recs, scopeBody("demo.app", "about to fail e")), 4)
		wantN(t, "/error: Flask's exception log", filterRecs(recs, scopeBody("flask_app", "Exception on /error [GET]")), 4)
		wantN(t, "app loaded, once per worker", filterRecs(recs, scopeBody("demo.app", "app loaded pid=")), 4)

		log := readContainerLog(t, s.logFile)
		wantConsoleMatch(t, log, "stderr", regexp.MustCompile(`INFO in flask_app: hello request `), 16)
		wantConsoleMatch(t, log, "stdout", regexp.MustCompile(`print from hello (held\d|h\d\d)`), 16)
		wantConsoleMatch(t, log, "stderr", regexp.MustCompile(`\[INFO\] Booting worker with pid`), 4)
	})

	t.Run("Uvicorn2Workers", func(t *testing.T) {
		s, pod := run(t, "example", "sample-uvicorn", uvicorn)
		served := map[string]int{}
		for i := 0; i < 10; i++ {
			id := fmt.Sprintf("u%d", i)
			code, body := get(t, s.port, "/hello?id="+id, nil)
			if code != 200 {
				t.Fatalf("/hello: %d", code)
			}
			served[id] = servedBy(t, body)
		}
		for i := 0; i < 3; i++ {
			if code, _ := get(t, s.port, fmt.Sprintf("/error?id=e%d", i), nil); code != 500 {
				t.Fatalf("/error: %d", code)
			}
		}
		s.stopAsKubelet()
		recs := ofPod(waitDelivered(t, col, vl, atLeast(pod.Name, 10+10+13+3)), pod.Name)

		checkSeedIdentity(t, pod, "sample-uvicorn", recs)
		loaded := filterRecs(recs, scopeBody("root", "app loaded pid="))
		wantN(t, "app loaded, once per spawned worker", loaded, 2)
		for _, r := range loaded {
			if r.res("process.pid") == fmt.Sprint(s.pid()) {
				t.Errorf("app loaded in uvicorn's parent process: %s", r.Line)
			}
		}
		hello := filterRecs(recs, scopeBody("root", "hello request u"))
		wantN(t, "/hello: logging.info", hello, 10)
		for _, r := range hello {
			if id := r.attr("request_id"); r.res("process.pid") != fmt.Sprint(served[id]) || r.Severity != "INFO" {
				t.Errorf("request %s (served by %d): %s", id, served[id], r.Line)
			}
		}
		wantN(t, "/error: logging.error", filterRecs(recs, scopeBody("root", "about to fail e")), 3)
		// uvicorn's error logger propagates to the root logger in Debian's
		// uvicorn 0.17: the traceback is a record, once.
		exc := filterRecs(recs, scopeBody("uvicorn.error", "Exception in ASGI application"))
		wantN(t, "/error: uvicorn's exception log", exc, 3)
		for _, r := range exc {
			if r.attr("exception.type") != "ValueError" || !strings.HasPrefix(r.attr("exception.message"), "boom e") || r.Severity != "ERROR" {
				t.Errorf("uvicorn exception record: %s", r.Line)
			}
		}
		wantN(t, "/hello: print()", filterRecs(recs, scopeBody("sys.stdout", "print from hello u")), 10)
		// uvicorn's access logger does not propagate to the root logger;
		// its console line on stdout is captured like a print().
		wantN(t, "access lines", filterRecs(recs, func(r record) bool {
			return r.scope() == "sys.stdout" && regexp.MustCompile(`"GET /(hello|error)\?id=\w+ HTTP/1\.1" (200|500)`).MatchString(r.body())
		}), 13)

		log := readContainerLog(t, s.logFile)
		wantConsoleMatch(t, log, "stderr", regexp.MustCompile(`(?m)^INFO:root:hello request u\d$`), 10)
		wantConsoleMatch(t, log, "stdout", regexp.MustCompile(`print from hello u\d`), 10)
		// Twice per error, as without the agent: uvicorn.error's record is
		// printed by uvicorn's handler and, propagated, by the root handler
		// the app's first logging.info() installed.
		wantConsoleMatch(t, log, "stderr", regexp.MustCompile(`Exception in ASGI application`), 6)
	})

	t.Run("FlaskDevServerWithoutPrintCapture", func(t *testing.T) {
		s, pod := run(t, "example-plain", "sample", flaskDev)
		if v, ok := envValue(s.env, "AUTOTEL_PYTHON_CAPTURE_STDOUT"); ok {
			t.Fatalf("the seed's Instrumentation injected AUTOTEL_PYTHON_CAPTURE_STDOUT=%s", v)
		}
		for i := 0; i < 3; i++ {
			if code, _ := get(t, s.port, fmt.Sprintf("/hello?id=p%d", i), nil); code != 200 {
				t.Fatalf("/hello: %d", code)
			}
		}
		s.stopAsKubelet()
		recs := ofPod(waitDelivered(t, col, vl, atLeast(pod.Name, 3)), pod.Name)
		checkSeedIdentity(t, pod, "sample", recs)
		wantN(t, "/hello: app.logger.info", filterRecs(recs, scopeBody("flask_app", "hello request p")), 3)
		wantN(t, "print() lines (not captured unless enabled)", filterRecs(recs, func(r record) bool {
			return strings.Contains(r.body(), "print from hello")
		}), 0)
		log := readContainerLog(t, s.logFile)
		wantConsoleMatch(t, log, "stdout", regexp.MustCompile(`(?m)^print from hello p\d$`), 3)
	})
}

// atLeast is a waitDelivered condition: pod has n records stored.
func atLeast(pod string, n int) func([]record, counts) (bool, string) {
	return func(recs []record, _ counts) (bool, string) {
		got := len(ofPod(recs, pod))
		return got >= n, fmt.Sprintf("%d records of %s stored, want at least %d", got, pod, n)
	}
}

// checkSeedIdentity checks what every record of a seed pod carries: the
// seed's stream labels (pod, namespace, container from the resource
// processor's hint; exporter, job, instance from the exporter's defaults)
// and the resource the webhook's variables describe.
func checkSeedIdentity(t *testing.T, pod *corev1.Pod, deployment string, recs []record) {
	t.Helper()
	if len(recs) == 0 {
		t.Fatalf("nothing stored for pod %s", pod.Name)
	}
	bad := 0
	for _, r := range recs {
		pid := r.res("process.pid")
		want := map[string]string{
			"label pod":                    pod.Name,
			"label namespace":              pod.Namespace,
			"label container":              "sample",
			"label exporter":               "OTLP",
			"label job":                    pod.Namespace + "/" + deployment,
			"label instance":               fmt.Sprintf("%s.%s.sample", pod.Namespace, pod.Name),
			"resource k8s.pod.name":        pod.Name,
			"resource k8s.namespace.name":  pod.Namespace,
			"resource k8s.container.name":  "sample",
			"resource k8s.deployment.name": deployment,
			"resource k8s.replicaset.name": deployment + "-" + templateHash,
			"resource k8s.node.name":       nodeName,
			"resource service.name":        deployment,
			"resource service.version":     "amd64",
			"resource service.instance.id": fmt.Sprintf("%s.%s.sample-%s", pod.Namespace, pod.Name, pid),
			"resource telemetry.sdk.name":  "autotel",
		}
		for k, v := range want {
			var got string
			if name, ok := strings.CutPrefix(k, "label "); ok {
				got = r.Labels[name]
			} else {
				got = r.res(strings.TrimPrefix(k, "resource "))
			}
			if got != v && bad < 10 {
				bad++
				t.Errorf("%s: %s = %q, want %q", r, k, got, v)
			}
		}
		if r.TraceID != "" || r.SpanID != "" {
			t.Errorf("%s: trace context without a span: %s", r, r.Line)
		}
	}
}

func readSeedLine(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "collector", "testdata", "observed-log-loki.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// checkSeedShape compares a stored werkzeug access line with the one the
// seed saw: the same fields; body, severity and resource keys alike. What
// differs is the SDK generation: today's semantic conventions name the
// code attributes code.file.path/code.function.name/code.line.number
// (the seed's SDK: code.filepath/code.function/code.lineno), the scope is
// the logger's name (the seed's SDK put its own module there), the
// otel* attributes came from the seed's LoggingInstrumentor format hook,
// and telemetry.auto.version names upstream's distro.
func checkSeedShape(t *testing.T, seed map[string]any, r record, bodyRe string) {
	t.Helper()
	keys := slices.Clone(r.Keys)
	sort.Strings(keys)
	var seedKeys []string
	for k := range seed {
		seedKeys = append(seedKeys, k)
	}
	sort.Strings(seedKeys)
	if !slices.Equal(keys, seedKeys) || !slices.Equal(seedKeys, seedLineKeys) {
		t.Errorf("stored line fields %v, the seed's %v: %s", keys, seedKeys, r.Line)
	}
	if !regexp.MustCompile(bodyRe).MatchString(r.body()) {
		t.Errorf("body %q does not match %s", r.body(), bodyRe)
	}
	if !regexp.MustCompile(`^127\.0\.0\.1 - - \[[^\]]+\] "GET /hello HTTP/1\.1" 200 -$`).MatchString(seed["body"].(string)) {
		t.Errorf("the seed's body changed: %q", seed["body"])
	}
	if r.Severity != seed["severity"] {
		t.Errorf("severity %q, the seed's %q", r.Severity, seed["severity"])
	}
	for k := range seed["resources"].(map[string]any) {
		if k == "telemetry.auto.version" {
			continue
		}
		if _, ok := r.Resources[k]; !ok {
			t.Errorf("resource %s missing (the seed's line has it): %s", k, r.Line)
		}
	}
	for _, k := range []string{"code.file.path", "code.function.name", "code.line.number"} {
		if _, ok := r.Attributes[k]; !ok {
			t.Errorf("attribute %s missing: %s", k, r.Line)
		}
	}
	if r.scope() != "werkzeug" {
		t.Errorf("scope %q, want the logger's name werkzeug", r.scope())
	}
}

// streamText is what the app wrote to one stream: the container log's
// lines joined again. Lines are not the unit to count in: a print() is
// two writes (text, newline) in an unbuffered Python, so when several
// workers print at once their lines interleave on the console, with or
// without autotel.
func streamText(log []criLine, stream string) string {
	var b strings.Builder
	for _, l := range log {
		if l.Stream == stream {
			b.WriteString(l.Content)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// wantConsole checks that s occurs n times in what the app wrote to stream.
func wantConsole(t *testing.T, log []criLine, stream, s string, n int) {
	t.Helper()
	if got := strings.Count(streamText(log, stream), s); got != n {
		t.Errorf("container log: %q %d times on %s, want %d", s, got, stream, n)
	}
}

// wantConsoleMatch checks that re matches n times in what the app wrote
// to stream.
func wantConsoleMatch(t *testing.T, log []criLine, stream string, re *regexp.Regexp, n int) {
	t.Helper()
	if got := len(re.FindAllString(streamText(log, stream), -1)); got != n {
		t.Errorf("container log: %v matches %d times on %s, want %d", re, got, stream, n)
	}
}
