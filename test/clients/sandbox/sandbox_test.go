package sandbox_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autotel/autotel/test/clients/sandbox"
	"github.com/autotel/autotel/testkit/syncbuf"
	"github.com/autotel/autotel/testkit/wait"
)

func newPod(t *testing.T) *sandbox.Pod {
	t.Helper()
	p, err := sandbox.NewPod()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// The pod has a loopback of its own and no other interface: no route leads
// out of it. Checked by listing interfaces, not by sending anything.
func TestNetworkIsLoopbackOnly(t *testing.T) {
	p := newPod(t)
	l, err := p.Listen("tcp", "127.0.0.1:4318")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			_, _ = c.Write([]byte("hi"))
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.DialContext(ctx, "tcp", "127.0.0.1:4318")
	if err != nil {
		t.Fatalf("dialing inside the pod: %v", err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "hi" {
		t.Errorf("read %q", got)
	}

	// A listener of the test's own namespace is not reachable from the
	// pod: the pod's 127.0.0.1 is its own.
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if c, err := p.DialContext(ctx, "tcp", host.Addr().String()); err == nil {
		c.Close()
		t.Errorf("the pod reached the host's %s", host.Addr())
	}
}

func TestInterfaces(t *testing.T) {
	p := newPod(t)
	read := func(file string) string {
		t.Helper()
		var out bytes.Buffer
		pr, err := p.Start(sandbox.Container{Argv: []string{"/bin/cat", file}, Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		if err := pr.Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	dev := read("/proc/self/net/dev")
	var ifaces []string
	for _, line := range strings.Split(dev, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
			ifaces = append(ifaces, strings.TrimSpace(name))
		}
	}
	if !slices.Equal(ifaces, []string{"lo"}) {
		t.Errorf("interfaces in the pod: %v, want only lo\n%s", ifaces, dev)
	}
	// Only the header: no IPv4 route at all, so no address outside the
	// pod's loopback can be reached.
	if routes := strings.Split(strings.TrimSpace(read("/proc/self/net/route")), "\n"); len(routes) != 1 {
		t.Errorf("routes in the pod: %q", routes)
	}
}

func TestExactEnvironmentAndMounts(t *testing.T) {
	p := newPod(t)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "file"), []byte("from the volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "mnt")
	env := []string{"A=1", "B=two words", "C=it's $(quoted)\nnewline", "EMPTY="}

	var out bytes.Buffer
	pr, err := p.Start(sandbox.Container{
		Argv:   []string{"/usr/bin/env", "-0"},
		Env:    env,
		Mounts: []sandbox.Mount{{Source: vol, Target: target, ReadOnly: true}},
		Stdout: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pr.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\x00"), "\x00")
	if !slices.Equal(got, env) {
		t.Errorf("environment %q, want exactly %q", got, env)
	}

	out.Reset()
	pr, err = p.Start(sandbox.Container{
		Argv:   []string{"/bin/sh", "-c", `cat "$T/file"; if echo x > "$T/new" 2>/dev/null; then echo writable; fi`},
		Env:    []string{"T=" + target, "PATH=/usr/bin:/bin"},
		Mounts: []sandbox.Mount{{Source: vol, Target: target, ReadOnly: true}},
		Stdout: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pr.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out.String() != "from the volume" {
		t.Errorf("inside: %q, want the volume's file, read-only", out.String())
	}
	// The mount was the process's alone.
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("mount leaked to the host: %v", entries)
	}
}

func TestPidIsTheProgramsAndStopEndsIt(t *testing.T) {
	p := newPod(t)
	out := &syncbuf.Buffer{}
	pr, err := p.Start(sandbox.Container{Argv: []string{"/bin/sh", "-c", "echo $$; exec sleep 60"}, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(10*time.Second, 10*time.Millisecond, func() (bool, string) { return strings.Contains(out.String(), "\n"), "" })
	if got := strings.TrimSpace(out.String()); got != strconv.Itoa(pr.Pid) {
		t.Fatalf("program says its pid is %q, Start says %d", got, pr.Pid)
	}
	if pids, err := p.Processes(); err != nil || !slices.Equal(pids, []int{pr.Pid}) {
		t.Errorf("processes in the pod: %v (%v), want [%d]", pids, err, pr.Pid)
	}
	if err := pr.Stop(10 * time.Second); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("Stop: %v, want the program ended by SIGTERM", err)
	}
	if !pr.Exited() {
		t.Error("not reaped after Stop")
	}
	if pids, _ := p.Processes(); len(pids) != 0 {
		t.Errorf("processes left in the pod: %v", pids)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pr.Pid)); err == nil {
		t.Errorf("pid %d still exists", pr.Pid)
	}
}

func TestWaitKillsOnTimeout(t *testing.T) {
	p := newPod(t)
	pr, err := p.Start(sandbox.Container{Argv: []string{"/bin/sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := pr.Wait(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait: %v", err)
	}
	if time.Since(start) > 5*time.Second || !pr.Exited() {
		t.Error("the process outlived its timeout")
	}
}
