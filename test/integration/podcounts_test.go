package integration

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
)

// TestStatusWithoutOptIn: PODS and OUTDATED for an Instrumentation whose
// pods carry no status annotation (upstream-identical pods, no opt-in):
// attributed by the pod's and the namespace's annotation, and outdated once
// the Instrumentation's agent image changes.
func TestStatusWithoutOptIn(t *testing.T) {
	ns := newNamespace(t, nil)
	createInstrumentation(t, ns, seedInstrumentation(t, "instrumentation-otlp.yaml"))
	byPod := samplePod(ns, map[string]string{injectPython: "true"})
	byPod.Name = "by-pod"
	if got := createPod(t, byPod); len(got.Spec.InitContainers) != 1 {
		t.Fatal("setup: pod not injected")
	} else if _, ok, _ := instrumentation.ReadStatus(got); ok {
		t.Fatal("setup: without opt-in the pod must carry no status annotation")
	}
	byName := samplePod(ns, map[string]string{injectPython: "python-instrumentation"})
	byName.Name = "by-name"
	createPod(t, byName)
	plain := samplePod(ns, nil)
	plain.Name = "plain"
	createPod(t, plain)
	// A pod of another namespace naming this Instrumentation through its
	// namespace's annotation.
	other := newNamespace(t, map[string]string{injectPython: ns + "/python-instrumentation"})
	if got := createPod(t, samplePod(other, nil)); len(got.Spec.InitContainers) != 1 {
		t.Fatal("setup: cross-namespace pod not injected")
	}

	waitFor(t, func() bool {
		st := instrumentationStatus(t, ns, "python-instrumentation")
		return st.Pods == 3 && st.OutdatedPods == 0
	})

	var inst v1alpha1.Instrumentation
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "python-instrumentation"}, &inst); err != nil {
		t.Fatal(err)
	}
	inst.Spec.Python.Image = "example.com/autoinstrumentation-python:next"
	if err := k8sClient().Update(ctx(t), &inst); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		st := instrumentationStatus(t, ns, "python-instrumentation")
		return st.Pods == 3 && st.OutdatedPods == 3
	})
	// A pod injected now runs the new image: counted, not outdated.
	fresh := samplePod(ns, map[string]string{injectPython: "true"})
	fresh.Name = "fresh"
	createPod(t, fresh)
	waitFor(t, func() bool {
		st := instrumentationStatus(t, ns, "python-instrumentation")
		return st.Pods == 4 && st.OutdatedPods == 3
	})
	// A pod that ends leaves the counts.
	if err := k8sClient().Delete(ctx(t), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "by-pod"}}, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		st := instrumentationStatus(t, ns, "python-instrumentation")
		return st.Pods == 3 && st.OutdatedPods == 2
	})
}
