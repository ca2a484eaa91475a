package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The test binary runs as the command when this is set, so the scripts'
// calling convention (arguments, exit codes, output) is tested as they use it.
func TestMain(m *testing.M) {
	if os.Getenv("AUTOTEL_CLUSTER_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func cli(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "AUTOTEL_CLUSTER_RUN_MAIN=1")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	return string(out), 0
}

func TestDaemonLifecycleThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	if _, code := cli(t, "", "status", "-q", "--pids", pids, "a", "b"); code != 3 {
		t.Errorf("status with nothing started: exit %d, want 3", code)
	}
	if _, code := cli(t, "", "start", "--pids", pids, "--log", filepath.Join(dir, "a.log"), "a", "--", "sleep", "60"); code != 0 {
		t.Fatalf("start a: exit %d", code)
	}
	out, code := cli(t, "", "pid", "--pids", pids, "a")
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if code != 0 || err != nil {
		t.Fatalf("pid a: exit %d, output %q", code, out)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if _, code := cli(t, "", "status", "-q", "--pids", pids, "a", "b"); code != 1 {
		t.Errorf("status with one of two running: exit %d, want 1", code)
	}
	out, code = cli(t, "", "status", "--pids", pids, "a")
	if code != 0 || !strings.Contains(out, "running (pid "+strconv.Itoa(pid)) {
		t.Errorf("status a: exit %d, output %q", code, out)
	}
	if _, code := cli(t, "", "stop", "--pids", pids, "a", "b"); code != 0 {
		t.Errorf("stop a b: exit %d", code)
	}
	if _, code := cli(t, "", "pid", "--pids", pids, "a"); code != 1 {
		t.Errorf("pid a after stop: exit %d, want 1", code)
	}
	if _, code := cli(t, "", "start", "--pids", pids, "--log", filepath.Join(dir, "x.log"), "x"); code != 2 {
		t.Errorf("start without a command: exit %d, want 2", code)
	}
}

func TestPKIAndEntriesThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	if _, code := cli(t, "", "pki", "--dir", filepath.Join(dir, "pki"), "--kubeconfig-dir", dir, "--node-name", "n", "--service-ip", "not-an-ip", "--server", "https://127.0.0.1:1"); code != 2 {
		t.Errorf("pki with a bad --service-ip: exit %d, want 2", code)
	}
	if _, code := cli(t, "", "pki", "--dir", filepath.Join(dir, "pki"), "--kubeconfig-dir", dir, "--node-name", "n", "--service-ip", "127.100.0.1", "--server", "https://127.0.0.1:1"); code != 0 {
		t.Fatalf("pki: exit %d", code)
	}
	for _, f := range []string{"pki/ca.crt", "pki/kubelet-serving.key", "pki/sa.pub", "admin.kubeconfig", "kubelet.kubeconfig"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("pki did not write %s: %v", f, err)
		}
	}
	out, code := cli(t, `{"_stream":"{pod=\"p\"}","_msg":"hi"}`+"\n", "entries")
	if code != 0 || out != "{pod=\"p\"} hi\n" {
		t.Errorf("entries: exit %d, output %q", code, out)
	}
}
