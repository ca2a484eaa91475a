// Package local tests the README's first command: `make run` on a machine
// without a cluster runs cmd/autotel-local, which brings up its own
// control plane and operator; kubectl then sees the seed injected.
package local

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autotel/autotel/internal/testenv"
)

func TestLocalControlPlane(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "autotel-local")
	build := exec.Command("go", "build", "-o", bin, "./cmd/autotel-local")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building autotel-local: %v\n%s", err, out)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig-out", kubeconfig)
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Logf("autotel-local exited after SIGINT: %v", err)
			}
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Errorf("autotel-local did not stop within 60s of SIGINT")
		}
	}
	defer stop()

	// Wait for the banner that tells the user the operator is up.
	lines := bufio.NewScanner(stdout)
	var kubectl string
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if strings.HasSuffix(line, " create namespace example") {
			kubectl = strings.Fields(line)[0]
		}
		if strings.HasPrefix(line, "There is no kubelet here") {
			break
		}
	}
	if kubectl == "" {
		t.Fatal("autotel-local never printed its usage banner")
	}
	go func() {
		for lines.Scan() {
		}
	}()
	run := func(args ...string) string {
		t.Helper()
		c := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		c.Dir = root
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("create", "namespace", "example")
	run("-n", "example", "apply", "-f", "testdata/seed/instrumentation-console.yaml")
	// The webhook reads Instrumentations from its cache; give it a moment.
	var env string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		name := "sample-" + time.Now().Format("150405.000")
		name = strings.ReplaceAll(name, ".", "")
		run("-n", "example", "run", name, "--image=sample:amd64", "--restart=Never", "--annotations=instrumentation.opentelemetry.io/inject-python=true")
		env = run("-n", "example", "get", "pod", name, "-o", "jsonpath={range .spec.initContainers[*]}{.name}{\"\\n\"}{end}{range .spec.containers[0].env[*]}{.name}={.value}{\"\\n\"}{end}")
		if strings.Contains(env, "opentelemetry-auto-instrumentation-python") || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{"opentelemetry-auto-instrumentation-python", "OTEL_LOGS_EXPORTER=console", "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318", "OTEL_PROPAGATORS=tracecontext,baggage", "service.version=amd64"} {
		if !strings.Contains(env, want) {
			t.Errorf("injected pod lacks %q:\n%s", want, env)
		}
	}
	children, _ := exec.Command("pgrep", "-P", strconv.Itoa(cmd.Process.Pid)).Output()
	pids := strings.Fields(string(children))
	if len(pids) < 2 {
		t.Errorf("expected etcd and kube-apiserver as children of autotel-local, found %v", pids)
	}
	stop()
	for _, pid := range pids {
		if err := exec.Command("kill", "-0", pid).Run(); err == nil {
			t.Errorf("process %s (etcd or kube-apiserver) still running after autotel-local stopped", pid)
		}
	}
}
