package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Supervisor starts daemons that outlive it and finds them again by their
// pid files in Dir: <name>.pid holds the pid (what tests and people read),
// <name>.proc the executable and the kernel's start time of that process, so
// a recycled pid is never mistaken for the daemon.
type Supervisor struct {
	Dir string
}

// Start runs argv in a session of its own (it outlives the caller and its
// process group, and holds none of the caller's pipes), appending stdout and
// stderr to logPath, and records its pid under name.
func (s Supervisor) Start(name, logPath string, argv []string) (int, error) {
	if len(argv) == 0 {
		return 0, fmt.Errorf("start %s: no command given", name)
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("start %s: opening its log: %w", name, err)
	}
	defer log.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log // Stdin stays nil: /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	// Start returns once exec succeeded, so /proc/<pid>/exe is already the
	// daemon's binary.
	id, err := identify(pid)
	if err != nil {
		// Gone before we looked (a bad flag, a busy port): ours to reap,
		// and its log says why.
		werr := cmd.Wait()
		return 0, fmt.Errorf("start %s: exited at once (%w); last lines of %s:\n%s", name, werr, logPath, tail(logPath, 20))
	}
	{
		err = writeFiles(map[string]string{
			filepath.Join(s.Dir, name+".pid"):  strconv.Itoa(pid) + "\n",
			filepath.Join(s.Dir, name+".proc"): id + "\n",
		})
	}
	if err != nil {
		// A daemon nobody can find again must not be left behind.
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		return 0, fmt.Errorf("start %s: recording its pid: %w", name, err)
	}
	// Not waited for: when this process exits, init adopts the daemon.
	_ = cmd.Process.Release()
	return pid, nil
}

// PID is the pid of the running daemon name, or false when its pid file is
// missing, the process is gone (or a zombie), or the pid now belongs to
// another process.
func (s Supervisor) PID(name string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(s.Dir, name+".pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	got, err := procIdentity(pid)
	if err != nil || zombie(pid) {
		return 0, false
	}
	want, err := os.ReadFile(filepath.Join(s.Dir, name+".proc"))
	if err != nil {
		// Daemons started by the scripts before this tool recorded only
		// the executable, in <name>.exe (its base name or full path); they
		// must still be found, or `down` would leave them running.
		old, err := os.ReadFile(filepath.Join(s.Dir, name+".exe"))
		exe, _, _ := strings.Cut(got, " ")
		o := strings.TrimSpace(string(old))
		if err == nil && o != "" && (o == exe || o == filepath.Base(exe)) {
			return pid, true
		}
		return 0, false
	}
	if got != strings.TrimSpace(string(want)) {
		return 0, false
	}
	return pid, true
}

// Stop ends the daemon name (SIGTERM, SIGKILL after grace) and removes its
// pid files. A daemon that is not running is not an error.
func (s Supervisor) Stop(name string, grace time.Duration, logf func(string, ...any)) error {
	if pid, ok := s.PID(name); ok {
		logf("stopping %s (pid %d)", name, pid)
		if err := StopPID(name, pid, grace, logf); err != nil {
			return err
		}
	}
	for _, ext := range []string{".pid", ".proc", ".exe"} {
		if err := os.Remove(filepath.Join(s.Dir, name+ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("stop %s: %w", name, err)
		}
	}
	return nil
}

// StopPID sends SIGTERM, waits up to grace for the process to go, then
// sends SIGKILL and waits 5s more. A zombie counts as gone: its parent
// reaps it.
func StopPID(name string, pid int, grace time.Duration, logf func(string, ...any)) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return nil // already gone
	}
	if waitGone(pid, grace) {
		return nil
	}
	logf("%s (pid %d) ignored SIGTERM for %s; sending SIGKILL", name, pid, grace)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(pid, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("%s (pid %d) survived SIGKILL; is it stuck in the kernel (uninterruptible I/O)? see /proc/%d/stack", name, pid, pid)
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil || zombie(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Status is one daemon's line in `status`.
type Status struct {
	Name    string
	PID     int
	Running bool
	RSSKiB  int
}

// Statuses reports each named daemon.
func (s Supervisor) Statuses(names []string) []Status {
	out := make([]Status, 0, len(names))
	for _, n := range names {
		st := Status{Name: n}
		if pid, ok := s.PID(n); ok {
			st.PID, st.Running, st.RSSKiB = pid, true, rssKiB(pid)
		}
		out = append(out, st)
	}
	return out
}

// StopShims stops containerd-shim-runc-v2 processes whose command line names
// address (our containerd's socket): shims outlive containerd by design,
// and those of another containerd on the machine are left alone.
func StopShims(address string, grace time.Duration, logf func(string, ...any)) error {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var errs []error
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink(filepath.Join(d, "exe"))
		if err != nil || filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != "containerd-shim-runc-v2" {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(address)) || zombie(pid) {
			continue
		}
		logf("stopping leftover shim (pid %d)", pid)
		if err := StopPID("shim", pid, grace, logf); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// identify is procIdentity; tests replace it to hold Start at the moment a
// fast-failing daemon has exited.
var identify = procIdentity

// procIdentity is "<exe> <start time>": the start time (in clock ticks
// since boot) differs for any later process that reuses the pid.
func procIdentity(pid int) (string, error) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return "", err
	}
	// A binary rebuilt while its daemon runs shows as "<path> (deleted)".
	exe = strings.TrimSuffix(exe, " (deleted)")
	f, err := statFields(pid)
	if err != nil {
		return "", err
	}
	// Field 22 of /proc/<pid>/stat is starttime; f starts at field 3.
	if len(f) < 20 {
		return "", fmt.Errorf("/proc/%d/stat has %d fields", pid, len(f)+2)
	}
	return exe + " " + f[19], nil
}

// statFields are the fields of /proc/<pid>/stat after the command name,
// which may itself hold spaces and parentheses: f[0] is the state.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

func zombie(pid int) bool {
	f, err := statFields(pid)
	return err == nil && len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func writeFiles(files map[string]string) error {
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// tail is the last n lines of path, for the error about a daemon that died.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
