//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/testkit/otlpfile"
	"github.com/autotel/autotel/testkit/ports"
)

// The real OpenTelemetry SDKs in pods: the upstream-equivalent images of
// internal/imagebuild's table (autoinstrumentation-python, -java, -nodejs)
// injected by the operator into the seed's three Python apps, a Java app
// and a Node.js app. Spans come back through the collector's file exporter
// (the traces/file pipeline of testdata/collector-node.yaml), log lines
// through the store, as the seed's steps read them.
const (
	sdkNS         = "e2e-sdk"
	sdkPython     = "autotel.local/otel/autoinstrumentation-python:0.64b0"
	sdkJava       = "autotel.local/otel/autoinstrumentation-java:2.30.0"
	sdkNodeJS     = "autotel.local/otel/autoinstrumentation-nodejs:0.78.0"
	javaAppImage  = "autotel.local/examples/java:dev"
	nodeAppImage  = "autotel.local/examples/nodejs:dev"
	sdkContainer  = "sample" // the seed steps' name: checkWorkers finds it by it
	sdkRounds     = 8        // request rounds at most, until every worker answered
	pythonLogLine = "%(levelname)s pid=%(process)d trace_id=%(otelTraceID)s - %(message)s"
)

// collectorTracesDir is the hostPath the collector's file exporter writes
// traces.jsonl into: under the cluster's state, which `down` removes.
func collectorTracesDir(c *cluster) string {
	return filepath.Join(c.env["CLUSTER_STATE"], "e2e-traces")
}

// setTracesDir makes the folder (writable by anyone, as the chart makes its
// file_storage folder for the image's user 65532) and points the
// DaemonSet's traces volume at it.
func setTracesDir(t *testing.T, ds *appsv1.DaemonSet, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // umask
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "traces.jsonl")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for i := range ds.Spec.Template.Spec.Volumes {
		if v := &ds.Spec.Template.Spec.Volumes[i]; v.Name == "traces" && v.HostPath != nil {
			v.HostPath.Path = dir
			return
		}
	}
	t.Fatalf("DaemonSet %s has no hostPath volume named traces", ds.Name)
}

// sdkApp is one Deployment run with a real SDK.
type sdkApp struct {
	name    string // Deployment name, app label, the expected service.name
	lang    string // the inject-<lang> annotation
	image   string
	env     func(port int) []corev1.EnvVar
	workers int // server processes that must each deliver (1: one process)
	// otlpLogs: its logging records go over OTLP with their trace ids
	// (Python's logging bridge, the Java agent's java.util.logging one).
	otlpLogs bool
	// forkedLogExporter: the SDK starts in gunicorn's master, which may
	// export its own start-up records before it forks; the workers then
	// share the log exporter's pooled HTTP connection and their requests
	// interleave on it (the collector answers 400 or resets it, the SDK
	// logs "Failed to export logs batch"). Upstream's zero-code Python
	// injection loses such batches; spans are unaffected (nothing is
	// exported before the fork), and so are the console copies. OTLP
	// records are then checked for what arrives, and counted.
	forkedLogExporter bool
	// hello, errs: the texts its log lines hold for each route.
	hello, errs string

	port int
	pod  *corev1.Pod
	reqs []sdkRequest
}

// sdkRequest is one request the test sent, in a trace of its own: the
// W3C traceparent names a trace id and parent span id the server span
// must continue.
type sdkRequest struct {
	route            string
	traceID, spanID  string
	code             int
	traceparentValue string
}

func sdkApps() []*sdkApp {
	python := func(name string, s sample, workers int) *sdkApp {
		return &sdkApp{name: name, lang: "python", image: s.image, workers: max(workers, 1), otlpLogs: true,
			hello: "hello called", errs: "error called; raising",
			env: func(port int) []corev1.EnvVar {
				return (&workload{sample: s, workers: workers, port: port}).bindEnv()
			}}
	}
	listen := func(port int) []corev1.EnvVar {
		return []corev1.EnvVar{{Name: "HOST", Value: "127.0.0.1"}, {Name: "PORT", Value: fmt.Sprint(port)}}
	}
	gunicorn := python("sdk-gunicorn", samples[1], 4)
	gunicorn.forkedLogExporter = true
	return []*sdkApp{
		python("sdk-flask", samples[0], 0),
		gunicorn,
		python("sdk-uvicorn", samples[2], 2),
		{name: "sdk-java", lang: "java", image: javaAppImage, workers: 1, otlpLogs: true,
			hello: "hello called", errs: "error called; raising",
			env: func(port int) []corev1.EnvVar {
				// The operator appends its -javaagent to what the app sets.
				return append(listen(port), corev1.EnvVar{Name: "JAVA_TOOL_OPTIONS", Value: "-Xmx128m -XX:TieredStopAtLevel=1"})
			}},
		{name: "sdk-nodejs", lang: "nodejs", image: nodeAppImage, workers: 1,
			hello: "hello called traceparent=", errs: "error called; raising traceparent=", env: listen},
	}
}

// sdkInstrumentation: the three SDK images, OTLP over HTTP to the
// collector on the node's address, W3C propagation.
func sdkInstrumentation() *v1alpha1.Instrumentation {
	noMetrics := corev1.EnvVar{Name: "OTEL_METRICS_EXPORTER", Value: "none"}
	return &v1alpha1.Instrumentation{
		ObjectMeta: metav1.ObjectMeta{Name: "sdk", Namespace: sdkNS},
		Spec: v1alpha1.InstrumentationSpec{
			Exporter:    v1alpha1.Exporter{Endpoint: nodeLocalEndpoint},
			Propagators: []v1alpha1.Propagator{v1alpha1.TraceContext, v1alpha1.Baggage},
			Python: v1alpha1.Python{Image: sdkPython, Env: []corev1.EnvVar{
				// The seed's Instrumentation: logging records over OTLP.
				{Name: "OTEL_LOGS_EXPORTER", Value: "otlp_proto_http"},
				{Name: "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED", Value: "true"},
				// The console copy names the worker's pid and the trace:
				// forked workers share the resource the master made.
				{Name: "OTEL_PYTHON_LOG_CORRELATION", Value: "true"},
				{Name: "OTEL_PYTHON_LOG_FORMAT", Value: pythonLogLine},
				noMetrics,
			}},
			Java:   v1alpha1.Java{Image: sdkJava, Env: []corev1.EnvVar{noMetrics}},
			NodeJS: v1alpha1.NodeJS{Image: sdkNodeJS, Env: []corev1.EnvVar{noMetrics}},
		},
	}
}

func (a *sdkApp) deployment() *appsv1.Deployment {
	labels := map[string]string{"app": a.name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: a.name, Namespace: sdkNS},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels,
					Annotations: map[string]string{"instrumentation.opentelemetry.io/inject-" + a.lang: "true"}},
				Spec: corev1.PodSpec{
					HostNetwork:                   true,
					TerminationGracePeriodSeconds: ptr.To[int64](3),
					Containers: []corev1.Container{{
						Name: sdkContainer, Image: a.image, ImagePullPolicy: corev1.PullIfNotPresent, Env: a.env(a.port),
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(a.port), HostPort: int32(a.port)}},
					}},
				},
			},
		},
	}
}

// testRealSDKs: every app is injected with its language's upstream SDK,
// answers /hello and /error, and every request's server span (continuing
// the test's traceparent) and log lines arrive, labelled with the pod,
// from every worker process, with service.name from the owner chain.
func testRealSDKs(t *testing.T, r *seedRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := r.c
	start := time.Now()
	c.createNamespace(t, ctx, sdkNS)
	if err := c.client.Create(ctx, sdkInstrumentation()); err != nil {
		t.Fatalf("creating the SDK Instrumentation: %v", err)
	}
	apps := sdkApps()
	for _, a := range apps {
		a.port = ports.Free(t)
		if err := c.client.Create(ctx, a.deployment()); err != nil {
			t.Fatalf("creating Deployment %s: %v", a.name, err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, a := range apps {
				if a.pod != nil {
					logTail(t, a.name, podLogFile(a.pod, sdkContainer), 30)
				}
			}
		}
	})
	for _, a := range apps {
		a.pod = c.waitPod(t, ctx, sdkNS, client.MatchingLabels{"app": a.name}, "Running", running)
		checkSDKInjected(t, a)
	}
	for _, a := range apps {
		waitAnswering(t, ctx, a)
		if a.lang == "python" && a.workers > 1 {
			checkWorkers(t, c, &workload{name: a.name, pod: a.pod, workers: a.workers})
		}
	}
	t.Logf("%d SDK workloads injected, started and answering in %s", len(apps), time.Since(start).Round(time.Second))
	for _, a := range apps {
		t.Run(a.name, func(t *testing.T) {
			begin := time.Now()
			checkSDKApp(t, ctx, r, a)
			t.Logf("%s checked in %s", a.name, time.Since(begin).Round(100*time.Millisecond))
		})
	}
}

// checkSDKInjected: the init container of the language's SDK image ran.
func checkSDKInjected(t *testing.T, a *sdkApp) {
	t.Helper()
	want := map[string]string{"python": sdkPython, "java": sdkJava, "nodejs": sdkNodeJS}[a.lang]
	ics := a.pod.Spec.InitContainers
	if len(ics) != 1 || ics[0].Name != "opentelemetry-auto-instrumentation-"+a.lang || ics[0].Image != want {
		t.Fatalf("%s: init containers %+v, want one running %s", a.pod.Name, ics, want)
	}
	if s := a.pod.Status.InitContainerStatuses; len(s) != 1 || s[0].State.Terminated == nil || s[0].State.Terminated.ExitCode != 0 {
		t.Fatalf("%s: init container did not finish with exit code 0: %+v", a.pod.Name, s)
	}
}

// waitAnswering waits (the JVM with its agent starts in seconds on two
// shared cores) until the app accepts connections.
func waitAnswering(t *testing.T, ctx context.Context, a *sdkApp) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", a.port))
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
	if err != nil {
		logTail(t, a.name, podLogFile(a.pod, sdkContainer), 40)
		t.Fatalf("%s: nothing listens on port %d: %v", a.name, a.port, err)
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// send makes hello requests to /hello and errs to /error, each in a new
// trace and on a new connection (keep-alive would pin one worker), from
// as many goroutines as the app has workers, plus one.
func (a *sdkApp) send(t *testing.T, ctx context.Context, hello, errs int) {
	t.Helper()
	var reqs []sdkRequest
	for i := 0; i < hello+errs; i++ {
		r := sdkRequest{route: "/hello", code: 200, traceID: randomHex(t, 16), spanID: randomHex(t, 8)}
		if i >= hello {
			r.route, r.code = "/error", 500
		}
		r.traceparentValue = "00-" + r.traceID + "-" + r.spanID + "-01"
		reqs = append(reqs, r)
	}
	httpc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	work := make(chan sdkRequest)
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for g := 0; g < a.workers+1; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", a.port, r.route), nil)
				req.Header.Set("traceparent", r.traceparentValue)
				resp, err := httpc.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != r.code {
						err = fmt.Errorf("status %d, want %d", resp.StatusCode, r.code)
					}
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("GET %s: %v", r.route, err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, r := range reqs {
		work <- r
	}
	close(work)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%s: %d of %d requests failed: %v", a.name, len(failures), len(reqs), failures)
	}
	a.reqs = append(a.reqs, reqs...)
}

var pidRE = regexp.MustCompile(`pid=(\d+) trace_id=`)

// consolePIDs: the worker pids (in the pod's pid namespace) the console
// copies of a Python app's "hello called" records name, from the node's
// container log.
func consolePIDs(pod *corev1.Pod) map[string]int {
	lines, _ := readCRILog(podLogFile(pod, sdkContainer))
	pids := map[string]int{}
	for _, l := range lines {
		if m := pidRE.FindStringSubmatch(l.Text); m != nil && strings.HasSuffix(l.Text, " - hello called") {
			pids[m[1]]++
		}
	}
	return pids
}

// storedLine is one of the pod's entries in the store, with the trace id
// it names: an OTLP record's traceid field, or the trace id a console
// line prints.
type storedLine struct {
	row
	traceID, spanID string
}

var consoleTraceRE = regexp.MustCompile(`trace_id=([0-9a-f]{32})|traceparent=00-([0-9a-f]{32})-`)

func (a *sdkApp) storedLines(t *testing.T, s *store) []storedLine {
	t.Helper()
	var out []storedLine
	for _, r := range s.query(t, `{pod="`+a.pod.Name+`"}`) {
		l := storedLine{row: r}
		if r.fromFile() {
			if m := consoleTraceRE.FindStringSubmatch(r.body()); m != nil {
				l.traceID = m[1] + m[2]
			}
		} else {
			var ids struct {
				TraceID string `json:"traceid"`
				SpanID  string `json:"spanid"`
			}
			if err := json.Unmarshal([]byte(r.Fields["_msg"]), &ids); err != nil {
				t.Fatalf("stored line %q: %v", r.Fields["_msg"], err)
			}
			l.traceID, l.spanID = ids.TraceID, ids.SpanID
		}
		out = append(out, l)
	}
	return out
}

// missing is what one look at the spans file and the store found
// missing for an app; empty when everything arrived.
func (a *sdkApp) missing(spans []otlpfile.Span, lines []storedLine) []string {
	var out []string
	server := map[string]int{}
	for _, s := range spans {
		if s.Kind == "Server" {
			server[s.TraceID+"/"+s.ParentSpanID]++
		}
	}
	logged := map[string]int{} // trace id / path
	for _, l := range lines {
		if l.traceID != "" && (strings.Contains(l.body(), a.hello) || strings.Contains(l.body(), a.errs)) {
			logged[l.traceID+"/"+path(l.fromFile())]++
		}
	}
	for _, r := range a.reqs {
		if server[r.traceID+"/"+r.spanID] == 0 {
			out = append(out, fmt.Sprintf("no server span for GET %s in trace %s", r.route, r.traceID))
		}
		if a.otlpLogs && !a.forkedLogExporter && logged[r.traceID+"/"+path(false)] == 0 {
			out = append(out, fmt.Sprintf("no OTLP log record for GET %s in trace %s", r.route, r.traceID))
		}
		// Python's console copy and Node's console line name the trace.
		if a.lang != "java" && logged[r.traceID+"/"+path(true)] == 0 {
			out = append(out, fmt.Sprintf("no container-log line for GET %s in trace %s", r.route, r.traceID))
		}
	}
	return out
}

func checkSDKApp(t *testing.T, ctx context.Context, r *seedRun, a *sdkApp) {
	const hello, errs = 6, 3
	a.send(t, ctx, hello*a.workers, errs)
	// Pre-fork: which worker takes a connection is the kernel's choice;
	// more rounds until every worker logged a request.
	if a.lang == "python" && a.workers > 1 {
		for round := 1; round < sdkRounds && len(consolePIDs(a.pod)) < a.workers; round++ {
			time.Sleep(time.Second) // the console lines of the last round
			if len(consolePIDs(a.pod)) < a.workers {
				a.send(t, ctx, hello*a.workers, 0)
			}
		}
	}
	tracesFile := filepath.Join(collectorTracesDir(r.c), "traces.jsonl")
	var content otlpfile.Content
	var spans []otlpfile.Span
	var lines []storedLine
	var missing []string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 90*time.Second, true, func(context.Context) (bool, error) {
		var err error
		if content, err = otlpfile.ReadFile(tracesFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		spans = spans[:0]
		for _, s := range content.Spans {
			if s.Resource["k8s.pod.name"] == a.pod.Name {
				spans = append(spans, s)
			}
		}
		lines = a.storedLines(t, r.store)
		missing = a.missing(spans, lines)
		return len(missing) == 0, nil
	})
	if err != nil {
		for _, l := range lines {
			t.Logf("stored: %s %q trace %s", path(l.fromFile()), l.body(), l.traceID)
		}
		logTail(t, a.name, podLogFile(a.pod, sdkContainer), 40)
		t.Fatalf("%s: %d spans of the pod in %s, %d stored lines; within 90 s, missing (%v):\n%s",
			a.name, len(spans), tracesFile, len(lines), err, strings.Join(missing, "\n"))
	}
	// Late duplicates would arrive within the SDKs' batch delays.
	time.Sleep(2 * time.Second)
	content, err = otlpfile.ReadFile(tracesFile)
	if err != nil {
		t.Fatal(err)
	}
	spans = spans[:0]
	for _, s := range content.Spans {
		if s.Resource["k8s.pod.name"] == a.pod.Name {
			spans = append(spans, s)
		}
	}
	lines = a.storedLines(t, r.store)

	// Spans: exactly one server span per request, continuing the test's
	// traceparent, with the owner chain's service.name and the pod's
	// identity; every span of the pod belongs to one of the requests.
	sent := map[string]sdkRequest{}
	for _, q := range a.reqs {
		sent[q.traceID] = q
	}
	serverSpan := map[string]otlpfile.Span{}
	pids := map[string]bool{}
	for _, s := range spans {
		q, ok := sent[s.TraceID]
		if !ok {
			t.Errorf("%s: span %q in trace %s, which is none of the test's requests", a.name, s.Name, s.TraceID)
			continue
		}
		if s.Service != a.name {
			t.Errorf("%s: span %q has service.name %q, want the Deployment's name %q", a.name, s.Name, s.Service, a.name)
		}
		if s.Resource["k8s.namespace.name"] != sdkNS || s.Resource["k8s.container.name"] != sdkContainer {
			t.Errorf("%s: span %q resource %v lacks the pod's namespace and container", a.name, s.Name, s.Resource)
		}
		if lang := s.Resource["telemetry.sdk.language"]; lang != a.lang {
			t.Errorf("%s: span %q telemetry.sdk.language = %v, want %s", a.name, s.Name, lang, a.lang)
		}
		pids[fmt.Sprint(s.Resource["process.pid"])] = true
		if s.Kind == "Server" && s.ParentSpanID == q.spanID {
			if prev, dup := serverSpan[s.TraceID]; dup {
				t.Errorf("%s: two server spans (%q, %q) for GET %s in trace %s", a.name, prev.Name, s.Name, q.route, s.TraceID)
			}
			serverSpan[s.TraceID] = s
		}
	}
	if len(serverSpan) != len(a.reqs) {
		t.Errorf("%s: %d requests, %d server spans continuing their traceparent", a.name, len(a.reqs), len(serverSpan))
	}

	// Log lines: each request's once per path it takes, in its trace (an
	// OTLP record inside one of the trace's spans), labelled with the pod.
	spanIDs := map[string]bool{}
	for _, s := range spans {
		spanIDs[s.SpanID] = true
	}
	perTrace := map[string]int{}
	var otlpLines, fileLines int
	for _, l := range lines {
		for _, lbl := range []string{`pod="` + a.pod.Name + `"`, `namespace="` + sdkNS + `"`, `container="` + sdkContainer + `"`} {
			if !strings.Contains(l.Fields["_stream"], lbl) {
				t.Errorf("%s: stored entry %q: stream %s lacks %s", a.name, l.body(), l.Fields["_stream"], lbl)
			}
		}
		if l.fromFile() {
			fileLines++
		} else {
			otlpLines++
			if svc := l.Line.Resources["service.name"]; svc != a.name {
				t.Errorf("%s: OTLP record %q has service.name %v, want %s", a.name, l.body(), svc, a.name)
			}
		}
		isRequestLine := strings.HasPrefix(l.body(), a.hello) || strings.HasPrefix(l.body(), a.errs) ||
			strings.HasSuffix(l.body(), " - "+a.hello) || strings.HasSuffix(l.body(), " - "+a.errs)
		if !isRequestLine || l.traceID == "" {
			continue
		}
		q, ok := sent[l.traceID]
		if !ok {
			t.Errorf("%s: %s line %q names trace %s, which is none of the test's requests", a.name, path(l.fromFile()), l.body(), l.traceID)
			continue
		}
		if !l.fromFile() && !spanIDs[l.spanID] {
			t.Errorf("%s: OTLP record %q of trace %s names span %s, which is none of the trace's spans", a.name, l.body(), l.traceID, l.spanID)
		}
		want := map[string]string{"/hello": a.hello, "/error": a.errs}[q.route]
		if !strings.Contains(l.body(), want) {
			t.Errorf("%s: GET %s's trace holds the line %q, want %q", a.name, q.route, l.body(), want)
		}
		perTrace[l.traceID+"/"+path(l.fromFile())]++
	}
	wantPaths := 0
	if a.otlpLogs {
		wantPaths++
	}
	if a.lang != "java" {
		wantPaths++
	}
	for key, n := range perTrace {
		if n != 1 {
			t.Errorf("%s: %d request lines for %s, want 1", a.name, n, key)
		}
	}
	if a.forkedLogExporter {
		otlpArrived := 0
		for key := range perTrace {
			if strings.HasSuffix(key, "/"+path(false)) {
				otlpArrived++
			}
		}
		t.Logf("%s: OTLP log records arrived for %d of %d requests (pre-fork workers share the master's log exporter connection)", a.name, otlpArrived, len(a.reqs))
		if want := len(a.reqs) + otlpArrived; len(perTrace) != want {
			t.Errorf("%s: request lines for %d trace/path pairs, want %d (every console copy and the %d OTLP records that arrived)", a.name, len(perTrace), want, otlpArrived)
		}
	} else if len(perTrace) != wantPaths*len(a.reqs) {
		t.Errorf("%s: request lines for %d trace/path pairs, want %d (%d requests, %d paths)", a.name, len(perTrace), wantPaths*len(a.reqs), len(a.reqs), wantPaths)
	}

	// Workers: every one of them delivered. The Python SDK's resource has
	// no process.pid by default (and a pre-forked worker would inherit the
	// master's): the console copies of its records name the worker's pid.
	// Java and Node.js serve from one process: its spans name one pid.
	seen := len(pids)
	if a.lang == "python" {
		workerPIDs := consolePIDs(a.pod)
		seen = len(workerPIDs)
		t.Logf("%s: hello lines per worker pid (the pod's pid namespace): %v", a.name, workerPIDs)
	}
	t.Logf("%s: process.pid in span resources: %v", a.name, sortedKeys(pids))
	if seen != a.workers {
		t.Errorf("%s: records from %d worker processes, want all %d", a.name, seen, a.workers)
	}
	t.Logf("%s (pod %s): %d requests, %d spans (%d server), %d stored lines (%d OTLP, %d container log), %d worker(s)",
		a.name, a.pod.Name, len(a.reqs), len(spans), len(serverSpan), len(lines), otlpLines, fileLines, seen)
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
