package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/collectorbuild"
)

// TestCollectorAdoptsUpstreamObjects: the objects upstream's operator made
// for a collector (testdata/upstream-collector.yaml, as its builder writes
// them, owned through a v1alpha1 owner reference, the resource carrying
// upstream's finalizer) are taken over by autotel's operator: none is
// recreated or duplicated, the Deployment's spec (its generation) is not
// touched since the pinned image and config give the same pods, owner
// references move to v1beta1, and the resource can still be deleted.
func TestCollectorAdoptsUpstreamObjects(t *testing.T) {
	for _, fixture := range []string{"upstream-collector.yaml", "upstream-collector-daemonset.yaml"} {
		t.Run(fixture, func(t *testing.T) { testAdoption(t, fixture) })
	}
}

func testAdoption(t *testing.T, fixture string) {
	ns := newNamespace(t, nil)
	raw, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.ReplaceAll(string(raw), "NAMESPACE", ns), "\n---\n")
	var col v1beta1.OpenTelemetryCollector
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &col); err != nil {
		t.Fatalf("the fixture's collector: %v", err)
	}
	// Upstream's operator is in charge until autotel's takes over.
	col.Spec.ManagementState = v1beta1.ManagementStateUnmanaged
	if err := k8sClient().Create(ctx(t), &col); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		obj        *unstructured.Unstructured
		uid        types.UID
		generation int64
	}
	var objs []seen
	for _, doc := range docs[1:] {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(strings.ReplaceAll(doc, "OWNER_UID", string(col.UID))), &u.Object); err != nil {
			t.Fatalf("fixture: %v", err)
		}
		if err := k8sClient().Create(ctx(t), u); err != nil {
			t.Fatalf("creating upstream's %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		objs = append(objs, seen{u, u.GetUID(), u.GetGeneration()})
	}

	updateCollector(t, ns, "simplest", func(c *v1beta1.OpenTelemetryCollector) {
		c.Spec.ManagementState = v1beta1.ManagementStateManaged
	})
	eventually(t, "autotel's operator reconciled the collector", func() error {
		var got v1beta1.OpenTelemetryCollector
		if err := get(t, ns, "simplest", &got); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, "Ready"); got.Status.ObservedGeneration != got.Generation || c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("status %+v", got.Status)
		}
		return nil
	})
	eventually(t, "owner references moved to v1beta1", func() error {
		for _, s := range objs {
			cur := &unstructured.Unstructured{}
			cur.SetGroupVersionKind(s.obj.GroupVersionKind())
			if err := get(t, ns, s.obj.GetName(), cur); err != nil {
				return err
			}
			ref := metav1.GetControllerOf(cur)
			if ref == nil || ref.UID != col.UID || ref.APIVersion != "opentelemetry.io/v1beta1" || len(cur.GetOwnerReferences()) != 1 {
				return fmt.Errorf("%s %s owner references %+v", cur.GetKind(), cur.GetName(), cur.GetOwnerReferences())
			}
		}
		return nil
	})
	// Give the operator time to do anything further it would (a second
	// reconcile after its own writes) before checking nothing changed.
	time.Sleep(2 * time.Second)
	for _, s := range objs {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(s.obj.GroupVersionKind())
		if err := get(t, ns, s.obj.GetName(), cur); err != nil {
			t.Fatal(err)
		}
		if cur.GetUID() != s.uid {
			t.Errorf("%s %s was recreated (uid %s, was %s)", cur.GetKind(), cur.GetName(), cur.GetUID(), s.uid)
		}
		if kind := s.obj.GetKind(); (kind == "Deployment" || kind == "DaemonSet") && cur.GetGeneration() != s.generation {
			tmpl, _, _ := unstructured.NestedMap(cur.Object, "spec", "template", "spec")
			t.Errorf("%s %s generation %d, was %d: its pods would roll although the spec is upstream's; now %v", kind, cur.GetName(), cur.GetGeneration(), s.generation, tmpl)
		}
	}
	// Nothing duplicated: per kind, only the fixture's objects carry the
	// collector's instance label.
	want := map[string]int{}
	for _, s := range objs {
		want[s.obj.GetKind()]++
	}
	for kind, n := range want {
		list := &unstructured.UnstructuredList{}
		gvk := objs[0].obj.GroupVersionKind()
		for _, s := range objs {
			if s.obj.GetKind() == kind {
				gvk = s.obj.GroupVersionKind()
			}
		}
		gvk.Kind += "List"
		list.SetGroupVersionKind(gvk)
		if err := k8sClient().List(ctx(t), list, client.InNamespace(ns), client.MatchingLabels{collectorbuild.LabelInstance: ns + ".simplest"}); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != n {
			var names []string
			for _, it := range list.Items {
				names = append(names, it.GetName())
			}
			t.Errorf("%d %s objects of the collector (%s), want upstream's %d", len(list.Items), kind, strings.Join(names, ", "), n)
		}
	}

	// Upstream's finalizer does not keep the resource forever.
	if err := k8sClient().Delete(ctx(t), &col); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the collector with upstream's finalizer deleted", func() error {
		var got v1beta1.OpenTelemetryCollector
		if err := get(t, ns, "simplest", &got); !apierrors.IsNotFound(err) {
			return errors.New("still there, finalizers " + strings.Join(got.Finalizers, ","))
		}
		return nil
	})
}
