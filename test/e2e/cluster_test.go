//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/testenv"
	"github.com/autotel/autotel/testkit/proc"
)

// cluster is the one-node cluster hack/cluster.sh runs.
type cluster struct {
	root       string
	env        map[string]string // what `hack/cluster.sh env` prints
	config     *rest.Config
	client     client.Client
	clientset  *kubernetes.Clientset
	daemonPIDs map[string]int
}

// startCluster brings the cluster up through the project's script and
// registers its teardown, which then asserts nothing of it is left.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{root: root}
	// There is one cluster per machine, and this test tears it down: a
	// running one is someone else's (a developer's, a demo's), not ours to
	// take. A half-stopped one is left to `up`, which clears it.
	if out, err := c.script("status"); err == nil {
		t.Fatalf("a cluster is already running on this machine; the e2e tier would tear it down. Stop it first (hack/cluster.sh down):\n%s", out)
	}
	start := time.Now()
	// Teardown is registered before bring-up, so a half-started cluster is
	// stopped too.
	t.Cleanup(func() { c.stopAndCheck(t) })
	if _, err := c.script("up"); err != nil {
		t.Fatalf("hack/cluster.sh up: %v", err)
	}
	t.Logf("cluster up in %s", time.Since(start).Round(time.Second))
	out, err := c.script("env")
	if err != nil {
		t.Fatalf("hack/cluster.sh env: %v", err)
	}
	c.env = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		c.env[k] = v
	}
	c.daemonPIDs = c.readPIDs(t)
	if c.config, err = clientcmd.BuildConfigFromFlags("", c.env["KUBECONFIG"]); err != nil {
		t.Fatalf("loading the cluster's kubeconfig: %v", err)
	}
	if c.client, err = client.New(c.config, client.Options{Scheme: operator.Scheme()}); err != nil {
		t.Fatalf("creating a client: %v", err)
	}
	if c.clientset, err = kubernetes.NewForConfig(c.config); err != nil {
		t.Fatalf("creating a clientset: %v", err)
	}
	t.Logf("components' memory after bring-up: %s", c.memory())
	return c
}

func (c *cluster) script(args ...string) (string, error) {
	return run(c.root, "bash", append([]string{filepath.Join(c.root, "hack", "cluster.sh")}, args...)...)
}

func run(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr // progress shows with -v
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

// importImages builds images with hack/cluster-images.sh and imports them.
func (c *cluster) importImages(t *testing.T, names ...string) {
	t.Helper()
	start := time.Now()
	if _, err := run(c.root, "bash", append([]string{filepath.Join(c.root, "hack", "cluster-images.sh"), "import"}, names...)...); err != nil {
		t.Fatalf("building and importing images: %v", err)
	}
	t.Logf("images %v built and imported in %s", names, time.Since(start).Round(time.Second))
}

func (c *cluster) readPIDs(t *testing.T) map[string]int {
	t.Helper()
	pids := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(c.env["CLUSTER_STATE"], "pids", "*.pid"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("pid file %s holds %q", f, b)
		}
		pids[strings.TrimSuffix(filepath.Base(f), ".pid")] = pid
	}
	if len(pids) != 6 {
		t.Fatalf("want 6 daemons (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet), have pid files for %v", pids)
	}
	return pids
}

func (c *cluster) memory() string {
	var total int
	var parts []string
	for name, pid := range c.daemonPIDs {
		kib := rssKiB(pid)
		total += kib
		parts = append(parts, fmt.Sprintf("%s %d MiB", name, kib/1024))
	}
	return fmt.Sprintf("%d MiB in all (%s)", total/1024, strings.Join(parts, ", "))
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

// podsRSSKiB is the resident memory of every process in a pod's cgroup.
func podsRSSKiB() int {
	total := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cgroups, _ := os.ReadFile(filepath.Join(d, "cgroup"))
		if strings.Contains(string(cgroups), "/k8s.io/") {
			pid, _ := strconv.Atoi(filepath.Base(d))
			total += rssKiB(pid)
		}
	}
	return total
}

// stopAndCheck runs `hack/cluster.sh down` and fails the test when any
// process, container, mount or listening port of the cluster is left.
func (c *cluster) stopAndCheck(t *testing.T) {
	start := time.Now()
	if _, err := c.script("down"); err != nil {
		t.Errorf("hack/cluster.sh down: %v", err)
	}
	t.Logf("cluster down in %s", time.Since(start).Round(time.Second))
	if c.env == nil {
		return // never came up far enough to know its folders
	}
	state := c.env["CLUSTER_STATE"]
	for name, pid := range c.daemonPIDs {
		if proc.Alive(pid) {
			t.Errorf("%s (pid %d) still running after down", name, pid)
		}
	}
	for _, p := range leftoverProcesses(state) {
		t.Errorf("process left after down: %s", p)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("reading mounts: %v", err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (strings.HasPrefix(f[4], state+"/") || strings.HasPrefix(f[4], "/run/containerd/")) {
			t.Errorf("mount left after down: %s", f[4])
		}
	}
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		if e.Name() != "logs" {
			t.Errorf("state left after down: %s", filepath.Join(state, e.Name()))
		}
	}
	for _, port := range []int{2379, 6443, 10250} {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			conn.Close()
			t.Errorf("port %d still accepts connections after down", port)
		}
	}
	if out, err := c.script("status"); err == nil {
		t.Errorf("hack/cluster.sh status reports a running cluster after down:\n%s", out)
	}
}

// leftoverProcesses lists live processes that belong to the cluster: a
// daemon or shim naming the state folder, or anything in a pod's cgroup.
func leftoverProcesses(state string) []string {
	var out []string
	for _, p := range proc.Others() {
		if strings.Contains(p.Cmdline, state+"/") || strings.Contains(p.Cgroup, "/k8s.io/") {
			out = append(out, fmt.Sprintf("pid %d: %s", p.Pid, p.Cmdline))
		}
	}
	return out
}

// ---------------------------------------------------------------- pods

func (c *cluster) createNamespace(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	// The ServiceAccount admission refuses pods until the namespace's
	// default ServiceAccount exists.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := c.client.Get(ctx, client.ObjectKey{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("namespace %s got no default ServiceAccount: %v", name, err)
	}
}

// waitPod waits until a pod matching the selector satisfies done, and dumps
// the namespace's pods and events when it does not.
func (c *cluster) waitPod(t *testing.T, ctx context.Context, ns string, sel client.MatchingLabels, what string, done func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var found *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := c.client.List(ctx, &pods, client.InNamespace(ns), sel); err != nil {
			return false, nil
		}
		for i := range pods.Items {
			if pods.Items[i].DeletionTimestamp == nil && done(&pods.Items[i]) {
				found = &pods.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		c.dump(t, ns)
		t.Fatalf("no pod %v in %s became %s: %v", sel, ns, what, err)
	}
	return found
}

func running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Running == nil {
			return false
		}
	}
	return true
}

func (c *cluster) dump(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pods corev1.PodList
	if err := c.client.List(ctx, &pods, client.InNamespace(ns)); err == nil {
		for _, p := range pods.Items {
			t.Logf("pod %s: phase %s, init %+v, containers %+v", p.Name, p.Status.Phase, p.Status.InitContainerStatuses, p.Status.ContainerStatuses)
		}
	}
	var events corev1.EventList
	if err := c.client.List(ctx, &events, client.InNamespace(ns)); err == nil {
		for _, e := range events.Items {
			t.Logf("event %s/%s: %s %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	if b, err := os.ReadFile(filepath.Join(c.env["CLUSTER_LOGS"], "kubelet.log")); err == nil {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("kubelet log tail:\n%s", strings.Join(lines, "\n"))
	}
}

// podLogFile is where the kubelet keeps a container's log in CRI format.
func podLogFile(p *corev1.Pod, container string) string {
	return filepath.Join("/var/log/pods", fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), container, "0.log")
}

// criLine is one line of a CRI log file: "<RFC3339Nano> <stream> <P|F> <text>".
type criLine struct {
	Time   time.Time
	Stream string
	Text   string
}

func readCRILog(path string) ([]criLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []criLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), " ", 4)
		if len(parts) != 4 {
			return nil, fmt.Errorf("%s: line %q is not in CRI format", path, sc.Text())
		}
		ts, err := time.Parse(time.RFC3339Nano, parts[0])
		if err != nil {
			return nil, fmt.Errorf("%s: line %q has no RFC 3339 time: %w", path, sc.Text(), err)
		}
		if (parts[1] != "stdout" && parts[1] != "stderr") || (parts[2] != "F" && parts[2] != "P") {
			return nil, fmt.Errorf("%s: line %q lacks the stream and the P/F tag", path, sc.Text())
		}
		lines = append(lines, criLine{Time: ts, Stream: parts[1], Text: parts[3]})
	}
	return lines, sc.Err()
}

// waitLogLine waits until the container's CRI log has a line on stream
// containing text.
func waitLogLine(t *testing.T, ctx context.Context, path, stream, text string) {
	t.Helper()
	var last []criLine
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		lines, err := readCRILog(path)
		if err != nil {
			if os.IsNotExist(err) {
				return false, nil
			}
			return false, err
		}
		last = lines
		for _, l := range lines {
			if l.Stream == stream && strings.Contains(l.Text, text) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		tail := last
		if len(tail) > 20 {
			tail = tail[len(tail)-20:]
		}
		var b strings.Builder
		for _, l := range tail {
			fmt.Fprintf(&b, "\n  %s %s", l.Stream, l.Text)
		}
		t.Fatalf("no %s line containing %q in %s: %v; the log's last %d of %d lines:%s", stream, text, path, err, len(tail), len(last), b.String())
	}
}

// containerPID is the host pid of a container's main process, from the
// runtime's task list.
func (c *cluster) containerPID(t *testing.T, p *corev1.Pod, container string) int {
	t.Helper()
	var id string
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container {
			id = strings.TrimPrefix(s.ContainerID, "containerd://")
		}
	}
	if id == "" {
		t.Fatalf("pod %s has no status for container %s", p.Name, container)
	}
	out, err := run(c.root, "ctr", "--address", c.env["CONTAINERD_ADDRESS"], "-n", "k8s.io", "tasks", "ls")
	if err != nil {
		t.Fatalf("listing containerd tasks: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("task list line %q has no pid", line)
			}
			return pid
		}
	}
	t.Fatalf("container %s (%s) is not among containerd's tasks:\n%s", container, id, out)
	return 0
}

// environ is a process's environment as the kernel holds it: what the
// kubelet resolved, not what the pod spec says.
func environ(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatalf("reading the environment of pid %d: %v", pid, err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// get fetches url on loopback, retrying while the server starts.
func get(t *testing.T, ctx context.Context, url string) (int, string) {
	t.Helper()
	var code int
	var body string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		code, body = resp.StatusCode, string(b)
		return true, nil
	})
	if err != nil {
		t.Fatalf("GET %s: no answer: %v", url, err)
	}
	return code, body
}
