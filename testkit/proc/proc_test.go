package proc_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/proc"
)

func TestOutputAndExit(t *testing.T) {
	p, err := proc.Start("echo", exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if out := p.Out.String(); !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
		t.Errorf("output %q lacks stdout or stderr", out)
	}
	var exit *exec.ExitError
	if !errors.As(p.Err(), &exit) || exit.ExitCode() != 3 {
		t.Errorf("Err = %v, want exit status 3", p.Err())
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("Stop after exit: %v", err)
	}
}

func TestStopByPid(t *testing.T) {
	p := proc.StartT(t, "sleep", exec.Command("sleep", "60"))
	pid := p.Pid()
	if !proc.Alive(pid) || p.Exited() {
		t.Fatalf("pid %d not running after start", pid)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("sleep should stop on SIGTERM: %v", err)
	}
	if !p.Exited() || proc.Alive(pid) {
		t.Fatalf("pid %d still running after Stop", pid)
	}
}

func TestStopKillsWhatIgnoresTerm(t *testing.T) {
	// The shell ignores SIGTERM; exec keeps the pid so the signal reaches
	// the process that ignores it.
	p, err := proc.Start("stubborn", exec.Command("sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.05; done`))
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(p.Out.String(), "ready") {
		time.Sleep(10 * time.Millisecond)
	}
	err = p.Stop(200 * time.Millisecond)
	if !errors.Is(err, proc.ErrKilled) || !strings.Contains(err.Error(), "stubborn") {
		t.Fatalf("Stop = %v; want ErrKilled naming the process", err)
	}
	if !p.Exited() {
		t.Fatal("not exited after kill")
	}
}

func TestStartErrorNamesBinary(t *testing.T) {
	_, err := proc.Start("nothing", exec.Command("/nonexistent/bin"))
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/bin") {
		t.Fatalf("Start = %v; want an error naming the binary", err)
	}
}

func TestAliveIsFalseForAZombie(t *testing.T) {
	// Start without Wait: after exit the child stays a zombie until reaped.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for proc.Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d (exited, unreaped) still reported alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		t.Fatalf("the zombie should still be in /proc before Wait: %v", err)
	}
	_ = cmd.Wait()
	if !proc.Alive(os.Getpid()) {
		t.Fatal("the test itself is not reported alive")
	}
}

func TestOthersSeesAChildNotItself(t *testing.T) {
	p := proc.StartT(t, "sleep", exec.Command("sleep", "61"))
	var found bool
	for _, o := range proc.Others() {
		if o.Pid == os.Getpid() {
			t.Error("Others lists the calling process")
		}
		if o.Pid == p.Pid() {
			found = true
			if o.Cmdline != "sleep 61" {
				t.Errorf("cmdline %q", o.Cmdline)
			}
		}
	}
	if !found {
		t.Fatalf("child pid %d not in Others", p.Pid())
	}
}

func TestKill(t *testing.T) {
	p, err := proc.Start("sleep", exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	p.Kill()
	var exit *exec.ExitError
	if !errors.As(p.Err(), &exit) || exit.ProcessState.String() != "signal: killed" {
		t.Fatalf("Err = %v, want signal: killed", p.Err())
	}
	p.Kill() // a second call on an exited process returns at once
}

func TestUsageOfThisProcess(t *testing.T) {
	// Burn some CPU so the counter is past zero on any machine.
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		_ = n * n
	}
	cpu, err := proc.CPUSeconds(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("CPUSeconds = %v, %v; want > 0", cpu, err)
	}
	rss, peak, err := proc.Memory(os.Getpid())
	if err != nil || rss <= 0 || peak < rss {
		t.Fatalf("Memory = %d, %d, %v; want 0 < rss <= peak", rss, peak, err)
	}
	if _, err := proc.CPUSeconds(-1); err == nil {
		t.Fatal("CPUSeconds(-1) succeeded")
	}
}
