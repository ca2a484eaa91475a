package controllers

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
)

const injectPython = "instrumentation.opentelemetry.io/inject-python"

func objMeta(annotations map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: "shop", Name: "x", Annotations: annotations}
}

// TestResolve: attribution follows injection's selection rules.
func TestResolve(t *testing.T) {
	s := scheme(t)
	only := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "only"}}
	def := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Namespace: "platform", Name: "default", Labels: map[string]string{instrumentation.DefaultLabel: "true"}}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(only, def).Build()
	r := newResolver(context.Background(), c)
	cases := []struct {
		name    string
		ns, pod map[string]string
		podNS   string
		want    string
	}{
		{"pod true: the namespace's only one", nil, map[string]string{injectPython: "true"}, "shop", "shop/only"},
		{"pod name", nil, map[string]string{injectPython: "other"}, "shop", "shop/other"},
		{"pod namespace/name", nil, map[string]string{injectPython: "a/b"}, "shop", "a/b"},
		{"namespace names it, pod true defers", map[string]string{injectPython: "a/b"}, map[string]string{injectPython: "true"}, "shop", "a/b"},
		{"pod false wins", map[string]string{injectPython: "true"}, map[string]string{injectPython: "false"}, "shop", ""},
		{"namespace true, none there: the cluster default", map[string]string{injectPython: "true"}, nil, "empty", "platform/default"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tc.podNS, Annotations: tc.ns}}
			pod := &corev1.Pod{ObjectMeta: objMeta(tc.pod)}
			pod.Namespace = tc.podNS
			if got := r.resolve(ns, pod, instrumentation.Python); got != tc.want {
				t.Errorf("resolve = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSlimPodKeepsInjection: the slimmed pod still shows its injection and
// its attribution, and drops the rest.
func TestSlimPodKeepsInjection(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{injectPython: "true"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "opentelemetry-auto-instrumentation-python", Image: "py:1", Command: []string{"cp"}}},
			Containers:     []corev1.Container{{Name: "app", Image: "app:1", Env: []corev1.EnvVar{{Name: "OTEL_SERVICE_NAME", Value: "p"}}, Args: []string{"serve"}}},
			Volumes:        []corev1.Volume{{Name: "v"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady}}}}
	out, err := SlimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	slim := out.(*corev1.Pod)
	if langs := instrumentation.InjectedLanguages(slim); len(langs) != 1 || langs[0] != instrumentation.Python {
		t.Errorf("injected languages of the slim pod = %v, want python", langs)
	}
	if IndexUnrecorded(slim) == nil || runningImage(slim, "opentelemetry-auto-instrumentation-python", true) != "py:1" {
		t.Errorf("the slim pod lost what counting reads")
	}
	if slim.ManagedFields != nil || slim.Spec.Volumes != nil || slim.Spec.Containers[0].Args != nil || slim.Status.Conditions != nil || slim.Status.Phase != corev1.PodRunning {
		t.Errorf("slim pod keeps more or less than it should: %+v", slim)
	}
}

// TestSlimPodPlainKeepsIdentity: a pod showing no injection and no status
// annotation — most of a cluster — is cached as its identity and phase
// only, and still reads as not injected and unindexed.
func TestSlimPodPlainKeepsIdentity(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p", UID: "u", ResourceVersion: "7",
		Labels: map[string]string{"app": "p"}, Annotations: map[string]string{"note": "x"}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	out, err := SlimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	slim := out.(*corev1.Pod)
	if slim.Name != "p" || slim.Namespace != "shop" || slim.UID != "u" || slim.ResourceVersion != "7" || slim.Status.Phase != corev1.PodRunning {
		t.Errorf("the slim plain pod lost its identity: %+v", slim)
	}
	if slim.Labels != nil || slim.Annotations != nil || slim.Spec.Containers != nil {
		t.Errorf("the slim plain pod keeps more than its identity: %+v", slim)
	}
	if IndexUnrecorded(slim) != nil || len(instrumentation.InjectedLanguages(slim)) != 0 || podInstrumentations(slim) != nil {
		t.Errorf("the slim plain pod reads as injected")
	}
	// A pod already carrying injection's node-name variable is not plain.
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME", ValueFrom: &corev1.EnvVarSource{}}}
	pod.Annotations = map[string]string{injectPython: "true"}
	out, _ = SlimPod(pod)
	if out.(*corev1.Pod).Spec.Containers == nil {
		t.Errorf("a pod showing SDK instrumentation lost its containers")
	}
	// A pod recording its sidecar config keeps the metadata the sidecar
	// rollout reads (the annotation, its owner).
	pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "s",
		Annotations:     map[string]string{instrumentation.SidecarConfigAnnotation: "shop/agent@abc"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs"}}}}
	out, _ = SlimPod(pod)
	if s := out.(*corev1.Pod); s.Annotations[instrumentation.SidecarConfigAnnotation] == "" || len(s.OwnerReferences) != 1 {
		t.Errorf("a pod recording its sidecar config lost its metadata: %+v", s.ObjectMeta)
	}
}
