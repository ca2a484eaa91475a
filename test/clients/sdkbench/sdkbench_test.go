//go:build sdkbench

// Package sdkbench compares, for the gunicorn sample with 4 workers, the
// cost of the real OpenTelemetry Python SDK (the autoinstrumentation-python
// image), autotel's Python log agent (python-agent) and no
// instrumentation: request latency under a fixed load, RSS per worker,
// time to first answer, and records exported per second. Each variant runs
// as test/clients/pythonsdk runs the SDK: the injected init container and
// the app inside their images' root filesystems, with exactly the env the
// injector gives the pod, exporting to a local OTLP receiver.
//
// A benchmark, not a test: it asserts only that each instrumented variant
// exported telemetry; the figures are logged as a table (make bench-sdk).
//
//	cd test/clients && go test -tags sdkbench -count=1 -v -run TestSDKBench ./sdkbench/
package sdkbench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/test/clients/clienttest"
	"github.com/autotel/autotel/test/clients/otlpreceiver"
	"github.com/autotel/autotel/test/clients/sandbox"
)

const (
	initContainer = "opentelemetry-auto-instrumentation-python"
	workers       = 4
	requests      = 3000 // the fixed load: GET /hello, this many times
	concurrency   = 8
)

type result struct {
	name           string
	start          time.Duration // process start to the first 200
	p50, p99       time.Duration
	rps            float64
	rssKiB         []int // per worker, after the load
	spans, logs    int
	exportedPerSec float64
	loadWall       time.Duration
	exportRequests int
}

func TestSDKBench(t *testing.T) {
	appRoot := clienttest.ImageRoot(t, "examples-gunicorn")
	variants := []struct {
		name, image string
		annotation  map[string]string
	}{
		{name: "none"},
		{name: "autotel log agent", image: "python-agent", annotation: map[string]string{"autotel.io/python-agent": "logs"}},
		{name: "OpenTelemetry SDK 0.64b0", image: "autoinstrumentation-python"},
	}
	var results []result
	for _, v := range variants {
		var agentRoot string
		if v.image != "" {
			agentRoot = clienttest.ImageRoot(t, v.image)
		}
		results = append(results, run(t, v.name, appRoot, agentRoot, v.annotation))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ngunicorn, %d workers, %d × GET /hello, %d concurrent clients, one machine (2 cores, shared):\n\n", workers, requests, concurrency)
	fmt.Fprintf(&b, "| | p50 | p99 | req/s | RSS per worker (MiB) | start to first answer | records exported/s |\n|---|---|---|---|---|---|---|\n")
	base := results[0]
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s (×%.2f) | %s (×%.2f) | %.0f | %.1f (×%.2f) | %s (×%.2f) | %.0f |\n", r.name,
			r.p50.Round(10*time.Microsecond), ratio(r.p50, base.p50), r.p99.Round(10*time.Microsecond), ratio(r.p99, base.p99), r.rps,
			meanMiB(r.rssKiB), meanMiB(r.rssKiB)/meanMiB(base.rssKiB), r.start.Round(10*time.Millisecond), ratio(r.start, base.start), r.exportedPerSec)
	}
	t.Log(b.String())
	for _, r := range results[1:] {
		if r.logs == 0 {
			t.Errorf("%s exported no log records (spans %d)", r.name, r.spans)
		}
	}
	if results[2].spans == 0 {
		t.Errorf("the SDK exported no spans")
	}
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func meanMiB(kib []int) float64 {
	if len(kib) == 0 {
		return 0
	}
	s := 0
	for _, k := range kib {
		s += k
	}
	return float64(s) / float64(len(kib)) / 1024
}

func run(t *testing.T, name, appRoot, agentRoot string, annotations map[string]string) result {
	t.Helper()
	app := corev1.Container{Name: "sample", Image: "autotel.local/examples/gunicorn:dev",
		Command:    []string{"python3", "-m", "gunicorn", "app:app"},
		WorkingDir: "/app",
		Env: []corev1.EnvVar{{Name: "PYTHONUNBUFFERED", Value: "1"},
			{Name: "GUNICORN_CMD_ARGS", Value: fmt.Sprintf("--bind=127.0.0.1:8000 --workers=%d", workers)}},
	}
	pod, err := sandbox.NewPod()
	if err != nil {
		t.Fatal(err)
	}
	defer pod.Close()
	env := map[string]string{}
	for _, e := range app.Env {
		env[e.Name] = e.Value
	}
	mounts := clienttest.RuntimeMounts(appRoot)
	var receiver *otlpreceiver.Receiver
	if agentRoot != "" {
		s := clienttest.Inject(t, clienttest.Workload{
			Namespace: "example", Deployment: "sample", PodTemplateHash: "656f58b97c",
			Container:   app,
			Annotations: map[string]string{"instrumentation.opentelemetry.io/inject-python": "true"},
			Instrumentation: v1alpha1.Instrumentation{
				ObjectMeta: metav1.ObjectMeta{Name: "python-instrumentation", Annotations: annotations},
				Spec: v1alpha1.InstrumentationSpec{
					Exporter:    v1alpha1.Exporter{Endpoint: "http://127.0.0.1:4318"},
					Propagators: []v1alpha1.Propagator{v1alpha1.TraceContext, v1alpha1.Baggage},
					// The seed's Instrumentation (instrumentation-otlp.yaml).
					Python: v1alpha1.Python{Env: []corev1.EnvVar{
						{Name: "OTEL_LOGS_EXPORTER", Value: "otlp_proto_http"},
						{Name: "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED", Value: "true"},
					}},
				},
			},
		})
		env = s.Env(t, app.Name)
		receiver = clienttest.ListenWhereTold(t, pod, env)
		vol := clienttest.RunInit(t, pod, s, initContainer, agentRoot)
		mounts = append(mounts, vol.MountsOf(t, s.Container(t, app.Name), appRoot)...)
	}

	stdout, stderr := clienttest.NewLines(), clienttest.NewLines()
	started := time.Now()
	proc, err := pod.Start(sandbox.Container{
		Argv:   clienttest.InRoot(appRoot, app.WorkingDir, app.Command...),
		Env:    clienttest.ProcessEnv(env, clienttest.ImagePath, "/root"),
		Mounts: mounts, Stdout: stdout, Stderr: stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proc.Stop(10 * time.Second) }()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: "+format+"\nstdout: %s\nstderr: %s", append(append([]any{name}, args...), strings.Join(stdout.All(), "\n"), strings.Join(stderr.All(), "\n"))...)
	}
	client := pod.HTTPClient(10 * time.Second)
	r := result{name: name}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get("http://127.0.0.1:8000/hello")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			fail("no 200 from /hello in 90s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.start = time.Since(started)
	// All workers up before the load (the first answer needs one only).
	if err := waitWorkers(pod, proc.Pid, 60*time.Second); err != nil {
		fail("%v", err)
	}
	// Warm-up: each worker imports lazily on its first requests.
	load(t, client, 200)
	var before int
	if receiver != nil {
		before = len(receiver.Spans()) + len(receiver.LogRecords())
	}
	lat, wall := load(t, client, requests)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	r.loadWall, r.rps = wall, float64(requests)/wall.Seconds()
	kids, err := children(pod, proc.Pid)
	if err != nil {
		fail("%v", err)
	}
	for _, k := range kids {
		r.rssKiB = append(r.rssKiB, rssKiB(k))
	}
	if receiver != nil {
		// What the load produced, once the batch processors have sent it
		// (spans every 5 s, logs every 1 s): wait until the count held
		// for 6 s, longer than either schedule.
		prev, still := -1, 0
		for i := 0; i < 90 && still < 6; i++ {
			n := len(receiver.Spans()) + len(receiver.LogRecords())
			if n == prev && n > before {
				still++
			} else {
				still = 0
			}
			prev = n
			time.Sleep(time.Second)
		}
		r.spans, r.logs = len(receiver.Spans()), len(receiver.LogRecords())
		r.exportedPerSec = float64(r.spans+r.logs-before) / wall.Seconds()
		r.exportRequests = len(receiver.Requests())
	}
	t.Logf("%s: start %s, p50 %s, p99 %s, %.0f req/s, worker RSS KiB %v, spans %d, log records %d",
		name, r.start, r.p50, r.p99, r.rps, r.rssKiB, r.spans, r.logs)
	return r
}

// load sends n GETs of /hello from `concurrency` clients and returns each
// one's latency and the wall time of the whole.
func load(t *testing.T, client *http.Client, n int) ([]time.Duration, time.Duration) {
	t.Helper()
	lat := make([]time.Duration, n)
	next := make(chan int)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	start := time.Now()
	for c := 0; c < concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				resp, err := client.Get("http://127.0.0.1:8000/hello")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("HTTP %d", resp.StatusCode)
					}
				}
				lat[i] = time.Since(t0)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	wall := time.Since(start)
	if firstErr != nil {
		t.Fatalf("GET /hello under load: %v", firstErr)
	}
	return lat, wall
}

// children are the pod's processes whose parent is pid (gunicorn's
// workers under its master).
func children(pod *sandbox.Pod, pid int) ([]int, error) {
	pids, err := pod.Processes()
	if err != nil {
		return nil, fmt.Errorf("listing the pod's processes: %w", err)
	}
	var out []int
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out, nil
}

func waitWorkers(pod *sandbox.Pod, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		kids, err := children(pod, pid)
		if err != nil {
			return err
		}
		if len(kids) >= workers {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gunicorn (pid %d) has %d workers after %s, want %d", pid, len(kids), timeout, workers)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rssKiB is VmRSS of pid, 0 when unreadable.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
