package instrumentationwebhook

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/autotel/autotel/api/v1alpha1"
)

func TestSettingWarnings(t *testing.T) {
	seedEnv := []corev1.EnvVar{{Name: "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED", Value: "true"}}
	cases := []struct {
		name  string
		spec  func(*v1alpha1.InstrumentationSpec)
		wants []string // substrings, one warning each; none: no warning
	}{
		{"deprecated variable with an SDK image of the 0.61b0 line or later", func(s *v1alpha1.InstrumentationSpec) {
			s.Python.Image, s.Python.Env = "ghcr.io/x/autoinstrumentation-python:0.64b0", seedEnv
		}, []string{"spec.python.env: OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED is deprecated since OpenTelemetry Python 1.40.0/0.61b0", "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION=false"}},
		{"deprecated variable in spec.env", func(s *v1alpha1.InstrumentationSpec) {
			s.Python.Image, s.Env = "x/autoinstrumentation-python:0.61b0", seedEnv
		}, []string{"spec.env: OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"}},
		{"the variable with an SDK before its deprecation", func(s *v1alpha1.InstrumentationSpec) {
			s.Python.Image, s.Python.Env = "x/autoinstrumentation-python:0.60b1", seedEnv
		}, nil},
		{"the variable with autotel's agent (not an SDK image)", func(s *v1alpha1.InstrumentationSpec) {
			s.Python.Image, s.Python.Env = "autotel.local/autoinstrumentation-python:dev", seedEnv
		}, nil},
		{"init container memory below the copy's needs", func(s *v1alpha1.InstrumentationSpec) {
			s.Python.Image = "x:dev"
			s.Python.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}
		}, []string{"spec.python.resourceRequirements.limits.memory: 32Mi"}},
		{"enough memory", func(s *v1alpha1.InstrumentationSpec) {
			s.Python.Image = "x:dev"
			s.Java.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inst := &v1alpha1.Instrumentation{}
			tc.spec(&inst.Spec)
			got := SettingWarnings(inst, DefaultImages())
			if len(tc.wants) == 0 {
				if len(got) != 0 {
					t.Fatalf("unexpected warnings %q", got)
				}
				return
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.wants {
				if !strings.Contains(all, w) {
					t.Fatalf("warnings %q lack %q", got, w)
				}
			}
		})
	}
}

func TestPlatformWarning(t *testing.T) {
	if w := PlatformWarning("", []string{"python:3.12-alpine"}); !strings.Contains(w, "otel-python-platform: musl") {
		t.Fatalf("alpine image with glibc agent: %q", w)
	}
	if w := PlatformWarning("musl", []string{"python:3.12-alpine"}); w != "" {
		t.Fatalf("musl agent on alpine: %q", w)
	}
	if w := PlatformWarning("", []string{"python:3.12-slim"}); w != "" {
		t.Fatalf("glibc image: %q", w)
	}
}
