// Package clienttest holds what the real-client tests share: a Deployment's
// pod run through the injector, the environment the kubelet would give its
// container, and the checks that telemetry arrived with the identity the
// injector promised.
package clienttest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/test/clients/kubeletenv"
	"github.com/autotel/autotel/test/clients/otlpreceiver"
	"github.com/autotel/autotel/test/clients/sandbox"
)

// Workload is a Deployment whose ReplicaSet creates the pod under test.
type Workload struct {
	Namespace  string
	Deployment string
	// PodTemplateHash names the ReplicaSet <Deployment>-<hash>.
	PodTemplateHash string
	Container       corev1.Container
	// Annotations on the pod template: inject-* and friends.
	Annotations map[string]string
	// Instrumentation in the namespace; its namespace is set here.
	Instrumentation v1alpha1.Instrumentation
}

// Scenario is the admission request and what the injector made of it.
type Scenario struct {
	Workload   Workload
	Namespace  *corev1.Namespace
	Admitted   *corev1.Pod // as the ReplicaSet controller creates it
	Mutated    *corev1.Pod
	Report     instrumentation.Report
	Facts      kubeletenv.PodFacts
	ReplicaSet appsv1.ReplicaSet
	Deploy     metav1.OwnerReference
}

// ReplicaSetName is the ReplicaSet the Deployment controller creates.
func (w Workload) ReplicaSetName() string { return w.Deployment + "-" + w.PodTemplateHash }

// Inject builds the pod the ReplicaSet controller would submit (generateName,
// no node, a controller owner reference) and runs the injector on it with
// the operator's default configuration. It fails the test unless the pod
// was instrumented.
func Inject(t *testing.T, w Workload) *Scenario {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.Namespace}}
	deploy := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: w.Deployment,
		UID: types.UID("d0000000-0000-4000-8000-00000000d001"), Controller: ptr(true), BlockOwnerDeletion: ptr(true)}
	rs := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: w.ReplicaSetName(), Namespace: w.Namespace, UID: types.UID("5e1f0c9a-0000-4000-8000-00000000a001"),
		OwnerReferences: []metav1.OwnerReference{deploy},
	}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: w.ReplicaSetName() + "-",
			Namespace:    w.Namespace,
			Labels:       map[string]string{"app": w.Deployment, "pod-template-hash": w.PodTemplateHash},
			Annotations:  maps.Clone(w.Annotations),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID,
				Controller: ptr(true), BlockOwnerDeletion: ptr(true)}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{*w.Container.DeepCopy()}},
	}
	inst := w.Instrumentation.DeepCopy()
	inst.Namespace = w.Namespace
	lookup := &instrumentation.StaticLookup{
		Instrumentations: []v1alpha1.Instrumentation{*inst},
		ReplicaSets:      []appsv1.ReplicaSet{rs},
	}
	mutated, report := instrumentation.Mutator{Config: instrumentation.DefaultConfig()}.Mutate(context.Background(), ns, pod, lookup)
	if report.Outcome != instrumentation.OutcomeInjected {
		t.Fatalf("injector did not instrument the pod: %+v", report)
	}
	return &Scenario{
		Workload: w, Namespace: ns, Admitted: pod, Mutated: mutated, Report: report, ReplicaSet: rs, Deploy: deploy,
		Facts: kubeletenv.PodFacts{
			Name:     w.ReplicaSetName() + "-x7k2q",
			UID:      types.UID("a1b2c3d4-0000-4000-8000-0000000000f1"),
			NodeName: "worker-3",
			PodIP:    "10.244.3.17",
			HostIP:   "192.0.2.33",
		},
	}
}

func ptr[T any](v T) *T { return &v }

// Container returns the mutated pod's container (regular or init).
func (s *Scenario) Container(t *testing.T, name string) *corev1.Container {
	t.Helper()
	for _, list := range [][]corev1.Container{s.Mutated.Spec.InitContainers, s.Mutated.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	t.Fatalf("mutated pod has no container %q", name)
	return nil
}

// Env is the container's environment as the kubelet would build it. It
// fails the test if a $(VAR) reference is left unexpanded: the injector
// orders its variables so that every reference resolves.
func (s *Scenario) Env(t *testing.T, container string) map[string]string {
	t.Helper()
	env, err := kubeletenv.Resolve(s.Mutated, container, s.Facts)
	if err != nil {
		t.Fatalf("resolving the environment of %s: %v", container, err)
	}
	c := s.Container(t, container)
	var b strings.Builder
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			fmt.Fprintf(&b, "\n  %s <- fieldRef %s = %q", e.Name, e.ValueFrom.FieldRef.FieldPath, env[e.Name])
		} else {
			fmt.Fprintf(&b, "\n  %s=%q -> %q", e.Name, e.Value, env[e.Name])
		}
	}
	t.Logf("container %s: injected environment, in order, and what the kubelet makes of it:%s", container, b.String())
	for k, v := range env {
		if strings.Contains(v, "$(") {
			t.Errorf("%s=%q keeps an unexpanded reference: the variable it names is defined later or not at all", k, v)
		}
	}
	return env
}

// ProcessEnv is env plus what the container runtime adds from the image
// (PATH) and the user (HOME), unless the pod set them.
func ProcessEnv(env map[string]string, path, home string) []string {
	all := maps.Clone(env)
	if _, ok := all["PATH"]; !ok {
		all["PATH"] = path
	}
	if _, ok := all["HOME"]; !ok {
		all["HOME"] = home
	}
	return kubeletenv.Environ(all)
}

// ParseResourceAttributes reads OTEL_RESOURCE_ATTRIBUTES (key=value pairs
// separated by commas, as the injector writes it).
func ParseResourceAttributes(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			t.Fatalf("OTEL_RESOURCE_ATTRIBUTES entry %q is not key=value (whole value %q)", kv, s)
		}
		if prev, dup := out[k]; dup {
			t.Errorf("OTEL_RESOURCE_ATTRIBUTES sets %s twice (%q, %q)", k, prev, v)
		}
		out[k] = v
	}
	return out
}

// Identity is what every resource exported from the container must say,
// derived from the workload and the pod facts, not from the injector.
func (s *Scenario) Identity(withUIDs bool) map[string]string {
	w := s.Workload
	container := w.Container.Name
	// The image is written name:tag in these tests; the tag is the version.
	version := w.Container.Image[strings.LastIndex(w.Container.Image, ":")+1:]
	want := map[string]string{
		"service.name":        w.Deployment,
		"service.namespace":   w.Namespace,
		"service.version":     version,
		"service.instance.id": w.Namespace + "." + s.Facts.Name + "." + container,
		"k8s.namespace.name":  w.Namespace,
		"k8s.pod.name":        s.Facts.Name,
		"k8s.node.name":       s.Facts.NodeName,
		"k8s.container.name":  container,
		"k8s.deployment.name": w.Deployment,
		"k8s.replicaset.name": w.ReplicaSetName(),
	}
	if withUIDs {
		want["k8s.pod.uid"] = string(s.Facts.UID)
		want["k8s.replicaset.uid"] = string(s.ReplicaSet.UID)
		want["k8s.deployment.uid"] = string(s.Deploy.UID)
	}
	return want
}

// CheckInjectedIdentity checks that the injector's resolved environment
// promises exactly the identity: service.name from OTEL_SERVICE_NAME, and
// every k8s.* and service.* key of OTEL_RESOURCE_ATTRIBUTES.
func CheckInjectedIdentity(t *testing.T, env, identity map[string]string) map[string]string {
	t.Helper()
	attrs := ParseResourceAttributes(t, env["OTEL_RESOURCE_ATTRIBUTES"])
	if got := env["OTEL_SERVICE_NAME"]; got != identity["service.name"] {
		t.Errorf("OTEL_SERVICE_NAME = %q, want %q (the Deployment, found through the ReplicaSet owner)", got, identity["service.name"])
	}
	for k, want := range identity {
		if k == "service.name" {
			continue
		}
		if got, ok := attrs[k]; !ok || got != want {
			t.Errorf("OTEL_RESOURCE_ATTRIBUTES: %s = %q (set: %v), want %q", k, got, ok, want)
		}
	}
	for k := range attrs {
		if _, ok := identity[k]; !ok && (strings.HasPrefix(k, "k8s.") || strings.HasPrefix(k, "service.")) {
			t.Errorf("OTEL_RESOURCE_ATTRIBUTES has %s=%s, which the test does not expect", k, attrs[k])
		}
	}
	return attrs
}

// CheckResource checks one exported resource: service.name, every
// attribute the injector put in OTEL_RESOURCE_ATTRIBUTES, byte for byte,
// and no unexpanded reference anywhere.
func CheckResource(t *testing.T, what, serviceName string, injected, resource map[string]string) {
	t.Helper()
	if resource["service.name"] != serviceName {
		t.Errorf("%s: service.name = %q, want %q", what, resource["service.name"], serviceName)
	}
	var missing []string
	for _, k := range slices.Sorted(maps.Keys(injected)) {
		if resource[k] != injected[k] {
			missing = append(missing, fmt.Sprintf("%s=%q (got %q)", k, injected[k], resource[k]))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: resource lacks injected attributes: %s\nresource: %v", what, strings.Join(missing, ", "), resource)
	}
	for k, v := range resource {
		if strings.Contains(v, "$(") {
			t.Errorf("%s: resource attribute %s=%q is an unexpanded reference", what, k, v)
		}
	}
}

// Lines collects a process's output line by line and lets a test wait for
// a line with a given prefix.
type Lines struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
	w     *io.PipeWriter
}

// NewLines returns a writer for a process's output.
func NewLines() *Lines {
	r, w := io.Pipe()
	l := &Lines{added: make(chan struct{}), w: w}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			close(l.added)
			l.added = make(chan struct{})
			l.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	return l
}

func (l *Lines) Write(p []byte) (int, error) { return l.w.Write(p) }

// Close ends the stream once the process has exited.
func (l *Lines) Close() error { return l.w.Close() }

// All returns the lines so far.
func (l *Lines) All() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// WaitPrefix returns the rest of the first line starting with prefix.
func (l *Lines) WaitPrefix(prefix string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				l.mu.Unlock()
				return rest, nil
			}
		}
		added := l.added
		l.mu.Unlock()
		select {
		case <-added:
		case <-deadline:
			return "", fmt.Errorf("no line starting with %q within %s", prefix, timeout)
		}
	}
}

// ListenWhereTold starts a receiver inside the pod at the address the
// resolved OTEL_EXPORTER_OTLP_ENDPOINT names, so the test follows the
// injector rather than assuming where telemetry goes.
func ListenWhereTold(t *testing.T, pod *sandbox.Pod, env map[string]string) *otlpreceiver.Receiver {
	t.Helper()
	u, err := url.Parse(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
	if err != nil || u.Scheme != "http" || u.Host == "" {
		t.Fatalf("OTEL_EXPORTER_OTLP_ENDPOINT=%q is not an http URL (%v)", env["OTEL_EXPORTER_OTLP_ENDPOINT"], err)
	}
	l, err := pod.Listen("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	r := otlpreceiver.New()
	r.Serve(l)
	t.Cleanup(func() { _ = r.Close() })
	return r
}
