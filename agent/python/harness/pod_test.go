package harness

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/agent/python/harness/receiver"
	"github.com/autotel/autotel/agent/python/harness/webhookenv"
	"github.com/autotel/autotel/testkit/syncbuf"
	"github.com/autotel/autotel/testkit/wait"
)

// agentImage is the name the operator's default flag would carry.
const agentImage = "autotel/autoinstrumentation-python-logs:0.1.0"

// sink is where the apps export and where the test reads records back.
// The in-process receiver is the only implementation for now; the
// end-to-end suite will add one reading from the Loki-protocol store
// through autotel-collector, keeping the tests unchanged.
type sink interface {
	URL() string
	WaitFor(timeout time.Duration, cond func([]receiver.Record) bool) ([]receiver.Record, bool)
	Records() []receiver.Record
	DecodeErrors() []string
}

func startReceiver(t testing.TB) *receiver.Receiver {
	t.Helper()
	r, err := receiver.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// seedInstrumentation is the seed's second Instrumentation
// (instrumentation-otlp.yaml) with our image and the test's endpoint;
// extra goes into spec.python.env, as a user would add it.
func seedInstrumentation(endpoint string, extra ...corev1.EnvVar) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: opentelemetry.io/v1alpha1
kind: Instrumentation
metadata:
  name: python-instrumentation
spec:
  exporter:
    endpoint: %s
  propagators:
    - tracecontext
    - baggage
  python:
    image: %s
    env:
      - name: OTEL_LOGS_EXPORTER
        value: otlp_proto_http
      - name: OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED
        value: 'true'
`, endpoint, agentImage)
	for _, e := range extra {
		fmt.Fprintf(&b, "      - name: %s\n        value: %q\n", e.Name, e.Value)
	}
	return b.String()
}

func env(kv ...string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// pod is one simulated pod: the agent volume filled by the init
// container's command and the app container's final environment.
type pod struct {
	workload webhookenv.Workload
	volume   string
	env      []string
	// instanceBase is service.instance.id as the webhook sets it.
	instanceBase string
}

type podSpec struct {
	manifest string
	// containerEnv is the app container's own env in its manifest.
	containerEnv []corev1.EnvVar
	platform     string
}

func newPod(t testing.TB, spec podSpec) *pod {
	t.Helper()
	inst, err := webhookenv.ParseInstrumentation([]byte(spec.manifest))
	if err != nil {
		t.Fatal(err)
	}
	w := webhookenv.Seed()
	w.Platform = spec.platform
	// As many Python images set them: unbuffered output (the tests read
	// the console) and no bytecode written next to the test apps.
	w.Env = append(env("PYTHONUNBUFFERED", "1", "PYTHONDONTWRITEBYTECODE", "1"), spec.containerEnv...)
	inj, err := webhookenv.Inject(inst, w)
	if err != nil {
		t.Fatal(err)
	}
	if inj.InitImage != agentImage {
		t.Fatalf("init container image %q, want %q", inj.InitImage, agentImage)
	}
	if inj.MountPath != webhookenv.MountPath {
		t.Fatalf("agent volume mounted at %q", inj.MountPath)
	}
	volume := filepath.Join(t.TempDir(), "otel-auto-instrumentation-python")
	if err := os.Mkdir(volume, 0o755); err != nil {
		t.Fatal(err)
	}
	runInitContainer(t, inj.InitCommand, volume)

	resolved, err := webhookenv.Resolve(inj.Env, w)
	if err != nil {
		t.Fatal(err)
	}
	p := &pod{workload: w, volume: volume}
	// The container's base environment (what the image and runtime give
	// every process), then exactly what the webhook injected, with the
	// mount path pointing at this test's volume instead of the
	// container's /otel-auto-instrumentation-python.
	home := t.TempDir()
	p.env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "LANG=C.UTF-8"}
	for _, kv := range resolved {
		if strings.HasPrefix(kv, "PYTHONPATH=") {
			kv = strings.ReplaceAll(kv, webhookenv.MountPath, volume)
		}
		p.env = append(p.env, kv)
		if v, ok := strings.CutPrefix(kv, "OTEL_RESOURCE_ATTRIBUTES="); ok {
			for _, pair := range strings.Split(v, ",") {
				if id, ok := strings.CutPrefix(pair, "service.instance.id="); ok {
					p.instanceBase = id
				}
			}
		}
	}
	if p.instanceBase == "" {
		t.Fatalf("webhook set no service.instance.id: %v", resolved)
	}
	return p
}

// runInitContainer runs the init container's command with the image's own
// busybox cp, paths mapped into the unpacked image and the test volume.
func runInitContainer(t testing.TB, command []string, volume string) {
	t.Helper()
	if len(command) == 0 {
		t.Fatal("empty init container command")
	}
	args := make([]string, 0, len(command)-1)
	for _, a := range command[1:] {
		switch {
		case strings.HasPrefix(a, webhookenv.MountPath):
			args = append(args, volume+strings.TrimPrefix(a, webhookenv.MountPath))
		case strings.HasPrefix(a, "/"):
			// Plain concatenation keeps cp's trailing "/." (copy the contents).
			args = append(args, rootfs+a)
		default:
			args = append(args, a)
		}
	}
	bin := filepath.Join(rootfs, "bin", command[0])
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("init container %v: %v\n%s", command, err, out)
	}
	if _, err := os.Stat(filepath.Join(volume, "opentelemetry", "instrumentation", "auto_instrumentation", "sitecustomize.py")); err != nil {
		t.Fatalf("init container did not lay out sitecustomize.py: %v", err)
	}
}

func (p *pod) podName() string { return p.workload.Pod }

// instanceID is the service.instance.id the agent must give process pid.
func (p *pod) instanceID(pid int) string { return p.instanceBase + "-" + strconv.Itoa(pid) }

// proc is one app process (and its children, in its own process group).
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdout *syncbuf.Buffer
	stderr *syncbuf.Buffer
	done   chan struct{}
	err    error
}

func startProc(t testing.TB, p *pod, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = p.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr := &proc{t: t, cmd: cmd, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = pr.stdout, pr.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		pr.err = cmd.Wait()
		close(pr.done)
	}()
	t.Cleanup(func() {
		select {
		case <-pr.done:
		default:
			// The test failed before stopping it: end the group we made.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-pr.done
		}
		if t.Failed() {
			t.Logf("%v stdout:\n%s", args, syncbuf.Tail(pr.stdout.String(), 4000))
			t.Logf("%v stderr:\n%s", args, syncbuf.Tail(pr.stderr.String(), 6000))
		}
	})
	return pr
}

func (pr *proc) pid() int { return pr.cmd.Process.Pid }

// stop sends sig to the process (the server's own shutdown handles its
// workers, as in a pod) and waits; after the timeout the group is killed
// and the test fails.
func (pr *proc) stop(sig syscall.Signal, timeout time.Duration) {
	pr.t.Helper()
	_ = pr.cmd.Process.Signal(sig)
	select {
	case <-pr.done:
	case <-time.After(timeout):
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
		<-pr.done
		pr.t.Fatalf("process did not exit within %v of %v", timeout, sig)
	}
}

// wait waits for the process to exit by itself.
func (pr *proc) wait(timeout time.Duration) {
	pr.t.Helper()
	select {
	case <-pr.done:
	case <-time.After(timeout):
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
		<-pr.done
		pr.t.Fatalf("process did not exit within %v", timeout)
	}
}

// waitOutput waits until re matches at least n times in stderr+stdout.
func (pr *proc) waitOutput(re *regexp.Regexp, n int, timeout time.Duration) {
	pr.t.Helper()
	wait.For(pr.t, timeout, fmt.Sprintf("%v ×%d in the output", re, n), func() (bool, string) {
		pr.failIfExited("printing " + re.String())
		return len(re.FindAllString(pr.stderr.String()+pr.stdout.String(), -1)) >= n, ""
	})
}

func waitListening(t testing.TB, pr *proc, port int, timeout time.Duration) {
	t.Helper()
	wait.For(t, timeout, fmt.Sprintf("the server to listen on %d", port), func() (bool, string) {
		pr.failIfExited("listening")
		return wait.Listening(fmt.Sprintf("127.0.0.1:%d", port))
	})
}

// failIfExited fails the test when the process has exited before what the
// caller awaits.
func (pr *proc) failIfExited(before string) {
	pr.t.Helper()
	select {
	case <-pr.done:
		pr.t.Fatalf("process exited (%v) before %s", pr.err, before)
	default:
	}
}

var client = &http.Client{Timeout: 20 * time.Second}

// get returns status and body; the pid in "world! pid=N" tells which
// worker served it.
func get(t testing.TB, port int, path string) (int, string) {
	t.Helper()
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var pidRe = regexp.MustCompile(`pid=(\d+)`)

func servedBy(t testing.TB, body string) int {
	t.Helper()
	m := pidRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no pid in response %q", body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
