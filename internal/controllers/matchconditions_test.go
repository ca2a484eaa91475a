package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// TestBuildConditionModes: the shorter safe list is written, and nothing
// (every pod reaches the webhook) when neither fits.
func TestBuildConditionModes(t *testing.T) {
	long := strings.Repeat("n", 60)
	cases := []struct {
		name              string
		annotated, plain  []string
		max               int
		want              string
		wantIn, wantNotIn string
	}{
		{"few namespaces: exclude the plain ones", []string{"a"}, []string{"b", "c"}, 10, ModeExclude, "a", "b"},
		{"many plain ones: include the annotated", []string{"a"}, names("p", 20), 10, ModeInclude, "a", "p1"},
		{"both too many: no condition", names("a", 11), names("p", 11), 10, ModeNone, "", ""},
		{"turned off", []string{"a"}, nil, 0, ModeNone, "", ""},
		{"exclude list over the API server's size limit", []string{"a"}, names(long, 2000), 5000, ModeInclude, "a", long + "1"},
		{"include list over the size limit too", names(long, 2000), names(long+"x", 2000), 5000, ModeNone, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expr, mode := BuildCondition(c.annotated, c.plain, c.max)
			if mode != c.want {
				t.Fatalf("mode %s, want %s", mode, c.want)
			}
			if len(expr) > MaxExpressionSize {
				t.Fatalf("expression of %d characters, over the limit", len(expr))
			}
			gotMode, listed := parseCondition(expr)
			if mode == ModeNone {
				if expr != "" {
					t.Fatalf("no mode but an expression %q", expr)
				}
				return
			}
			if gotMode != mode {
				t.Errorf("parsed mode %s, want %s", gotMode, mode)
			}
			if !included(mode, listed, c.wantIn) {
				t.Errorf("namespace %s asks for injection but would not reach the webhook", c.wantIn)
			}
			if included(mode, listed, c.wantNotIn) {
				t.Errorf("namespace %s asks for nothing but would reach the webhook", c.wantNotIn)
			}
			if !included(mode, listed, "created-after-the-condition") && mode == ModeExclude {
				t.Errorf("a namespace the operator has not seen must reach the webhook")
			}
		})
	}
}

func TestAsksForInjection(t *testing.T) {
	for annotations, want := range map[string]bool{
		"instrumentation.opentelemetry.io/inject-python=true":    true,
		"instrumentation.opentelemetry.io/inject-java=other/ins": true,
		"instrumentation.opentelemetry.io/inject-python=False":   false,
		"instrumentation.opentelemetry.io/container-names=app":   false,
		"autotel.io/rollout=true":                                false,
		"sidecar.opentelemetry.io/inject=true":                   true,
		"sidecar.opentelemetry.io/inject=ns/col":                 true,
		"sidecar.opentelemetry.io/inject=FALSE":                  false,
	} {
		k, v, _ := strings.Cut(annotations, "=")
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{k: v}}}
		if got := asksForInjection(ns); got != want {
			t.Errorf("%s: asks for injection = %v, want %v", annotations, got, want)
		}
	}
}

// TestAnnotatedAt: the window starts at the write of the manager owning the
// inject annotation, never before the namespace existed.
func TestAnnotatedAt(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	annotated := created.Add(time.Hour)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created), ManagedFields: []metav1.ManagedFieldsEntry{
		{Manager: "helm", Time: &metav1.Time{Time: created.Add(2 * time.Hour)}, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:x":{}}}}`)}},
		{Manager: "kubectl-annotate", Time: &metav1.Time{Time: annotated}, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:annotations":{"f:instrumentation.opentelemetry.io/inject-python":{}}}}`)}},
	}}}
	if got := annotatedAt(ns); !got.Equal(annotated) {
		t.Errorf("annotatedAt = %v, want %v", got, annotated)
	}
	ns.ManagedFields = nil
	if got := annotatedAt(ns); !got.Equal(created) {
		t.Errorf("without managed fields annotatedAt = %v, want the creation %v", got, created)
	}
}
