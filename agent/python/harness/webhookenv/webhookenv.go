// Package webhookenv computes what autotel's pod webhook does to a Python
// workload, by running the operator's own injector
// (internal/instrumentation.Mutator, the function behind the webhook), and
// then what the kubelet makes of it: downward-API values filled in and
// $(VAR) references expanded. Tests start the app processes with exactly
// that environment and run the init container's command to lay out the
// agent files, so what they test is what a pod gets.
package webhookenv

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
)

// MountPath is where the webhook mounts the agent volume in the app
// container (and where the init container copies to).
const MountPath = "/otel-auto-instrumentation-python"

// Workload is the seed's sample Deployment, as one running pod.
type Workload struct {
	Namespace  string
	Deployment string
	ReplicaSet string
	Pod        string // the name the API server generated
	Container  string
	Image      string
	Node       string
	HostIP     string
	PodIP      string
	// Platform is the otel-python-platform annotation ("" = glibc).
	Platform string
	// Env is the container's own env, from its manifest.
	Env []corev1.EnvVar
}

// Seed is the seed's workload: namespace example, Deployment sample,
// image sample:amd64, on one node.
func Seed() Workload {
	return Workload{
		Namespace:  "example",
		Deployment: "sample",
		ReplicaSet: "sample-656f58b97c",
		Pod:        "sample-656f58b97c-x7k2p",
		Container:  "sample",
		Image:      "sample:amd64",
		Node:       "example-node",
		HostIP:     "127.0.0.1",
		PodIP:      "127.0.0.1",
	}
}

// Injection is the webhook's output for the app container.
type Injection struct {
	InitCommand []string
	InitImage   string
	Env         []corev1.EnvVar
	MountPath   string
}

// ParseInstrumentation decodes an Instrumentation manifest strictly.
func ParseInstrumentation(manifest []byte) (*v1alpha1.Instrumentation, error) {
	var inst v1alpha1.Instrumentation
	if err := yaml.UnmarshalStrict(manifest, &inst); err != nil {
		return nil, fmt.Errorf("instrumentation manifest: %w", err)
	}
	return &inst, nil
}

// Inject runs the operator's injector on the workload's pod as the API
// server sends it at admission (generated name not yet known).
func Inject(inst *v1alpha1.Instrumentation, w Workload) (*Injection, error) {
	inst = inst.DeepCopy()
	inst.Namespace = w.Namespace
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.Namespace}}
	annotations := map[string]string{"instrumentation.opentelemetry.io/inject-python": "true"}
	if w.Platform != "" {
		annotations[instrumentation.AnnotationPythonPlatform] = w.Platform
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: w.ReplicaSet + "-",
			Namespace:    w.Namespace,
			Labels:       map[string]string{"app": w.Deployment},
			Annotations:  annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: w.ReplicaSet, UID: types.UID("rs-uid"),
			}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: w.Container, Image: w.Image, ImagePullPolicy: corev1.PullAlways, Env: w.Env,
		}}},
	}
	rs := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: w.ReplicaSet, Namespace: w.Namespace,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: w.Deployment, UID: types.UID("deploy-uid")}},
	}}
	lookup := &instrumentation.StaticLookup{
		Instrumentations: []v1alpha1.Instrumentation{*inst},
		ReplicaSets:      []appsv1.ReplicaSet{rs},
	}
	out, report := instrumentation.Mutator{Config: instrumentation.DefaultConfig()}.Mutate(context.Background(), ns, pod, lookup)
	if report.Outcome != instrumentation.OutcomeInjected {
		return nil, fmt.Errorf("webhook did not inject: %s: %s", report.Outcome, report.Reason)
	}
	inj := &Injection{}
	for _, ic := range out.Spec.InitContainers {
		if ic.Name == "opentelemetry-auto-instrumentation-python" {
			inj.InitCommand = ic.Command
			inj.InitImage = ic.Image
			for _, m := range ic.VolumeMounts {
				inj.MountPath = m.MountPath
			}
		}
	}
	if inj.InitCommand == nil {
		return nil, fmt.Errorf("no Python init container in the mutated pod")
	}
	inj.Env = out.Spec.Containers[0].Env
	return inj, nil
}

// Resolve does what the kubelet does with a container's env: downward-API
// fieldRefs get the pod's values and $(VAR) references to variables
// defined earlier in the list are expanded (unknown ones stay as written,
// $$ is a literal $). The result is NAME=value in order.
func Resolve(env []corev1.EnvVar, w Workload) ([]string, error) {
	fields := map[string]string{
		"metadata.name":      w.Pod,
		"metadata.namespace": w.Namespace,
		"metadata.uid":       "pod-uid",
		"spec.nodeName":      w.Node,
		"status.hostIP":      w.HostIP,
		"status.podIP":       w.PodIP,
	}
	defined := map[string]string{}
	var out []string
	for _, e := range env {
		var v string
		switch {
		case e.ValueFrom == nil:
			v = Expand(e.Value, defined)
		case e.ValueFrom.FieldRef != nil:
			fv, ok := fields[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				return nil, fmt.Errorf("%s: fieldRef %q is not simulated", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			v = fv
		default:
			return nil, fmt.Errorf("%s: only values and fieldRefs are simulated", e.Name)
		}
		defined[e.Name] = v
		out = append(out, e.Name+"="+v)
	}
	return out, nil
}

// Expand is the kubelet's $(VAR) expansion
// (k8s.io/kubernetes/third_party/forked/golang/expansion).
func Expand(input string, vars map[string]string) string {
	var b strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(input); cursor++ {
		if input[cursor] != '$' || cursor+1 >= len(input) {
			continue
		}
		b.WriteString(input[checkpoint:cursor])
		rest := input[cursor+1:]
		advance := 1
		switch rest[0] {
		case '$':
			b.WriteByte('$')
		case '(':
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				b.WriteString("$(")
			} else {
				name := rest[1:end]
				if v, ok := vars[name]; ok {
					b.WriteString(v)
				} else {
					b.WriteString("$(" + name + ")")
				}
				advance = end + 1
			}
		default:
			b.WriteString("$" + rest[:1])
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	return b.String() + input[checkpoint:]
}
