package instrumentation

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/autotel/autotel/api/v1alpha1"
)

// TestDefaultInstrumentation covers autotel's rule for inject-*: "true"
// where upstream fails: a namespace with several Instrumentations, one of
// them labelled default, and a namespace with none while the cluster has a
// single labelled default.
func TestDefaultInstrumentation(t *testing.T) {
	inst := func(ns, name string, isDefault bool) v1alpha1.Instrumentation {
		i := v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		i.Spec.Python.Image = "python:" + name
		if isDefault {
			i.Labels = map[string]string{DefaultLabel: "true"}
		}
		return i
	}
	cases := []struct {
		name    string
		insts   []v1alpha1.Instrumentation
		want    string // namespace/name used; "" = error
		wantErr error
		errHint string
	}{
		{"one in namespace, unlabelled", []v1alpha1.Instrumentation{inst("app", "a", false)}, "app/a", nil, ""},
		{"two in namespace, one labelled", []v1alpha1.Instrumentation{inst("app", "a", false), inst("app", "b", true)}, "app/b", nil, ""},
		{"two in namespace, none labelled", []v1alpha1.Instrumentation{inst("app", "a", false), inst("app", "b", false)}, "", ErrMultipleInstrumentations, "label one autotel.io/default=true"},
		{"two in namespace, both labelled", []v1alpha1.Instrumentation{inst("app", "a", true), inst("app", "b", true)}, "", ErrMultipleInstrumentations, "app/a, app/b"},
		{"none in namespace, one cluster default", []v1alpha1.Instrumentation{inst("platform", "default", true), inst("other", "x", false)}, "platform/default", nil, ""},
		{"none in namespace, no cluster default", []v1alpha1.Instrumentation{inst("other", "x", false)}, "", ErrNoInstrumentation, "label one Instrumentation in the cluster"},
		{"none in namespace, two cluster defaults", []v1alpha1.Instrumentation{inst("p1", "d", true), inst("p2", "d", true)}, "", ErrMultipleInstrumentations, "p1/d, p2/d"},
		{"namespace's own beats the cluster default", []v1alpha1.Instrumentation{inst("app", "own", false), inst("platform", "default", true)}, "app/own", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectDefault(context.Background(), &StaticLookup{Instrumentations: tc.insts}, "app")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errHint) {
					t.Fatalf("error = %v, want %v mentioning %q", err, tc.wantErr, tc.errHint)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ref := got.Namespace + "/" + got.Name; ref != tc.want {
				t.Fatalf("selected %s, want %s", ref, tc.want)
			}
		})
	}

	// End to end through Mutate: the cluster default's image is injected.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "app", Annotations: map[string]string{Python.InjectAnnotation(): "true"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	out, report := Mutator{Config: DefaultConfig()}.Mutate(context.Background(), ns, pod,
		&StaticLookup{Instrumentations: []v1alpha1.Instrumentation{inst("platform", "default", true)}})
	if report.Outcome != OutcomeInjected || report.Languages[0].Instrumentation != "platform/default" {
		t.Fatalf("report = %s", report)
	}
	if img := out.Spec.InitContainers[0].Image; img != "python:default" {
		t.Fatalf("init image = %s, want the cluster default's", img)
	}
}
