package instrumentation

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/autotel/autotel/api/v1alpha1"
)

// TestLogPath: autotel.io/logs picks one log path per workload; the
// container's own env still wins, the Instrumentation's python.env does not.
func TestLogPath(t *testing.T) {
	inst := v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Name: "i", Namespace: "app"}}
	inst.Spec.Python.Image = "python:1"
	inst.Spec.Python.Env = []corev1.EnvVar{{Name: "OTEL_LOGS_EXPORTER", Value: "otlp_proto_http"}}
	cases := []struct {
		name      string
		value     string
		lang      Language
		own       []corev1.EnvVar
		want      map[string]string // env that must be present
		absent    []string
		warning   bool
		unchanged bool
	}{
		{name: "no annotation keeps upstream behaviour", lang: Python, want: map[string]string{"OTEL_LOGS_EXPORTER": "otlp_proto_http"}, absent: []string{envCaptureStdout, envCaptureStderr}},
		{name: "stdout turns SDK log export off", value: LogsStdout, lang: Python, want: map[string]string{"OTEL_LOGS_EXPORTER": "none"}, absent: []string{envCaptureStdout}},
		{name: "otlp exports and captures print() and stderr", value: LogsOTLP, lang: Python, want: map[string]string{"OTEL_LOGS_EXPORTER": "otlp", envCaptureStdout: "true", envCaptureStderr: "true"}},
		{name: "otlp for a non-Python SDK", value: LogsOTLP, lang: SDK, want: map[string]string{"OTEL_LOGS_EXPORTER": "otlp"}, absent: []string{envCaptureStdout}},
		{name: "the container's own setting wins", value: LogsStdout, lang: Python, own: []corev1.EnvVar{{Name: "OTEL_LOGS_EXPORTER", Value: "console"}}, want: map[string]string{"OTEL_LOGS_EXPORTER": "console"}},
		{name: "unknown value is ignored with a warning", value: "files", lang: Python, want: map[string]string{"OTEL_LOGS_EXPORTER": "otlp_proto_http"}, warning: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ann := map[string]string{tc.lang.InjectAnnotation(): "true"}
			if tc.value != "" {
				ann[AnnotationLogs] = tc.value
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "app", Annotations: ann},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1", Env: tc.own}}}}
			out, report := Mutator{Config: DefaultConfig()}.Mutate(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, pod,
				&StaticLookup{Instrumentations: []v1alpha1.Instrumentation{inst}})
			if report.Outcome != OutcomeInjected {
				t.Fatalf("report: %s", report)
			}
			env := map[string]string{}
			for _, e := range out.Spec.Containers[0].Env {
				env[e.Name] = e.Value
			}
			for k, v := range tc.want {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := env[k]; ok {
					t.Errorf("%s set, want absent", k)
				}
			}
			if got := len(report.Warnings) > 0 && report.Warnings[0].Reason == "InvalidLogPath"; got != tc.warning {
				t.Errorf("warning = %v, want %v (%v)", got, tc.warning, report.Warnings)
			}
		})
	}
}
