// Package sandbox runs a test's processes the way a pod runs its
// containers, as far as they can tell: all of a pod's processes share one
// network namespace whose only interface is its own loopback, and each
// process has a private mount namespace where volumes are bind-mounted at
// the paths the pod spec names. The environment is exactly the one given.
//
// The network namespace is also the safety net for running real
// instrumentation: its cloud resource detectors probe link-local metadata
// addresses, which here have no route, so nothing leaves the machine.
//
// It needs root (CAP_SYS_ADMIN) and util-linux's nsenter and unshare.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Pod is one network namespace standing for a pod's sandbox.
type Pod struct {
	netns *os.File
	inode uint64
}

// NewPod creates a network namespace with its loopback interface up.
func NewPod() (*Pod, error) {
	var ns *os.File
	err := onLockedThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("creating a network namespace (needs root): %w", err)
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			return err
		}
		if err := loopbackUp(); err != nil {
			f.Close()
			return err
		}
		ns = f
		return nil
	})
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &st); err != nil {
		ns.Close()
		return nil, err
	}
	return &Pod{netns: ns, inode: st.Ino}, nil
}

// Close releases the namespace; it disappears once no process is left in it.
func (p *Pod) Close() error { return p.netns.Close() }

// onLockedThread runs f on an OS thread of its own and gives the thread its
// original network namespace back afterwards: namespaces belong to threads,
// and a Go thread returned to the scheduler must not stay in ours.
func onLockedThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		errc <- f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Still locked: the runtime ends the thread with this goroutine.
			return
		}
		runtime.UnlockOSThread()
	}()
	return <-errc
}

// in runs f with the calling thread inside the pod's network namespace, so
// sockets f creates belong to the pod.
func (p *Pod) in(f func() error) error {
	return onLockedThread(func() error {
		if err := unix.Setns(int(p.netns.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("entering the pod's network namespace: %w", err)
		}
		return f()
	})
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}

// Listen opens a listener inside the pod.
func (p *Pod) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := p.in(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// DialContext connects from inside the pod.
func (p *Pod) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := p.in(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// HTTPClient talks to servers inside the pod.
func (p *Pod) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: p.DialContext, DisableKeepAlives: true}}
}

// Processes lists the processes whose network namespace is the pod's.
func (p *Pod) Processes() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", e.Name(), "ns", "net"), &st) != nil {
			continue // gone, or a kernel thread
		}
		if st.Ino == p.inode {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Mount is a bind mount visible only to one container's process.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// Container is one process to start in the pod.
type Container struct {
	Argv []string
	// Env is the complete environment; nothing is added.
	Env    []string
	Dir    string
	Mounts []Mount
	Stdout io.Writer
	Stderr io.Writer
}

// Process is a started container process. Its pid is the program's own:
// the namespace tools before it exec rather than fork.
type Process struct {
	Pid  int
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs c inside the pod.
func (p *Pod) Start(c Container) (*Process, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("container has no command")
	}
	var script strings.Builder
	// fd 3 is the namespace handle nsenter used; the program must not
	// inherit it.
	script.WriteString("set -e\nexec 3<&-\n")
	for _, m := range c.Mounts {
		fmt.Fprintf(&script, "mkdir -p %s\nmount --bind %s %s\n", quote(m.Target), quote(m.Source), quote(m.Target))
		if m.ReadOnly {
			fmt.Fprintf(&script, "mount -o remount,bind,ro %s\n", quote(m.Target))
		}
	}
	if c.Dir != "" {
		fmt.Fprintf(&script, "cd %s\n", quote(c.Dir))
	}
	// env -i: the shell's own variables (PWD, ...) must not leak in.
	script.WriteString("exec env -i --")
	for _, kv := range c.Env {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("environment entry %q has no '='", kv)
		}
		script.WriteString(" " + quote(kv))
	}
	for _, a := range c.Argv {
		script.WriteString(" " + quote(a))
	}
	script.WriteString("\n")

	cmd := exec.Command("nsenter", "--net=/proc/self/fd/3", "--",
		"unshare", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", script.String())
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.ExtraFiles = []*os.File{p.netns}
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	// If the test binary dies (panic, timeout), so does the program.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pr := &Process{Pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	go func() {
		pr.err = cmd.Wait()
		close(pr.done)
	}()
	return pr, nil
}

// Wait waits up to timeout for the process to exit by itself and returns
// its exit error; on timeout it kills it and says so.
func (pr *Process) Wait(timeout time.Duration) error {
	select {
	case <-pr.done:
		return pr.err
	case <-time.After(timeout):
		_ = syscall.Kill(pr.Pid, syscall.SIGKILL)
		<-pr.done
		return fmt.Errorf("pid %d did not exit within %s and was killed", pr.Pid, timeout)
	}
}

// Stop sends SIGTERM to the pid, as the kubelet does, and waits up to grace
// for the exit, then SIGKILL. It returns the exit error, or an error saying
// the grace period ran out.
func (pr *Process) Stop(grace time.Duration) error {
	select {
	case <-pr.done:
		return pr.err
	default:
	}
	if err := syscall.Kill(pr.Pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return pr.Wait(grace)
}

// Exited reports whether the process has been reaped.
func (pr *Process) Exited() bool {
	select {
	case <-pr.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status once exited (-1 when killed by a signal).
func (pr *Process) ExitCode() int { return pr.cmd.ProcessState.ExitCode() }

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
