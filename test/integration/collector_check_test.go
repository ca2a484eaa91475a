package integration

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/cli"
	"github.com/autotel/autotel/internal/collectorbuild"
)

// checkLines runs autotel check and returns its lines about one collector.
func checkLines(t *testing.T, ns, name string) string {
	t.Helper()
	var out bytes.Buffer
	cli.Check(ctx(t), &out, k8sClient(), time.Now())
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "collector "+ns+"/"+name+":") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// TestCheckCollectors: autotel check gives each OpenTelemetryCollector a
// line: FAIL with the fix while its workload is not ready, its Service has
// no ready endpoints, or the operator cannot reconcile it; ok once all is.
// (envtest runs no kubelet or workload controllers: the test writes the
// statuses they would.)
func TestCheckCollectors(t *testing.T) {
	ns := newNamespace(t, nil)
	c := newCollector(t, ns, "gw", v1beta1.ModeDeployment, otlpToDebug)
	if err := k8sClient().Create(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	eventually(t, "Deployment and status", func() error {
		var got v1beta1.OpenTelemetryCollector
		if err := get(t, ns, "gw", &got); err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation {
			return errors.New("not reconciled yet")
		}
		return get(t, ns, "gw-collector", &dep)
	})
	out := checkLines(t, ns, "gw")
	mustContain(t, out, "FAIL  collector "+ns+"/gw: Deployment gw-collector has 0/1 ready pods — kubectl -n "+ns+" describe pods -l app.kubernetes.io/instance="+ns+".gw",
		"FAIL  collector "+ns+"/gw: Service gw-collector has no ready endpoints")

	dep.Status.Replicas, dep.Status.ReadyReplicas = 1, 1
	if err := k8sClient().Status().Update(ctx(t), &dep); err != nil {
		t.Fatal(err)
	}
	out = checkLines(t, ns, "gw")
	if strings.Contains(out, "ready pods") {
		t.Errorf("the ready Deployment still fails:\n%s", out)
	}
	mustContain(t, out, "FAIL  collector "+ns+"/gw: Service gw-collector has no ready endpoints")

	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "gw-collector-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "gw-collector"}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.11"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}}}
	if err := k8sClient().Create(ctx(t), slice); err != nil {
		t.Fatal(err)
	}
	if out = checkLines(t, ns, "gw"); out != "ok    collector "+ns+"/gw: deployment gw-collector 1/1 ready, Service gw-collector with 1 ready endpoint(s)" {
		t.Errorf("a ready collector: got\n%s", out)
	}

	// A DaemonSet no node runs.
	ds := newCollector(t, ns, "agent", v1beta1.ModeDaemonSet, otlpToDebug)
	if err := k8sClient().Create(ctx(t), ds); err != nil {
		t.Fatal(err)
	}
	eventually(t, "DaemonSet", func() error { return get(t, ns, "agent-collector", &appsv1.DaemonSet{}) })
	mustContain(t, checkLines(t, ns, "agent"), "FAIL  collector "+ns+"/agent: DaemonSet agent-collector is scheduled on no node — check spec.nodeSelector")

	// An object of the collector's name that something else controls: the
	// operator's Ready condition says so, and check repeats it.
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "someone-else", Namespace: ns}}
	if err := k8sClient().Create(ctx(t), owner); err != nil {
		t.Fatal(err)
	}
	sel := collectorbuild.SelectorLabels(&v1beta1.OpenTelemetryCollector{ObjectMeta: metav1.ObjectMeta{Name: "clash", Namespace: ns}})
	foreign := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "clash-collector", Namespace: ns, Labels: sel,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}},
		},
	}
	if err := k8sClient().Create(ctx(t), foreign); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient().Create(ctx(t), newCollector(t, ns, "clash", v1beta1.ModeDeployment, otlpToDebug)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "check reports the reconcile error", func() error {
		out := checkLines(t, ns, "clash")
		if !strings.Contains(out, "FAIL  collector "+ns+"/clash: the operator cannot reconcile it (ReconcileError): ") ||
			!strings.Contains(out, "is controlled by ConfigMap someone-else, not by this collector: rename or delete it") {
			return errors.New(out)
		}
		return nil
	})

	// Sidecars have no workload or Service of their own; unmanaged
	// collectors are not the operator's to fix.
	side := newCollector(t, ns, "side", v1beta1.ModeSidecar, otlpToDebug)
	if err := k8sClient().Create(ctx(t), side); err != nil {
		t.Fatal(err)
	}
	off := newCollector(t, ns, "off", v1beta1.ModeDeployment, otlpToDebug)
	off.Spec.ManagementState = v1beta1.ManagementStateUnmanaged
	if err := k8sClient().Create(ctx(t), off); err != nil {
		t.Fatal(err)
	}
	eventually(t, "sidecar reconciled", func() error {
		if out := checkLines(t, ns, "side"); !strings.HasPrefix(out, "ok    collector "+ns+"/side: sidecar") {
			return errors.New(out)
		}
		return nil
	})
	mustContain(t, checkLines(t, ns, "off"), "warn  collector "+ns+"/off: managementState unmanaged")
}
