// Package kubeletenv computes the environment a container's process starts
// with, as the kubelet builds it from the pod spec: downward API values for
// fieldRef variables and $(VAR) expansion of literal values, computed by
// the kubelet's own expansion and field path packages.
//
// It exists so that tests can run a real process with exactly the variables
// a mutated pod would give it, without a kubelet. It follows the kubelet's
// makeEnvironmentVariables (pkg/kubelet/kubelet_pods.go, Kubernetes 1.35):
//
//   - variables are evaluated in list order; a literal value is expanded
//     against the variables defined before it (and the service link
//     variables), never against later ones;
//   - $$ is a literal $, an undefined reference stays as written, a $
//     followed by anything else than ( or $ is left alone;
//   - values from valueFrom are never expanded;
//   - a later variable with the same name replaces the earlier value, and
//     references after it see the new value;
//   - service link variables are added for names the container does not set.
//
// Sources that need objects the resolver does not have (configMapKeyRef,
// secretKeyRef, resourceFieldRef, fileKeyRef, envFrom) are errors rather
// than guesses: a test must never run with a value the kubelet would not
// have produced.
package kubeletenv

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	podshelper "k8s.io/kubernetes/pkg/apis/core/pods"
	"k8s.io/kubernetes/pkg/fieldpath"
)

// PodFacts are what the cluster decides about a pod after admission: its
// generated name, uid, node and addresses.
type PodFacts struct {
	// Name replaces the pod's name (pods of a ReplicaSet are admitted with
	// only generateName).
	Name      string
	Namespace string
	UID       types.UID
	NodeName  string
	PodIP     string
	// PodIPs defaults to [PodIP]; the first entry is status.podIP.
	PodIPs []string
	HostIP string
	// HostIPs defaults to [HostIP]; the first entry is status.hostIP.
	HostIPs []string
	// ServiceEnv is the service link variables (FOO_SERVICE_HOST, ...) of
	// the pod's namespace. Unlike container variables they can be
	// referenced from anywhere in the list.
	ServiceEnv map[string]string
}

// Bind returns the pod as the kubelet sees it once scheduled and running:
// the admitted pod with the facts filled in.
func Bind(pod *corev1.Pod, facts PodFacts) *corev1.Pod {
	p := pod.DeepCopy()
	if facts.Name != "" {
		p.Name = facts.Name
	}
	if facts.Namespace != "" {
		p.Namespace = facts.Namespace
	}
	if facts.UID != "" {
		p.UID = facts.UID
	}
	if facts.NodeName != "" {
		p.Spec.NodeName = facts.NodeName
	}
	podIPs := facts.PodIPs
	if len(podIPs) == 0 && facts.PodIP != "" {
		podIPs = []string{facts.PodIP}
	}
	if len(podIPs) > 0 {
		p.Status.PodIP = podIPs[0]
		p.Status.PodIPs = nil
		for _, ip := range podIPs {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	hostIPs := facts.HostIPs
	if len(hostIPs) == 0 && facts.HostIP != "" {
		hostIPs = []string{facts.HostIP}
	}
	if len(hostIPs) > 0 {
		p.Status.HostIP = hostIPs[0]
		p.Status.HostIPs = nil
		for _, ip := range hostIPs {
			p.Status.HostIPs = append(p.Status.HostIPs, corev1.HostIP{IP: ip})
		}
	}
	return p
}

// Resolve returns the environment of the named container (regular, init or
// ephemeral) of pod once bound with facts, as name → value.
func Resolve(pod *corev1.Pod, container string, facts PodFacts) (map[string]string, error) {
	bound := Bind(pod, facts)
	c := findContainer(bound, container)
	if c == nil {
		return nil, fmt.Errorf("pod %s has no container %q", bound.Name, container)
	}
	if len(c.EnvFrom) > 0 {
		return nil, fmt.Errorf("container %q: envFrom needs ConfigMaps and Secrets this resolver does not have", c.Name)
	}

	env := map[string]string{}
	lookup := func(name string) (string, bool) {
		if v, ok := env[name]; ok {
			return v, true
		}
		v, ok := facts.ServiceEnv[name]
		return v, ok
	}
	for _, e := range c.Env {
		value := e.Value
		// The kubelet tests the literal first: a non-empty value wins over
		// valueFrom (validation forbids both), an empty one defers to it.
		switch {
		case value != "":
			value = Expand(value, lookup)
		case e.ValueFrom != nil:
			v, err := valueFrom(bound, c.Name, e)
			if err != nil {
				return nil, err
			}
			value = v
		}
		env[e.Name] = value
	}
	for k, v := range facts.ServiceEnv {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	return env, nil
}

// Environ renders an environment as the sorted NAME=value list exec takes.
func Environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			return &c
		}
	}
	return nil
}

func valueFrom(pod *corev1.Pod, container string, e corev1.EnvVar) (string, error) {
	src := e.ValueFrom
	switch {
	case src.FieldRef != nil:
		v, err := FieldRef(pod, src.FieldRef)
		if err != nil {
			return "", fmt.Errorf("container %q, variable %s: %w", container, e.Name, err)
		}
		return v, nil
	case src.ResourceFieldRef != nil:
		return "", fmt.Errorf("container %q, variable %s: resourceFieldRef is not supported by this resolver", container, e.Name)
	case src.ConfigMapKeyRef != nil:
		return "", fmt.Errorf("container %q, variable %s: configMapKeyRef is not supported by this resolver", container, e.Name)
	case src.SecretKeyRef != nil:
		return "", fmt.Errorf("container %q, variable %s: secretKeyRef is not supported by this resolver", container, e.Name)
	default:
		return "", fmt.Errorf("container %q, variable %s: valueFrom has no source this resolver supports", container, e.Name)
	}
}

// FieldRef evaluates a downward API field selector against a bound pod as
// the kubelet's podFieldSelectorRuntimeValue does, with the kubelet's own
// packages: the field label is converted and checked by
// podshelper.ConvertDownwardAPIFieldLabel, the fields only a running pod
// has come from its status (where the kubelet asks its node), and the rest
// from fieldpath.ExtractFieldPathAsString.
func FieldRef(pod *corev1.Pod, ref *corev1.ObjectFieldSelector) (string, error) {
	// The API server defaults an empty apiVersion to v1 when the pod is
	// stored, so the kubelet never sees an empty one.
	version := ref.APIVersion
	if version == "" {
		version = "v1"
	}
	path, _, err := podshelper.ConvertDownwardAPIFieldLabel(version, ref.FieldPath, "")
	if err != nil {
		return "", err
	}
	switch path {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.hostIPs":
		ips := make([]string, len(pod.Status.HostIPs))
		for i, ip := range pod.Status.HostIPs {
			ips[i] = ip.IP
		}
		return strings.Join(ips, ","), nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		ips := make([]string, len(pod.Status.PodIPs))
		for i, ip := range pod.Status.PodIPs {
			ips[i] = ip.IP
		}
		return strings.Join(ips, ","), nil
	}
	// spec.restartPolicy, spec.schedulerName and status.phase pass the
	// label conversion but have no runtime value: this fails for them, as
	// it does in the kubelet.
	return fieldpath.ExtractFieldPathAsString(pod, path)
}
