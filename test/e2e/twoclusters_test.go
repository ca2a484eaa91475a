//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/autotel/autotel/internal/testenv"
	"github.com/autotel/autotel/testkit/proc"
)

// instance is one named cluster of hack/cluster.sh --name --port-base.
type instance struct {
	root, name string
	base       int
	env        map[string]string
	cs         *kubernetes.Clientset
}

func (in *instance) script(args ...string) (string, error) {
	return run(in.root, "bash", append([]string{filepath.Join(in.root, "hack", "cluster.sh"), "--name", in.name, "--port-base", strconv.Itoa(in.base)}, args...)...)
}

// TestTwoClustersSideBySide runs two instances at once, each with its own
// ports, state, node name and pod logs: both nodes become Ready and run a
// pod, stopping one leaves the other working, and after both are down
// nothing of either is left.
func TestTwoClustersSideBySide(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the clusters run a kubelet and containerd, which need root; run the e2e tier as root")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ins := []*instance{{root: root, name: "e2e-a", base: 32100}, {root: root, name: "e2e-b", base: 32200}}
	for _, in := range ins {
		for p := in.base; p <= in.base+6; p++ {
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err != nil {
				t.Fatalf("port %d (instance %s uses %d-%d) is not free: %v", p, in.name, in.base, in.base+6, err)
			} else {
				l.Close()
			}
		}
		if out, err := in.script("status"); exitCode(err) != 3 {
			t.Fatalf("instance %s is already (partly) running; stop it first (hack/cluster.sh --name %s down):\n%s", in.name, in.name, out)
		}
	}
	downed := map[string]bool{}
	for _, in := range ins {
		// Teardown before bring-up, so a half-started instance is stopped.
		t.Cleanup(func() {
			if !downed[in.name] {
				if _, err := in.script("down"); err != nil {
					t.Errorf("cleanup: hack/cluster.sh --name %s down: %v", in.name, err)
				}
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// One after the other: the second comes up while the first runs.
	for _, in := range ins {
		start := time.Now()
		if _, err := in.script("up"); err != nil {
			t.Fatalf("hack/cluster.sh --name %s --port-base %d up (with %d instance(s) already running): %v", in.name, in.base, len(downed), err)
		}
		t.Logf("instance %s up in %s", in.name, time.Since(start).Round(time.Second))
		in.load(t)
	}
	for _, in := range ins {
		in.checkNodeAlone(t, ctx)
		in.runPod(t, ctx)
	}

	// Stopping the first must not disturb the second.
	a, b := ins[0], ins[1]
	downAndCheck(t, a)
	downed[a.name] = true
	b.checkNodeAlone(t, ctx)
	if p, err := b.cs.CoreV1().Pods("default").Get(ctx, "side-by-side", metav1.GetOptions{}); err != nil || !running(p) {
		t.Errorf("instance %s's pod after %s went down: %v, phase %v", b.name, a.name, err, podPhase(p))
	}
	downAndCheck(t, b)
	downed[b.name] = true
}

func podPhase(p *corev1.Pod) corev1.PodPhase {
	if p == nil {
		return ""
	}
	return p.Status.Phase
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func (in *instance) load(t *testing.T) {
	t.Helper()
	out, err := in.script("env")
	if err != nil {
		t.Fatalf("hack/cluster.sh --name %s env: %v", in.name, err)
	}
	in.env = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		in.env[k] = v
	}
	if want := "autotel-node-" + in.name; in.env["NODE_NAME"] != want {
		t.Errorf("instance %s: NODE_NAME %q, want %q", in.name, in.env["NODE_NAME"], want)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", in.env["KUBECONFIG"])
	if err != nil {
		t.Fatalf("instance %s: loading its kubeconfig: %v", in.name, err)
	}
	if want := fmt.Sprintf("https://127.0.0.1:%d", in.base+2); cfg.Host != want {
		t.Errorf("instance %s: kubeconfig server %s, want %s (port base + 2)", in.name, cfg.Host, want)
	}
	if in.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatalf("instance %s: %v", in.name, err)
	}
}

// checkNodeAlone: the instance's API server knows exactly one node, its
// own, and it is Ready.
func (in *instance) checkNodeAlone(t *testing.T, ctx context.Context) {
	t.Helper()
	nodes, err := in.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("instance %s: listing nodes: %v", in.name, err)
	}
	if len(nodes.Items) != 1 || nodes.Items[0].Name != in.env["NODE_NAME"] {
		var names []string
		for _, n := range nodes.Items {
			names = append(names, n.Name)
		}
		t.Fatalf("instance %s: nodes %v, want only %s", in.name, names, in.env["NODE_NAME"])
	}
	ready := false
	for _, c := range nodes.Items[0].Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		t.Errorf("instance %s: node %s not Ready: %+v", in.name, nodes.Items[0].Name, nodes.Items[0].Status.Conditions)
	}
}

// runPod runs the node's pause image (imported by `up`, so no image has to
// be built) and checks the pod runs on this instance's node with its log
// folder in this instance's pod-log root.
func (in *instance) runPod(t *testing.T, ctx context.Context) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "side-by-side", Namespace: "default"},
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "pause", Image: "autotel.local/pause:dev", ImagePullPolicy: corev1.PullNever,
			}},
		},
	}
	created, err := in.cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("instance %s: creating a pod: %v", in.name, err)
	}
	got := created
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := in.cs.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = p
		return running(p), nil
	})
	if err != nil {
		t.Fatalf("instance %s: pod not Running in 2m: phase %v, statuses %+v", in.name, got.Status.Phase, got.Status.ContainerStatuses)
	}
	if got.Spec.NodeName != in.env["NODE_NAME"] || got.Status.HostIP != "127.0.0.1" {
		t.Errorf("instance %s: pod on node %q with host IP %q, want %s and 127.0.0.1", in.name, got.Spec.NodeName, got.Status.HostIP, in.env["NODE_NAME"])
	}
	dir := fmt.Sprintf("default_%s_%s", created.Name, created.UID)
	if !strings.HasPrefix(in.env["POD_LOGS"], in.env["CLUSTER_STATE"]+"/") {
		t.Errorf("instance %s: POD_LOGS %s is not inside its state %s", in.name, in.env["POD_LOGS"], in.env["CLUSTER_STATE"])
	}
	if _, err := os.Stat(filepath.Join(in.env["POD_LOGS"], dir)); err != nil {
		t.Errorf("instance %s: the pod's log folder is not in the instance's pod-log root: %v", in.name, err)
	}
	if _, err := os.Stat(filepath.Join("/var/log/pods", dir)); err == nil {
		t.Errorf("instance %s: the pod's log folder is in the shared /var/log/pods", in.name)
	}
}

// downAndCheck stops an instance and fails when any of its processes,
// mounts, state or ports is left.
func downAndCheck(t *testing.T, in *instance) {
	t.Helper()
	start := time.Now()
	if _, err := in.script("down"); err != nil {
		t.Errorf("hack/cluster.sh --name %s down: %v", in.name, err)
	}
	t.Logf("instance %s down in %s", in.name, time.Since(start).Round(time.Second))
	state := in.env["CLUSTER_STATE"]
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		cmdline, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		if cmd := strings.ReplaceAll(string(cmdline), "\x00", " "); proc.Alive(pid) && strings.Contains(cmd, state+"/") {
			t.Errorf("instance %s: process left after down: pid %d: %s", in.name, pid, cmd)
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], state+"/") {
			t.Errorf("instance %s: mount left after down: %s", in.name, f[4])
		}
	}
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		if e.Name() != "logs" {
			t.Errorf("instance %s: state left after down: %s", in.name, filepath.Join(state, e.Name()))
		}
	}
	for p := in.base; p <= in.base+6; p++ {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second); err == nil {
			conn.Close()
			t.Errorf("instance %s: port %d still accepts connections after down", in.name, p)
		}
	}
	if out, err := in.script("status"); exitCode(err) != 3 {
		t.Errorf("instance %s: status after down: want exit 3 (nothing running), got %v:\n%s", in.name, err, out)
	}
}
