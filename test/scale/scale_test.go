//go:build scale

// Package scale is the scale tier (`make scale`, not part of `make test`):
// the real kube-apiserver and etcd, the real kube-controller-manager
// (Deployments and ReplicaSets make the pods), kwok simulating the nodes
// (its stages move pods to Running and finish deletions), and the operator
// as a real process whose RSS and CPU are read from /proc by pid. It builds
// a cluster of SCALE_NODES nodes, SCALE_NAMESPACES namespaces,
// SCALE_INSTRUMENTATIONS Instrumentations and SCALE_PODS pods from
// Deployments (in each namespace with an Instrumentation, one injected
// Deployment and one plain; elsewhere two plain), changes the Python image
// of SCALE_CHANGED Instrumentations (rollout opted in on half of them),
// measures pod creation through the API server with and without the
// webhook, and prints a table.
//
// A test with a build tag rather than a command: the checks that make a
// run meaningful (every injected pod injected, every plain pod not, every
// count right in the end, every opted-in workload rolled) fail it like any
// test, and testing's cleanups stop every process it started, by pid, even
// when it fails half way. Times are measured and printed, never asserted.
package scale

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/testenv"
	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/wait"
)

const (
	injectPython   = "instrumentation.opentelemetry.io/inject-python"
	kwokAnnotation = "kwok.x-k8s.io/node"
	agentV1        = "scale/python-agent:1"
	agentV2        = "scale/python-agent:2"
	benchNamespace = "scale-bench"
)

// params are the run's sizes, from the environment.
type params struct {
	nodes, pods, namespaces, instrumentations, changed int
	creates, rounds, concurrency                       int
	rolloutPerMinute                                   int
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number of 0 or more (default %d)", name, v, def)
	}
	return n
}

func readParams(t *testing.T) params {
	p := params{
		nodes:            envInt(t, "SCALE_NODES", 1000),
		pods:             envInt(t, "SCALE_PODS", 10000),
		namespaces:       envInt(t, "SCALE_NAMESPACES", 500),
		instrumentations: envInt(t, "SCALE_INSTRUMENTATIONS", 200),
		changed:          envInt(t, "SCALE_CHANGED", 20),
		creates:          envInt(t, "SCALE_CREATES", 300),
		rounds:           envInt(t, "SCALE_ROUNDS", 3),
		concurrency:      envInt(t, "SCALE_CONCURRENCY", 20),
		rolloutPerMinute: envInt(t, "SCALE_ROLLOUT_PER_MINUTE", 60),
	}
	switch {
	case p.nodes < 1 || p.namespaces < 1:
		t.Fatal("SCALE_NODES and SCALE_NAMESPACES must be at least 1")
	case p.instrumentations > p.namespaces:
		t.Fatalf("SCALE_INSTRUMENTATIONS=%d exceeds SCALE_NAMESPACES=%d: one Instrumentation per namespace", p.instrumentations, p.namespaces)
	case p.changed > p.instrumentations:
		t.Fatalf("SCALE_CHANGED=%d exceeds SCALE_INSTRUMENTATIONS=%d", p.changed, p.instrumentations)
	case p.pods < 2*p.namespaces:
		t.Fatalf("SCALE_PODS=%d: want at least 2 per namespace (SCALE_NAMESPACES=%d)", p.pods, p.namespaces)
	case p.rounds < 1 || p.concurrency < 1:
		t.Fatal("SCALE_ROUNDS and SCALE_CONCURRENCY must be at least 1")
	}
	return p
}

// replicas is each Deployment's size: two Deployments per namespace.
func (p params) replicas() int32 { return int32(p.pods / (2 * p.namespaces)) }

func nsName(i int) string { return fmt.Sprintf("scale-%04d", i) }

// sampler reads the operator's CPU time and RSS from /proc every interval.
type sampler struct {
	pid  int
	mu   sync.Mutex
	rows []sample
}

type sample struct {
	at  time.Time
	cpu float64
	rss int64
}

func (s *sampler) run(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		s.take()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *sampler) take() sample {
	cpu, err1 := proc.CPUSeconds(s.pid)
	rss, _, err2 := proc.Memory(s.pid)
	if err1 != nil || err2 != nil {
		return sample{}
	}
	r := sample{at: time.Now(), cpu: cpu, rss: rss}
	s.mu.Lock()
	s.rows = append(s.rows, r)
	s.mu.Unlock()
	return r
}

// between returns the CPU seconds used and the peak RSS seen in [from, to].
func (s *sampler) between(from, to time.Time) (cpu float64, peak int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first, last *sample
	for i := range s.rows {
		r := &s.rows[i]
		if r.at.Before(from) || r.at.After(to) {
			continue
		}
		if first == nil {
			first = r
		}
		last = r
		peak = max(peak, r.rss)
	}
	if first == nil {
		return 0, 0
	}
	return last.cpu - first.cpu, peak
}

// report collects the table's rows in order.
type report struct{ rows [][2]string }

func (r *report) add(k, format string, a ...any) {
	r.rows = append(r.rows, [2]string{k, fmt.Sprintf(format, a...)})
}

func (r *report) print(p params) {
	fmt.Printf("\nautotel scale tier: %d nodes (kwok), %d pods in %d namespaces, %d Instrumentations, %d changed (rollout on %d); operator GOMEMLIMIT %q\n",
		p.nodes, p.pods, p.namespaces, p.instrumentations, p.changed, p.changed/2, os.Getenv("SCALE_OPERATOR_GOMEMLIMIT"))
	w := 0
	for _, row := range r.rows {
		w = max(w, len(row[0]))
	}
	fmt.Printf("| %-*s | %s |\n|%s|---|\n", w, "measure", "value", strings.Repeat("-", w+2))
	for _, row := range r.rows {
		fmt.Printf("| %-*s | %s |\n", w, row[0], row[1])
	}
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

type cluster struct {
	t      *testing.T
	p      params
	c      client.Client
	cfg    *rest.Config
	op     *proc.Process
	pprof  string
	sample *sampler
}

func TestScale(t *testing.T) {
	p := readParams(t)
	ctrllog.SetLogger(logr.Discard()) // envtest's own messages: not the run's
	root, errRoot := testenv.RepoRoot()
	bin, errBin := testenv.BinaryDir()
	if err := errors.Join(errRoot, errBin); err != nil {
		t.Fatal(err)
	}
	kcm := filepath.Join(bin, "kube-controller-manager")
	if _, err := os.Stat(kcm); err != nil {
		// KUBEBUILDER_ASSETS may name a folder built without it.
		out, err := exec.Command("bash", filepath.Join(root, "hack", "kube-binaries.sh"), "kube-controller-manager").Output()
		if err != nil {
			t.Fatalf("building kube-controller-manager with hack/kube-binaries.sh: %v", err)
		}
		kcm = filepath.Join(strings.TrimSpace(string(out)), "kube-controller-manager")
	}
	kwokOut, err := exec.Command("bash", filepath.Join(root, "hack", "kwok.sh")).Output()
	if err != nil {
		t.Fatalf("building kwok with hack/kwok.sh: %v", err)
	}
	kwok := strings.TrimSpace(string(kwokOut))
	work := t.TempDir()
	opBin := filepath.Join(work, "operator")
	// Built as build/Dockerfile.operator builds the shipped binary (static,
	// no libc mapped): its RSS is what a cluster sees.
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", opBin, "./cmd/operator")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/operator: %v\n%s", err, out)
	}

	te := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		CRDInstallOptions:        envtest.CRDInstallOptions{Scheme: operator.Scheme()},
		WebhookInstallOptions:    envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	// 10,000 pods through one API server: the default in-flight limits
	// would throttle the harness, not the webhook under test.
	api := te.ControlPlane.GetAPIServer()
	api.Configure().Set("max-requests-inflight", "2000").Set("max-mutating-requests-inflight", "1000")
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", bin, err)
	}
	t.Cleanup(func() { _ = te.Stop() })
	cfg.QPS, cfg.Burst = 2000, 4000
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := (&testenv.Env{Config: cfg}).WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"autotel-system", benchNamespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	// The operator, as deployed: its own process, serving the webhook on
	// the address envtest wrote into the webhook configurations.
	wio := te.WebhookInstallOptions
	pprofAddr := ports.Addr(t)
	op := exec.Command(opBin,
		"--metrics-addr", ports.Addr(t), "--health-probe-addr", ports.Addr(t), "--pprof-addr", pprofAddr,
		"--webhook-host", wio.LocalServingHost, "--webhook-port", strconv.Itoa(wio.LocalServingPort),
		"--webhook-cert-dir", wio.LocalServingCertDir, "--webhook-cert-mode", "external",
		"--mutating-webhook-configuration", "mutating-webhook-configuration",
		"--enable-collector-controller=false", "--injection-config-name", "",
		"--rollout-max-per-minute", strconv.Itoa(p.rolloutPerMinute), "--zap-log-level", "error")
	op.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "POD_NAMESPACE=autotel-system")
	if limit := os.Getenv("SCALE_OPERATOR_GOMEMLIMIT"); limit != "" {
		// The Go runtime's soft memory limit for the operator alone (as a
		// chart would set from the container's limit), e.g. 45MiB.
		op.Env = append(op.Env, "GOMEMLIMIT="+limit)
	}
	opProc := proc.StartT(t, "operator", op)
	wait.For(t, time.Minute, "the operator's webhook to serve TLS", func() (bool, string) {
		return wait.TLSServing(fmt.Sprintf("%s:%d", wio.LocalServingHost, wio.LocalServingPort))
	})
	sctx, stopSampling := context.WithCancel(ctx)
	t.Cleanup(stopSampling)
	s := &sampler{pid: opProc.Pid()}
	go s.run(sctx)

	// Deployments and ReplicaSets: the real controllers, nothing else.
	proc.StartT(t, "kube-controller-manager", exec.Command(kcm,
		"--kubeconfig", kubeconfig, "--controllers", "deployment,replicaset",
		"--leader-elect=false", "--secure-port", "0", "--kube-api-qps", "500", "--kube-api-burst", "1000",
		"--concurrent-deployment-syncs", "10", "--concurrent-replicaset-syncs", "10"))
	// kwok manages only the nodes carrying its annotation.
	proc.StartT(t, "kwok", exec.Command(kwok,
		"--kubeconfig", kubeconfig, "--config", filepath.Join(filepath.Dir(kwok), "stages-fast.yaml"), "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector", kwokAnnotation+"=fake",
		"--cidr", "10.0.0.1/16", "--node-ip", "10.0.0.1", "--node-port", strconv.Itoa(ports.Free(t)),
		"--server-address", ports.Addr(t)))

	cl := &cluster{t: t, p: p, c: c, cfg: cfg, op: opProc, pprof: pprofAddr, sample: s}
	var rep report
	idle := s.take()
	rep.add("operator RSS, idle (empty cluster)", "%s", mb(idle.rss))

	t0 := time.Now()
	cl.createNodes()
	cl.createNamespaces()
	cl.createInstrumentations()
	rep.add("setup: nodes, namespaces, Instrumentations", "%.1f s", time.Since(t0).Seconds())

	t1 := time.Now()
	cl.createDeployments()
	lastReady := cl.waitReady("every pod Running", func(d *appsv1.Deployment) bool {
		return d.Status.ReadyReplicas == p.replicas() && d.Status.Replicas == p.replicas()
	})
	rep.add("pods created and Running via Deployments", "%.1f s (%.0f pods/s end to end)", lastReady.Sub(t1).Seconds(), float64(p.pods)/lastReady.Sub(t1).Seconds())
	cl.checkInjection(agentV1)
	counted := cl.waitCounts(lastReady, func(i int) (int32, int32) { return p.replicas(), 0 })
	rep.add("status counts right after the last pod change", "%.1f s", counted.Sub(lastReady).Seconds())
	cpu, peak := s.between(t1, counted)
	rep.add("operator CPU while pods were created", "%.1f s (%.0f%% of one core)", cpu, 100*cpu/counted.Sub(t1).Seconds())
	rep.add("operator RSS peak while pods were created", "%s", mb(peak))
	steady := cl.settledRSS()
	rep.add("operator RSS with every pod Running (settled)", "%s", mb(steady))
	rep.add("  of which file-backed (the binary's mapped pages)", "%s", cl.rssFile())
	cl.saveHeap(filepath.Join(os.Getenv("SCALE_OUT"), "heap-loaded.pb.gz"))

	t2 := time.Now()
	cl.changeInstrumentations()
	half := p.changed / 2
	countsAt := cl.waitCounts(t2, func(i int) (int32, int32) {
		if i >= half && i < p.changed {
			return p.replicas(), p.replicas() // changed, no rollout: every pod outdated
		}
		return p.replicas(), 0
	})
	rolledAt := cl.waitRolled()
	rep.add("change: counts right (OUTDATED) after the change", "%.1f s", countsAt.Sub(t2).Seconds())
	rep.add(fmt.Sprintf("change: rollout of %d Deployments complete", half), "%.1f s (limit %d restarts/min)", rolledAt.Sub(t2).Seconds(), p.rolloutPerMinute)
	cpu, peak = s.between(t2, rolledAt)
	rep.add("operator CPU during change and rollout", "%.1f s", cpu)
	rep.add("operator RSS peak during change and rollout", "%s", mb(peak))

	cl.createRates(&rep)
	end := s.take()
	total, _ := s.between(time.Time{}, end.at)
	_, hwm, _ := proc.Memory(opProc.Pid())
	rep.add("operator CPU, whole run", "%.1f s", total)
	rep.add("operator RSS high-water mark (VmHWM), whole run", "%s", mb(hwm))
	rep.print(p)
}

func (cl *cluster) createNodes() {
	cl.parallel(cl.p.nodes, func(i int) error {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("kwok-node-%04d", i),
			Annotations: map[string]string{kwokAnnotation: "fake"},
			Labels:      map[string]string{"type": "kwok"},
		}}
		return cl.c.Create(context.Background(), n)
	})
	waitAll(cl, 5*time.Minute, "kwok to mark every node Ready", &corev1.NodeList{}, cl.p.nodes, func(n *corev1.Node) bool {
		return slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool {
			return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
		})
	})
}

func (cl *cluster) createNamespaces() {
	cl.parallel(cl.p.namespaces, func(i int) error {
		return cl.c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}})
	})
}

func (cl *cluster) instrumentation(ns string, rollout bool) *v1alpha1.Instrumentation {
	root, _ := testenv.RepoRoot()
	raw, err := os.ReadFile(filepath.Join(root, "testdata", "seed", "instrumentation-otlp.yaml"))
	if err != nil {
		cl.t.Fatal(err)
	}
	var inst v1alpha1.Instrumentation
	if err := yaml.Unmarshal(raw, &inst); err != nil {
		cl.t.Fatal(err)
	}
	inst.Namespace = ns
	inst.Spec.Python.Image = agentV1
	if rollout {
		inst.Annotations = map[string]string{"autotel.io/rollout": "true"}
	}
	return &inst
}

// createInstrumentations: one in each of the first namespaces, rollout
// opted in on the first half of those that will change; then waits until
// the operator has reconciled each (its cache holds them: the webhook
// injects from the first pod on).
func (cl *cluster) createInstrumentations() {
	half := cl.p.changed / 2
	cl.parallel(cl.p.instrumentations, func(i int) error {
		return cl.c.Create(context.Background(), cl.instrumentation(nsName(i), i < half))
	})
	if err := cl.c.Create(context.Background(), cl.instrumentation(benchNamespace, false)); err != nil {
		cl.t.Fatal(err)
	}
	waitAll(cl, 5*time.Minute, "the operator to reconcile every Instrumentation", &v1alpha1.InstrumentationList{}, cl.p.instrumentations+1,
		func(inst *v1alpha1.Instrumentation) bool { return inst.Status.SpecHash != "" })
}

// createDeployments: two per namespace, each pinned to a node (nodeName in
// the template: no scheduler, whose throughput is not under test).
func (cl *cluster) createDeployments() {
	cl.parallel(2*cl.p.namespaces, func(i int) error {
		nsIdx, kind := i/2, "plain"
		annotations := map[string]string{}
		if i%2 == 0 && nsIdx < cl.p.instrumentations {
			kind = "injected"
			annotations[injectPython] = "true"
		}
		labels := map[string]string{"app": kind, "scale": "true"}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", kind, i%2), Namespace: nsName(nsIdx)},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(cl.p.replicas()),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
					Spec: corev1.PodSpec{
						NodeName:   fmt.Sprintf("kwok-node-%04d", i%cl.p.nodes),
						Containers: []corev1.Container{{Name: "app", Image: "scale/app:1"}},
					},
				},
			},
		}
		return cl.c.Create(context.Background(), d)
	})
}

// waitReady waits until every scale Deployment satisfies done and returns
// when that was first seen.
func (cl *cluster) waitReady(what string, done func(*appsv1.Deployment) bool) time.Time {
	return waitAll(cl, 30*time.Minute, what, &appsv1.DeploymentList{}, 2*cl.p.namespaces, done)
}

// waitAll waits until want items of list satisfy done (T is the item type,
// *T what list's items are) and returns when that was first seen.
func waitAll[T any, L client.ObjectList](cl *cluster, timeout time.Duration, what string, list L, want int, done func(*T) bool) time.Time {
	var at time.Time
	wait.For(cl.t, timeout, what, func() (bool, string) {
		if err := cl.c.List(context.Background(), list); err != nil {
			return false, err.Error()
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return false, err.Error()
		}
		ok := 0
		for _, o := range items {
			if item, is := any(o).(*T); is && done(item) {
				ok++
			}
		}
		at = time.Now()
		return ok == want, fmt.Sprintf("%d of %d", ok, want)
	})
	return at
}

// checkInjection fails the run unless every injected Deployment's pods
// run agent (and nothing else was injected).
func (cl *cluster) checkInjection(agent string) {
	var pods corev1.PodList
	if err := cl.c.List(context.Background(), &pods, client.MatchingLabels{"scale": "true"}); err != nil {
		cl.t.Fatal(err)
	}
	bad := 0
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp != nil {
			continue
		}
		injected := ""
		for _, c := range pod.Spec.InitContainers {
			injected = c.Image
		}
		want := ""
		if pod.Labels["app"] == "injected" {
			want = agent
		}
		if injected != want {
			bad++
			if bad < 5 {
				cl.t.Errorf("pod %s/%s: init image %q, want %q", pod.Namespace, pod.Name, injected, want)
			}
		}
	}
	if bad > 0 {
		cl.t.Fatalf("%d of %d pods injected wrongly", bad, len(pods.Items))
	}
}

// waitCounts waits until every scale Instrumentation's status shows
// want(i) (pods, outdated) and returns when it first did.
func (cl *cluster) waitCounts(since time.Time, want func(i int) (int32, int32)) time.Time {
	var at time.Time
	wait.For(cl.t, 10*time.Minute, "every Instrumentation's status counts to be right", func() (bool, string) {
		wrong, first := 0, ""
		for i := range cl.p.instrumentations {
			var inst v1alpha1.Instrumentation
			if err := cl.c.Get(context.Background(), types.NamespacedName{Namespace: nsName(i), Name: "python-instrumentation"}, &inst); err != nil {
				return false, err.Error()
			}
			pods, outdated := want(i)
			if inst.Status.Pods != pods || inst.Status.OutdatedPods != outdated {
				wrong++
				if first == "" {
					first = fmt.Sprintf("%s: pods %d outdated %d, want %d %d", inst.Namespace, inst.Status.Pods, inst.Status.OutdatedPods, pods, outdated)
				}
			}
		}
		at = time.Now()
		return wrong == 0, fmt.Sprintf("%d wrong, e.g. %s", wrong, first)
	})
	return at
}

// changeInstrumentations moves the first SCALE_CHANGED Instrumentations to
// a new Python agent image.
func (cl *cluster) changeInstrumentations() {
	cl.parallel(cl.p.changed, func(i int) error {
		var inst v1alpha1.Instrumentation
		key := types.NamespacedName{Namespace: nsName(i), Name: "python-instrumentation"}
		if err := cl.c.Get(context.Background(), key, &inst); err != nil {
			return err
		}
		patch := client.MergeFrom(inst.DeepCopy())
		inst.Spec.Python.Image = agentV2
		return cl.c.Patch(context.Background(), &inst, patch)
	})
}

// waitRolled waits until every opted-in injected Deployment was restarted
// once and runs only pods with the new agent.
func (cl *cluster) waitRolled() time.Time {
	half := cl.p.changed / 2
	var at time.Time
	wait.For(cl.t, 20*time.Minute, "the rollout of the opted-in Deployments", func() (bool, string) {
		done := 0
		for i := range half {
			var d appsv1.Deployment
			if err := cl.c.Get(context.Background(), types.NamespacedName{Namespace: nsName(i), Name: "injected-0"}, &d); err != nil {
				return false, err.Error()
			}
			if d.Spec.Template.Annotations[controllers.RestartedAtAnnotation] == "" || d.Status.ObservedGeneration < d.Generation ||
				d.Status.UpdatedReplicas != cl.p.replicas() || d.Status.Replicas != cl.p.replicas() || d.Status.ReadyReplicas != cl.p.replicas() {
				continue
			}
			var pods corev1.PodList
			if err := cl.c.List(context.Background(), &pods, client.InNamespace(nsName(i)), client.MatchingLabels{"app": "injected"}); err != nil {
				return false, err.Error()
			}
			fresh := 0
			for _, pod := range pods.Items {
				if len(pod.Spec.InitContainers) > 0 && pod.Spec.InitContainers[0].Image == agentV2 {
					fresh++
				}
			}
			if fresh == len(pods.Items) {
				done++
			}
		}
		at = time.Now()
		return done == half, fmt.Sprintf("%d of %d rolled", done, half)
	})
	// The counts of the rolled Instrumentations follow: PODS, none OUTDATED.
	cl.waitCounts(at, func(i int) (int32, int32) {
		if i >= half && i < cl.p.changed {
			return cl.p.replicas(), cl.p.replicas()
		}
		return cl.p.replicas(), 0
	})
	return at
}

// settledRSS is the operator's RSS once it stopped moving (its garbage
// collector has run after the burst), at most 30 s later.
func (cl *cluster) settledRSS() int64 {
	var last int64
	for range 30 {
		time.Sleep(time.Second)
		r := cl.sample.take()
		if last != 0 && r.rss <= last {
			return r.rss
		}
		last = r.rss
	}
	return last
}

// rssFile is the part of the operator's RSS that is its binary's pages
// (RssFile in /proc/PID/status): a floor no heap cut lowers.
func (cl *cluster) rssFile() string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cl.sample.pid))
	if err != nil {
		return err.Error()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "RssFile:" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return mb(kb * 1024)
			}
		}
	}
	return "unknown"
}

// saveHeap writes the operator's heap profile to path (SCALE_OUT unset:
// not kept), for `go tool pprof`.
func (cl *cluster) saveHeap(path string) {
	if os.Getenv("SCALE_OUT") == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		cl.t.Fatal(err)
	}
	cmd := exec.Command("curl", "-sf", "-o", path, "http://"+cl.pprof+"/debug/pprof/heap")
	if out, err := cmd.CombinedOutput(); err != nil {
		cl.t.Logf("saving the heap profile: %v %s", err, out)
	}
}

// parallel runs f(0..n-1) on 20 workers and fails the run on an error.
func (cl *cluster) parallel(n int, f func(i int) error) {
	cl.t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range 20 {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("item %d: %w", i, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		cl.t.Fatal(first)
	}
}

// createRates creates bare pods (no node: nothing else touches them) in
// benchNamespace, SCALE_CREATES per mode and round, interleaving the modes
// in SCALE_ROUNDS rounds so drift on a shared machine hits each alike:
// without the pod webhook, plain pods behind the match condition, and
// injected pods; one creator, then SCALE_CONCURRENCY creators.
func (cl *cluster) createRates(rep *report) {
	type mode struct {
		name     string
		inject   bool
		hook     func() func() // changes the pod webhook; returns the undo
		creators int
	}
	var modes []mode
	for _, n := range []int{1, cl.p.concurrency} {
		modes = append(modes,
			mode{"no webhook", false, cl.withoutPodWebhook, n},
			// The API server's fixed cost of any match condition (it
			// builds the request and converts the pod for CEL) apart
			// from autotel's expression (its namespace list).
			mode{"condition `false` (never called)", false, cl.withConstantCondition, n},
			mode{"asks for nothing (match conditions)", false, nil, n},
			mode{"injected", true, nil, n})
	}
	rates := make([][]float64, len(modes))
	lats := make([][]time.Duration, len(modes))
	for range cl.p.rounds {
		for m, md := range modes {
			var restore func()
			if md.hook != nil {
				restore = md.hook()
			}
			lat, elapsed := cl.createPods(md.inject, md.creators)
			if restore != nil {
				restore()
			}
			rates[m] = append(rates[m], float64(len(lat))/elapsed.Seconds())
			lats[m] = append(lats[m], lat...)
			cl.deleteBenchPods()
		}
	}
	median := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
	for m, md := range modes {
		l := lats[m]
		slices.Sort(l)
		pct := func(q float64) float64 { return float64(l[int(float64(len(l)-1)*q)].Microseconds()) / 1000 }
		base := median(rates[m-m%4])
		rep.add(fmt.Sprintf("create, %d creator(s): %s", md.creators, md.name), "%.0f pods/s (rounds %.0f-%.0f; %.2fx no webhook), p50 %.1f ms, p99 %.1f ms",
			median(rates[m]), slices.Min(rates[m]), slices.Max(rates[m]), median(rates[m])/base, pct(0.5), pct(0.99))
	}
}

func (cl *cluster) createPods(inject bool, creators int) ([]time.Duration, time.Duration) {
	n := cl.p.creates
	lat := make([]time.Duration, n)
	ann := map[string]string{}
	if inject {
		ann[injectPython] = "true"
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range creators {
		wg.Go(func() {
			for i := w; i < n; i += creators {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-", Namespace: benchNamespace, Labels: map[string]string{"bench": "true"}, Annotations: ann},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "scale/app:1"}}},
				}
				t0 := time.Now()
				if err := cl.c.Create(context.Background(), pod); err != nil {
					cl.t.Errorf("creating a bench pod: %v", err)
					return
				}
				lat[i] = time.Since(t0)
				if inject && len(pod.Spec.InitContainers) == 0 {
					cl.t.Errorf("bench pod %s not injected", pod.Name)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if cl.t.Failed() {
		cl.t.FailNow()
	}
	return lat, elapsed
}

func (cl *cluster) deleteBenchPods() {
	if err := cl.c.DeleteAllOf(context.Background(), &corev1.Pod{}, client.InNamespace(benchNamespace), client.MatchingLabels{"bench": "true"}); err != nil {
		cl.t.Fatal(err)
	}
}

// withoutPodWebhook removes the pod webhook from the configuration until
// the returned function puts it back; each waits until the API server acts
// on it (an annotated probe pod stops or starts being injected).
func (cl *cluster) withoutPodWebhook() func() {
	return cl.changePodWebhook(func(hooks []admissionregistrationv1.MutatingWebhook, i int) []admissionregistrationv1.MutatingWebhook {
		return slices.Delete(hooks, i, i+1)
	})
}

// withConstantCondition gives the pod webhook the single match condition
// `false` until the returned function restores the operator's.
func (cl *cluster) withConstantCondition() func() {
	return cl.changePodWebhook(func(hooks []admissionregistrationv1.MutatingWebhook, i int) []admissionregistrationv1.MutatingWebhook {
		hooks[i].MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "scale-never", Expression: "false"}}
		return hooks
	})
}

func (cl *cluster) changePodWebhook(change func([]admissionregistrationv1.MutatingWebhook, int) []admissionregistrationv1.MutatingWebhook) func() {
	ctx := context.Background()
	key := types.NamespacedName{Name: "mutating-webhook-configuration"}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := cl.c.Get(ctx, key, &mwc); err != nil {
		cl.t.Fatal(err)
	}
	i := slices.IndexFunc(mwc.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == "mpod.kb.io" })
	if i < 0 {
		cl.t.Fatal("the pod webhook mpod.kb.io is missing from mutating-webhook-configuration")
	}
	saved := *mwc.Webhooks[i].DeepCopy()
	mwc.Webhooks = change(mwc.Webhooks, i)
	if err := cl.c.Update(ctx, &mwc); err != nil {
		cl.t.Fatal(err)
	}
	cl.waitProbe(false)
	return func() {
		if err := cl.c.Get(ctx, key, &mwc); err != nil {
			cl.t.Fatal(err)
		}
		mwc.Webhooks = slices.DeleteFunc(mwc.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == "mpod.kb.io" })
		mwc.Webhooks = append(mwc.Webhooks, saved)
		if err := cl.c.Update(ctx, &mwc); err != nil {
			cl.t.Fatal(err)
		}
		cl.waitProbe(true)
	}
}

func (cl *cluster) waitProbe(injected bool) {
	wait.For(cl.t, time.Minute, fmt.Sprintf("the API server to act on the webhook change (probe injected: %v)", injected), func() (bool, string) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: benchNamespace, Annotations: map[string]string{injectPython: "true"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "scale/app:1"}}},
		}
		if err := cl.c.Create(context.Background(), pod); err != nil {
			return false, err.Error()
		}
		_ = cl.c.Delete(context.Background(), pod)
		return (len(pod.Spec.InitContainers) > 0) == injected, "probe pod not yet as wanted"
	})
}
