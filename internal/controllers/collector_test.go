package controllers

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	"github.com/autotel/autotel/api/v1beta1"
)

// mutate keeps what the API server and users own on objects it updates.
func TestCollectorMutateKeeps(t *testing.T) {
	existing := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"user": "x"}},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.0.0.7", ClusterIPs: []string{"10.0.0.7"}, Ports: []corev1.ServicePort{{Name: "old", Port: 1}}},
	}
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app.kubernetes.io/name": "c-collector"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "otlp-grpc", Port: 4317}}},
	}
	mutate(existing, want)
	if existing.Spec.ClusterIP != "10.0.0.7" || existing.Spec.Ports[0].Name != "otlp-grpc" {
		t.Errorf("Service after mutate: clusterIP %q ports %v", existing.Spec.ClusterIP, existing.Spec.Ports)
	}
	if existing.Labels["user"] != "x" || existing.Labels["app.kubernetes.io/name"] != "c-collector" {
		t.Errorf("labels not merged: %v", existing.Labels)
	}

	dep := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{
		Annotations: map[string]string{restartedAtAnnotation: "2026-01-01T00:00:00Z", "stale": "y"}}}}}
	wantDep := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{
		Annotations: map[string]string{"opentelemetry-operator-config/sha256": "abc"}}}}}
	mutate(dep, wantDep)
	a := dep.Spec.Template.Annotations
	if a[restartedAtAnnotation] == "" || a["opentelemetry-operator-config/sha256"] != "abc" || a["stale"] != "" || *dep.Spec.Replicas != 2 {
		t.Errorf("Deployment template annotations after mutate: %v", a)
	}
}

// takeOwnership replaces a controller reference left by an earlier
// collector of the same name and refuses anything else.
func TestCollectorTakeOwnership(t *testing.T) {
	r := &Collector{Scheme: testScheme(t)}
	c := &v1beta1.OpenTelemetryCollector{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns", UID: types.UID("new")}}
	old := metav1.OwnerReference{APIVersion: "opentelemetry.io/v1alpha1", Kind: "OpenTelemetryCollector", Name: "c", UID: "old", Controller: ptr.To(true)}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ns", OwnerReferences: []metav1.OwnerReference{old}}}
	if err := r.takeOwnership(c, cm); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(cm); ref == nil || ref.UID != "new" || len(cm.OwnerReferences) != 1 {
		t.Errorf("owner references %+v", cm.OwnerReferences)
	}
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ns", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "apps/v1", Kind: "Deployment", Name: "other", UID: "d", Controller: ptr.To(true)}}}}
	if err := r.takeOwnership(c, foreign); err == nil {
		t.Error("took an object another controller owns")
	}
}

func testScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1beta1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// mutate keeps the empty dnsConfig and shareProcessNamespace: false that
// upstream's builder writes (same pods, no rollout on adoption), but never
// over a value the build asks for, and never a non-empty one it dropped.
func TestCollectorMutateKeepsUpstreamEmptyValues(t *testing.T) {
	upstream := func(dns *corev1.PodDNSConfig, share *bool) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{DNSConfig: dns, ShareProcessNamespace: share}}}}
	}
	ds := upstream(&corev1.PodDNSConfig{}, ptr.To(false))
	mutate(ds, &appsv1.DaemonSet{})
	if s := ds.Spec.Template.Spec; s.DNSConfig == nil || s.ShareProcessNamespace == nil || *s.ShareProcessNamespace {
		t.Errorf("upstream's empty values dropped: dnsConfig %v shareProcessNamespace %v", s.DNSConfig, s.ShareProcessNamespace)
	}

	ds = upstream(&corev1.PodDNSConfig{Nameservers: []string{"192.0.2.53"}}, ptr.To(true))
	mutate(ds, &appsv1.DaemonSet{})
	if s := ds.Spec.Template.Spec; s.DNSConfig != nil || s.ShareProcessNamespace != nil {
		t.Errorf("values the spec no longer asks for kept: dnsConfig %v shareProcessNamespace %v", s.DNSConfig, s.ShareProcessNamespace)
	}

	ds = upstream(&corev1.PodDNSConfig{}, ptr.To(false))
	mutate(ds, &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		DNSConfig: &corev1.PodDNSConfig{Searches: []string{"svc.example"}}, ShareProcessNamespace: ptr.To(true)}}}})
	if s := ds.Spec.Template.Spec; len(s.DNSConfig.Searches) != 1 || !*s.ShareProcessNamespace {
		t.Errorf("the build's own values lost: dnsConfig %v shareProcessNamespace %v", s.DNSConfig, *s.ShareProcessNamespace)
	}
}
