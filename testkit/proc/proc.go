// Package proc runs the helper processes tests own (stores, collectors,
// servers): it starts one, keeps its output, and stops it by its pid —
// never by name, so that nothing else on the machine is touched.
package proc

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
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/syncbuf"
)

// StopGrace is how long Stop waits after SIGTERM before SIGKILL.
const StopGrace = 15 * time.Second

// Process is a started child process.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	// Out holds stdout and stderr, unless the caller set cmd.Stdout or
	// cmd.Stderr before Start.
	Out  *syncbuf.Buffer
	done chan struct{}
	err  error
}

// Start starts cmd; name is used in messages. The process is waited for in
// the background, so Exited and Done tell when it ends.
func Start(name string, cmd *exec.Cmd) (*Process, error) {
	p := &Process{Name: name, Cmd: cmd, Out: &syncbuf.Buffer{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Out
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, cmd.Path, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// StartT is Start for a test: it fails t when the process cannot start,
// stops it at cleanup, and logs the end of its output if t failed.
func StartT(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p, err := Start(name, cmd)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(StopGrace); err != nil {
			t.Errorf("%v", err)
		}
		if t.Failed() {
			t.Logf("%s output (last 6 KiB):\n%s", name, p.Out.Tail(6<<10))
		}
	})
	return p
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended (nil while it runs or after a clean exit).
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// ErrKilled is returned by Stop when SIGTERM was not enough.
var ErrKilled = errors.New("ignored SIGTERM and was killed")

// Stop sends SIGTERM to the pid and waits up to grace for the exit, then
// sends SIGKILL and waits. It returns an error wrapping ErrKilled when the
// process had to be killed; a process that already exited is left alone.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s (pid %d) %w after %v", p.Name, p.Pid(), ErrKilled, grace)
}

// Kill sends SIGKILL to the pid and waits for the exit: the process gets
// no chance to flush or clean up (crash tests).
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Alive reports whether a process with this pid is running. A zombie (it
// exited; only its parent's reaping is pending) is not: its state letter
// in /proc/PID/stat, after the parenthesised command name, is Z.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// Info is a live process as /proc shows it.
type Info struct {
	Pid     int
	Cmdline string // arguments joined by spaces
	Cgroup  string // /proc/PID/cgroup
}

// Others lists the live processes of the machine (zombies and this process
// left out), for tests that check nothing they started is left behind.
func Others() []Info {
	var out []Info
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == os.Getpid() || !Alive(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		cgroup, _ := os.ReadFile(filepath.Join(d, "cgroup"))
		out = append(out, Info{Pid: pid, Cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")), Cgroup: string(cgroup)})
	}
	return out
}
