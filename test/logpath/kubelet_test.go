package logpath

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/agent/python/harness/webhookenv"
	"github.com/autotel/autotel/testkit/syncbuf"
	"github.com/autotel/autotel/testkit/wait"
)

// The stand-in kubelet. A real node would pull the images, run the init
// container, start the app container with the environment the kubelet
// builds from the stored pod, and have the container runtime write the
// container's stdout and stderr to /var/log/pods. Here:
//
//   - the init container's command runs verbatim with the agent image's
//     own busybox, its paths mapped into the unpacked image and a volume
//     folder;
//   - the app container's environment is the stored pod's, downward-API
//     fields filled in and $(VAR) references expanded as the kubelet does;
//   - the app's stdout and stderr are pipes, each drained by one goroutine
//     that writes CRI lines to <logRoot>/<namespace>_<pod>_<uid>/<container>/0.log
//     the way containerd's CRI logger does.
//
// What it does not do: namespaces and mounts (the volume's mount path is
// rewritten in PYTHONPATH instead) and reporting pod status: every pod
// here shares 127.0.0.1, and published pod IPs would make the collector's
// connection-based pod association ambiguous.

// nodeName is the node every pod is bound to; the collector, as a
// DaemonSet's pod, watches only this node's pods.
const nodeName = "logpath-node"

// podIP and hostIP are what the downward API gives the container.
const (
	podIP  = "127.0.0.1"
	hostIP = "127.0.0.1"
)

const initContainerName = "opentelemetry-auto-instrumentation-python"

// container is one running app container.
type container struct {
	t       testing.TB
	pod     *corev1.Pod
	name    string
	env     []string
	logFile string
	cmd     *exec.Cmd
	console *syncbuf.Buffer
	exited  chan struct{}
	drained chan struct{}
	err     error
}

// startContainer runs the pod's init container and then its app container
// named name, with argv as the container command and dir as its working
// directory.
func startContainer(t testing.TB, pod *corev1.Pod, name, logRoot, dir string, argv ...string) *container {
	t.Helper()
	var app *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			app = &pod.Spec.Containers[i]
		}
	}
	if app == nil {
		t.Fatalf("pod %s has no container %q", pod.Name, name)
	}
	volume := runInitContainer(t, pod)
	env, err := containerEnv(pod, app, volume)
	if err != nil {
		t.Fatalf("pod %s: %v", pod.Name, err)
	}

	logFile := filepath.Join(logRoot, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), name, "0.log")
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}

	c := &container{t: t, pod: pod, name: name, env: env, logFile: logFile,
		console: &syncbuf.Buffer{}, exited: make(chan struct{}), drained: make(chan struct{})}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Dir = dir
	c.cmd.Env = env
	c.cmd.Stdout, c.cmd.Stderr = outW, errW
	// Its own process group: workers that outlive a failed test can be
	// found and ended without touching anything else.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	errW.Close()

	w := &criWriter{f: f}
	var copiers sync.WaitGroup
	copiers.Add(2)
	go func() { defer copiers.Done(); redirectLogs(outR, "stdout", w, c.console) }()
	go func() { defer copiers.Done(); redirectLogs(errR, "stderr", w, c.console) }()
	go func() {
		copiers.Wait()
		f.Close()
		close(c.drained)
	}()
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()

	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.exited
		}
		c.endStragglers()
		if t.Failed() {
			t.Logf("container log of %s/%s (last 6 KiB):\n%s", pod.Namespace, pod.Name, syncbuf.Tail(readFile(t, logFile), 6<<10))
		}
	})
	return c
}

// endStragglers ends anything left in the container's process group once
// its main process is gone (as the runtime does when a container stops)
// and waits for the log copiers.
func (c *container) endStragglers() {
	select {
	case <-c.drained:
		return
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.drained
}

// stop sends sig to the container's main process, as the kubelet does,
// and waits for it and for its output to be written; the test fails if it
// does not exit in time.
func (c *container) stop(sig syscall.Signal, timeout time.Duration) {
	c.t.Helper()
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
		c.t.Errorf("%s did not exit within %v of %v", c.pod.Name, timeout, sig)
	}
	c.endStragglers()
}

func (c *container) pid() int { return c.cmd.Process.Pid }

// waitConsole waits until re matches n times in the container's output.
func (c *container) waitConsole(re *regexp.Regexp, n int, timeout time.Duration) {
	c.t.Helper()
	wait.For(c.t, timeout, fmt.Sprintf("%v ×%d on %s's console", re, n, c.pod.Name), func() (bool, string) {
		c.failIfExited("printing " + re.String())
		return len(re.FindAllString(c.console.String(), -1)) >= n, syncbuf.Tail(c.console.String(), 4000)
	})
}

func (c *container) waitListening(port int, timeout time.Duration) {
	c.t.Helper()
	wait.For(c.t, timeout, fmt.Sprintf("%s to listen on %d", c.pod.Name, port), func() (bool, string) {
		c.failIfExited("listening")
		return wait.Listening(fmt.Sprintf("127.0.0.1:%d", port))
	})
}

// failIfExited fails the test when the container has exited before what
// the caller awaits.
func (c *container) failIfExited(before string) {
	c.t.Helper()
	select {
	case <-c.exited:
		c.t.Fatalf("%s exited (%v) before %s:\n%s", c.pod.Name, c.err, before, syncbuf.Tail(c.console.String(), 4000))
	default:
	}
}

// runInitContainer runs the agent init container's command with the
// image's own busybox and returns the volume folder it filled.
func runInitContainer(t testing.TB, pod *corev1.Pod) string {
	t.Helper()
	var ic *corev1.Container
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == initContainerName {
			ic = &pod.Spec.InitContainers[i]
		}
	}
	if ic == nil {
		t.Fatalf("pod %s was not injected: no %s init container (annotations %v)", pod.Name, initContainerName, pod.Annotations)
	}
	if ic.Image != agentImage {
		t.Fatalf("init container image %q, want %q", ic.Image, agentImage)
	}
	if len(ic.VolumeMounts) != 1 || ic.VolumeMounts[0].MountPath != webhookenv.MountPath {
		t.Fatalf("init container mounts %+v, want one at %s", ic.VolumeMounts, webhookenv.MountPath)
	}
	volume := filepath.Join(t.TempDir(), "volume")
	if err := os.Mkdir(volume, 0o755); err != nil {
		t.Fatal(err)
	}
	if len(ic.Command) == 0 {
		t.Fatal("init container has no command")
	}
	var args []string
	for _, a := range ic.Command[1:] {
		switch {
		case strings.HasPrefix(a, webhookenv.MountPath):
			args = append(args, volume+strings.TrimPrefix(a, webhookenv.MountPath))
		case strings.HasPrefix(a, "/"):
			// Concatenation keeps cp's trailing "/." (copy the contents).
			args = append(args, agentRootfs+a)
		default:
			args = append(args, a)
		}
	}
	out, err := exec.Command(filepath.Join(agentRootfs, "bin", ic.Command[0]), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("init container %v: %v\n%s", ic.Command, err, out)
	}
	return volume
}

// containerEnv is the process environment of container c: what the image
// gives every process, then the container's env as the kubelet resolves
// it. The agent volume's mount path is rewritten to the volume folder.
func containerEnv(pod *corev1.Pod, c *corev1.Container, volume string) ([]string, error) {
	fields := map[string]string{
		"metadata.name":      pod.Name,
		"metadata.namespace": pod.Namespace,
		"metadata.uid":       string(pod.UID),
		"spec.nodeName":      pod.Spec.NodeName,
		"status.hostIP":      hostIP,
		"status.podIP":       podIP,
	}
	if len(c.EnvFrom) > 0 {
		return nil, fmt.Errorf("container %s: envFrom is not simulated", c.Name)
	}
	defined := map[string]string{}
	var order []string
	for _, e := range c.Env {
		var v string
		switch {
		case e.Value != "" || e.ValueFrom == nil:
			v = webhookenv.Expand(e.Value, defined)
		case e.ValueFrom.FieldRef != nil:
			fv, ok := fields[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				return nil, fmt.Errorf("%s: fieldRef %q is not simulated", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			v = fv
		default:
			return nil, fmt.Errorf("%s: only values and fieldRefs are simulated", e.Name)
		}
		if _, seen := defined[e.Name]; !seen {
			order = append(order, e.Name)
		}
		defined[e.Name] = v
	}
	home, err := os.MkdirTemp(filepath.Dir(volume), "home")
	if err != nil {
		return nil, err
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + home, "LANG=C.UTF-8"}
	for _, name := range order {
		v := defined[name]
		if name == "PYTHONPATH" {
			v = strings.ReplaceAll(v, webhookenv.MountPath, volume)
		}
		env = append(env, name+"="+v)
	}
	return env, nil
}

// envValue returns NAME's value in a process environment.
func envValue(env []string, name string) (string, bool) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// criWriter is the container's log file; both streams write whole lines
// to it under one lock, as containerd's serialized writer does.
type criWriter struct {
	mu sync.Mutex
	f  *os.File
}

func (w *criWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Write(p)
}

// Defaults of containerd's CRI logger (pkg/cri/io/logger.go) and of the
// max_container_log_line_size setting.
const (
	criReadBufSize = 4096
	criMaxLineLen  = 16 * 1024
)

// redirectLogs is containerd's redirectLogs: lines split at '\n' (a '\r'
// stays), lines longer than the maximum cut into partial ("P") records,
// the rest full ("F"), each prefixed with an RFC 3339 timestamp and the
// stream name. tee receives the raw output for readiness checks.
func redirectLogs(r io.Reader, stream string, w io.Writer, tee io.Writer) {
	br := bufio.NewReaderSize(io.TeeReader(r, tee), criReadBufSize)
	var (
		buf    [][]byte
		length int
		line   bytes.Buffer
	)
	write := func(tag string, parts [][]byte) {
		line.Reset()
		line.WriteString(time.Now().Format(time.RFC3339Nano))
		line.WriteString(" " + stream + " " + tag + " ")
		for _, p := range parts {
			line.Write(p)
		}
		line.WriteByte('\n')
		_, _ = w.Write(line.Bytes())
	}
	for {
		var stop bool
		newLine, isPrefix, err := readLine(br)
		if len(newLine) > 0 {
			buf = append(buf, bytes.Clone(newLine))
			length += len(newLine)
		}
		if err != nil {
			if length == 0 {
				return
			}
			stop = true
		}
		if length > criMaxLineLen {
			exceed := length - criMaxLineLen
			last := buf[len(buf)-1]
			buf[len(buf)-1] = last[:len(last)-exceed]
			write("P", buf)
			buf = [][]byte{last[len(last)-exceed:]}
			length = exceed
		}
		if isPrefix {
			continue
		}
		if stop {
			write("P", buf)
			return
		}
		write("F", buf)
		buf, length = nil, 0
	}
}

// readLine is containerd's: bufio.Reader.ReadLine keeping '\r', and a
// last line without a newline comes back with its error, so that it is
// written as a partial line.
func readLine(b *bufio.Reader) ([]byte, bool, error) {
	line, err := b.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		if len(line) > 0 && line[len(line)-1] == '\r' {
			_ = b.UnreadByte()
			line = line[:len(line)-1]
		}
		return line, true, nil
	}
	if len(line) == 0 {
		if err != nil {
			line = nil
		}
		return line, false, err
	}
	if line[len(line)-1] == '\n' {
		line = line[:len(line)-1]
	}
	return line, false, err
}

// criLine is one line of a container log.
type criLine struct {
	Time    time.Time
	Stream  string
	Tag     string
	Content string
}

var criLineRe = regexp.MustCompile(`^(\S+) (stdout|stderr) ([PF]) (.*)$`)

// readContainerLog parses a container log; every line must be CRI.
func readContainerLog(t testing.TB, path string) []criLine {
	t.Helper()
	var out []criLine
	for i, l := range strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n") {
		if l == "" && i == 0 {
			break
		}
		m := criLineRe.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s line %d is not CRI: %q", path, i+1, l)
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("%s line %d: timestamp: %v", path, i+1, err)
		}
		out = append(out, criLine{Time: ts, Stream: m[2], Tag: m[3], Content: m[4]})
	}
	return out
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestContainerLogWriter pins the stand-in's CRI format to containerd's:
// one line per newline, '\r' kept, lines over 16 KiB split into partial
// records, a last line without newline written as partial.
func TestContainerLogWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", criMaxLineLen+10)
	var tee syncbuf.Buffer
	in := "first\nwindows\r\n\n" + long + "\nno newline"
	redirectLogs(strings.NewReader(in), "stderr", &criWriter{f: f}, &tee)
	f.Close()
	if tee.String() != in {
		t.Errorf("the console copy is not the raw output")
	}
	got := readContainerLog(t, path)
	want := []criLine{
		{Stream: "stderr", Tag: "F", Content: "first"},
		{Stream: "stderr", Tag: "F", Content: "windows\r"},
		{Stream: "stderr", Tag: "F", Content: ""},
		{Stream: "stderr", Tag: "P", Content: long[:criMaxLineLen]},
		{Stream: "stderr", Tag: "F", Content: long[criMaxLineLen:]},
		{Stream: "stderr", Tag: "P", Content: "no newline"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Stream != want[i].Stream || got[i].Tag != want[i].Tag || got[i].Content != want[i].Content {
			t.Errorf("line %d: %s %s %.40q, want %s %s %.40q", i, got[i].Stream, got[i].Tag, got[i].Content, want[i].Stream, want[i].Tag, want[i].Content)
		}
		if time.Since(got[i].Time) > time.Minute {
			t.Errorf("line %d: timestamp %v", i, got[i].Time)
		}
	}
}
