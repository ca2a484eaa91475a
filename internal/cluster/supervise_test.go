package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func alive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil && !zombie(pid)
}

// startSleeper starts argv under the supervisor and makes sure it is gone
// when the test ends, whatever the test did. No `sh -c "exec ..."`: the
// identity recorded at start would be the shell's until the exec.
func startSleeper(t *testing.T, s Supervisor, name string, argv ...string) int {
	t.Helper()
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatalf("no %s on PATH: %v", argv[0], err)
	}
	pid, err := s.Start(name, filepath.Join(s.Dir, name+".log"), append([]string{bin}, argv[1:]...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

func TestSupervisorStartFindStop(t *testing.T) {
	s := Supervisor{Dir: t.TempDir()}
	pid := startSleeper(t, s, "sleeper", "sleep", "60")
	got, ok := s.PID("sleeper")
	if !ok || got != pid {
		t.Fatalf("PID(sleeper) = %d, %v; want %d, true", got, ok, pid)
	}
	// Its own session: not in ours, so a terminal's ^C does not reach it.
	if f, _ := statFields(pid); len(f) < 4 || f[3] != strconv.Itoa(pid) {
		t.Errorf("daemon's session id (field 6 of /proc/%d/stat: %v) is not its own pid", pid, f)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir, "sleeper.pid"))
	if strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Errorf("sleeper.pid holds %q, want %d", b, pid)
	}
	if st := s.Statuses([]string{"sleeper", "other"}); !st[0].Running || st[0].RSSKiB == 0 || st[1].Running {
		t.Errorf("statuses %+v: want sleeper running with its RSS, other stopped", st)
	}
	if err := s.Stop("sleeper", 5*time.Second, t.Logf); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("pid %d still alive after Stop", pid)
	}
	if _, ok := s.PID("sleeper"); ok {
		t.Error("PID still reports the daemon after Stop")
	}
	for _, f := range []string{"sleeper.pid", "sleeper.proc"} {
		if _, err := os.Stat(filepath.Join(s.Dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s left after Stop (%v)", f, err)
		}
	}
	// The log receives the daemon's stdout and stderr.
	startSleeper(t, s, "talker", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 60")
	deadline := time.Now().Add(5 * time.Second)
	var logb []byte
	for time.Now().Before(deadline) {
		if logb, _ = os.ReadFile(filepath.Join(s.Dir, "talker.log")); strings.Contains(string(logb), "to-stderr") && strings.Contains(string(logb), "to-stdout") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(string(logb), "to-stdout\nto-stderr") {
		t.Errorf("log holds %q, want both streams of the daemon", logb)
	}
	// Stopping what is not running is fine (down runs twice).
	if err := s.Stop("sleeper", time.Second, t.Logf); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestSupervisorKillsWhatIgnoresSIGTERM(t *testing.T) {
	s := Supervisor{Dir: t.TempDir()}
	pid := startSleeper(t, s, "stubborn", "sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.1; done`)
	// Only once the trap is set does the shell ignore SIGTERM.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(s.Dir, "stubborn.log")); strings.Contains(string(b), "ready") {
			break
		}
	}
	var said []string
	if err := s.Stop("stubborn", 300*time.Millisecond, func(f string, a ...any) { said = append(said, f) }); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("pid %d survived Stop", pid)
	}
	if !strings.Contains(strings.Join(said, "\n"), "SIGKILL") {
		t.Errorf("Stop did not say it sent SIGKILL: %q", said)
	}
}

// A pid file whose pid now belongs to another process is not ours: neither
// reported nor signalled.
func TestSupervisorIgnoresRecycledPID(t *testing.T) {
	s := Supervisor{Dir: t.TempDir()}
	pid := startSleeper(t, s, "victim", "sleep", "60")
	// Point "gone" at the live process but with another start time, as a
	// pid reused after a reboot or a wrap-around would look.
	id, err := procIdentity(pid)
	if err != nil {
		t.Fatal(err)
	}
	exe, _, _ := strings.Cut(id, " ")
	_ = os.WriteFile(filepath.Join(s.Dir, "gone.pid"), []byte(strconv.Itoa(pid)), 0o644)
	_ = os.WriteFile(filepath.Join(s.Dir, "gone.proc"), []byte(exe+" 1"), 0o644)
	if _, ok := s.PID("gone"); ok {
		t.Fatal("a pid with another start time was taken for the daemon")
	}
	if err := s.Stop("gone", time.Second, t.Logf); err != nil {
		t.Fatal(err)
	}
	if !alive(pid) {
		t.Fatal("Stop signalled a process that was not the daemon")
	}
}

func TestStartFailsForMissingBinary(t *testing.T) {
	s := Supervisor{Dir: t.TempDir()}
	_, err := s.Start("nothing", filepath.Join(s.Dir, "x.log"), []string{filepath.Join(s.Dir, "no-such-binary")})
	if err == nil || !strings.Contains(err.Error(), "start nothing") {
		t.Fatalf("want an error naming the daemon, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "nothing.pid")); !os.IsNotExist(err) {
		t.Errorf("a pid file was written for a daemon that never started")
	}
}

func TestStopShimsMatchesOnlyOurSocket(t *testing.T) {
	dir := t.TempDir()
	// Two copies of sleep whose executable is named like the shim; their
	// command lines name two sockets (as argv[0], which sleep ignores).
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(dir, "containerd-shim-runc-v2")
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shim, b, 0o755); err != nil {
		t.Fatal(err)
	}
	ours := &exec.Cmd{Path: shim, Args: []string{"/tmp/ours/containerd.sock", "60"}}
	theirs := &exec.Cmd{Path: shim, Args: []string{"/tmp/theirs/containerd.sock", "60"}}
	for _, c := range []*exec.Cmd{ours, theirs} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = c.Wait() }()
		t.Cleanup(func() { _ = c.Process.Kill() })
	}
	if err := StopShims("/tmp/ours/containerd.sock", 2*time.Second, t.Logf); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for alive(ours.Process.Pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(ours.Process.Pid) {
		t.Error("the shim naming our socket is still running")
	}
	if !alive(theirs.Process.Pid) {
		t.Error("the shim of another containerd was stopped")
	}
}

// Pid files the scripts wrote before this supervisor (<name>.exe with the
// executable's base name) still find their daemon, so `down` after an
// upgrade stops it.
func TestSupervisorFindsLegacyPidFiles(t *testing.T) {
	s := Supervisor{Dir: t.TempDir()}
	pid := startSleeper(t, s, "old", "sleep", "60")
	_ = os.Remove(filepath.Join(s.Dir, "old.proc"))
	_ = os.WriteFile(filepath.Join(s.Dir, "old.exe"), []byte("sleep\n"), 0o644)
	if got, ok := s.PID("old"); !ok || got != pid {
		t.Fatalf("PID(old) = %d, %v; want %d from the legacy .exe file", got, ok, pid)
	}
	_ = os.WriteFile(filepath.Join(s.Dir, "old.exe"), []byte("etcd\n"), 0o644)
	if _, ok := s.PID("old"); ok {
		t.Fatal("a legacy .exe naming another binary matched")
	}
	_ = os.WriteFile(filepath.Join(s.Dir, "old.exe"), []byte("sleep\n"), 0o644)
	if err := s.Stop("old", 5*time.Second, t.Logf); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Error("the legacy daemon survived Stop")
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "old.exe")); !os.IsNotExist(err) {
		t.Error("old.exe left after Stop")
	}
}

// A daemon that dies before its pid is recorded (a bad flag) is an error
// carrying its exit status and the end of its log, and leaves no pid file.
func TestStartReportsADaemonThatExitsAtOnce(t *testing.T) {
	// Look only once the child has exited (a zombie until Start reaps it),
	// which is the race this path handles.
	identify = func(pid int) (string, error) {
		for deadline := time.Now().Add(5 * time.Second); !zombie(pid) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		return procIdentity(pid)
	}
	t.Cleanup(func() { identify = procIdentity })
	s := Supervisor{Dir: t.TempDir()}
	_, err := s.Start("quitter", filepath.Join(s.Dir, "quitter.log"), []string{"/bin/sh", "-c", "echo bad flag --x >&2; exit 3"})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "bad flag --x") {
		t.Errorf("error %v lacks the exit status or the log's end", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "quitter.pid")); !os.IsNotExist(err) {
		t.Errorf("a pid file was written for a daemon that had exited")
	}
}
