package instrumentation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/api/v1alpha1"
)

const (
	pythonInitContainerName = "opentelemetry-auto-instrumentation-python"
	pythonVolumeName        = "opentelemetry-auto-instrumentation-python"
	pythonMountPath         = "/otel-auto-instrumentation-python"
	// sitecustomize.py in this folder bootstraps the SDK before the app.
	pythonPathPrefix = pythonMountPath + "/opentelemetry/instrumentation/auto_instrumentation"
	pythonPathSuffix = pythonMountPath
	envPythonPath    = "PYTHONPATH"
)

// pythonSource is the folder of the image to copy for the libc the app
// uses; the two builds differ in their compiled extensions.
func pythonSource(platform string) (string, error) {
	switch platform {
	case "", "glibc":
		return "/autoinstrumentation/.", nil
	case "musl":
		return "/autoinstrumentation-musl/.", nil
	}
	return "", fmt.Errorf("provided %s annotation value '%s' is not supported", AnnotationPythonPlatform, platform)
}

// pythonDefaults are what the Python image supports: OTLP over HTTP only
// (gRPC wheels depend on the OS and the Python version).
var pythonDefaults = []corev1.EnvVar{
	{Name: "OTEL_EXPORTER_OTLP_PROTOCOL", Value: "http/protobuf"},
	{Name: "OTEL_TRACES_EXPORTER", Value: "otlp"},
	{Name: "OTEL_METRICS_EXPORTER", Value: "otlp"},
	{Name: "OTEL_LOGS_EXPORTER", Value: "otlp"},
}

var pythonInjector = copyAgent{
	language: Python,
	specEnv:  func(inst *v1alpha1.Instrumentation) []corev1.EnvVar { return inst.Spec.Python.Env },
	prepare: func(inst *v1alpha1.Instrumentation, req request, c *corev1.Container) error {
		// PYTHONPATH is wrapped right after python.env is merged, before
		// spec.env, so only those two layers can supply it.
		if err := literalOnly(mergedEnv(c, inst.Spec.Python.Env), envPythonPath); err != nil {
			return err
		}
		if _, err := pythonSource(req.annotations[AnnotationPythonPlatform]); err != nil {
			return err
		}
		c.Env = appendIfAbsent(c.Env, inst.Spec.Python.Env...)
		// The app's own PYTHONPATH stays, between our bootstrap folder
		// (first, so our sitecustomize runs) and our packages (last, so the
		// app's own versions of shared packages win).
		if i := envIndex(c.Env, envPythonPath); i >= 0 {
			c.Env[i].Value = pythonPathPrefix + ":" + c.Env[i].Value + ":" + pythonPathSuffix
		} else {
			c.Env = append(c.Env, corev1.EnvVar{Name: envPythonPath, Value: pythonPathPrefix + ":" + pythonPathSuffix})
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: pythonVolumeName, MountPath: pythonMountPath})
		return nil
	},
	defaults: func(_ *v1alpha1.Instrumentation, _ request, c *corev1.Container) {
		c.Env = appendIfAbsent(c.Env, pythonDefaults...)
	},
	podParts: func(inst *v1alpha1.Instrumentation, req request, pod *corev1.Pod, first *corev1.Container) {
		src, _ := pythonSource(req.annotations[AnnotationPythonPlatform]) // checked per container
		spec := inst.Spec.Python
		addCopyAgent(inst, pod, first, pythonInitContainerName, spec.Image, []string{"cp", "-r", src, pythonMountPath},
			spec.Resources, spec.VolumeSpec, pythonVolumeName, pythonMountPath)
	},
}
