package instrumentation

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAnnotationValue covers the five branches of the namespace/pod
// precedence (§2.1) for each annotation it is used for.
func TestAnnotationValue(t *testing.T) {
	annotations := []string{
		"instrumentation.opentelemetry.io/inject-python",
		"instrumentation.opentelemetry.io/container-names",
		"instrumentation.opentelemetry.io/otel-python-platform",
	}
	cases := []struct {
		branch   string
		ns, pod  string
		expected string
	}{
		{"namespace empty -> pod value", "", "app", "app"},
		{"namespace empty, pod empty", "", "", ""},
		{"pod empty -> namespace value", "musl", "", "musl"},
		{"pod not true -> pod value (false)", "true", "false", "false"},
		{"pod not true -> pod value (a name)", "true", "worker", "worker"},
		{"pod not true -> pod value (over a namespace name)", "other", "worker", "worker"},
		{"pod true, namespace false -> true", "false", "true", "true"},
		{"pod true, namespace FALSE -> true (case-insensitive)", "FALSE", "True", "True"},
		{"pod true, namespace true -> namespace value", "TRUE", "true", "TRUE"},
		{"pod true, namespace name -> namespace value", "worker", "true", "worker"},
		{"pod TRUE, namespace name -> namespace value", "musl", "TRUE", "musl"},
	}
	for _, a := range annotations {
		for _, c := range cases {
			ns := metav1.ObjectMeta{Annotations: map[string]string{}}
			pod := metav1.ObjectMeta{Annotations: map[string]string{}}
			if c.ns != "" {
				ns.Annotations[a] = c.ns
			}
			if c.pod != "" {
				pod.Annotations[a] = c.pod
			}
			if got := annotationValue(ns, pod, a); got != c.expected {
				t.Errorf("%s / %s: got %q, want %q", a, c.branch, got, c.expected)
			}
			// Other annotations never leak in.
			if got := annotationValue(ns, pod, "instrumentation.opentelemetry.io/unrelated"); got != "" {
				t.Errorf("unrelated annotation resolved to %q", got)
			}
		}
	}
}
