package instrumentation

import corev1 "k8s.io/api/core/v1"

// AnnotationLogs picks, per workload (pod template or namespace), the one
// path its logs take to the backend, so no line is stored twice:
//
//   - "otlp": the in-process SDK/agent exports log records over OTLP (with
//     trace context and attributes); the collector's filelog receiver must
//     skip this pod's stdout (the chart's collector drops records of pods
//     annotated so). autotel's Python agent then also captures print() and
//     stdout/stderr lines as records, since nothing else will ship them.
//   - "stdout": the SDK exports no logs; the app's console output is
//     shipped by the collector's filelog receiver.
//
// Without the annotation nothing changes: upstream's behaviour.
const AnnotationLogs = "autotel.io/logs"

// Log path values.
const (
	LogsOTLP   = "otlp"
	LogsStdout = "stdout"
)

// autotel's Python agent switches for shipping print()/stdout and stderr
// lines as log records (it does not re-ship lines its logging bridge
// already exported).
const (
	envCaptureStdout = "AUTOTEL_PYTHON_CAPTURE_STDOUT"
	envCaptureStderr = "AUTOTEL_PYTHON_CAPTURE_STDERR"
)

// applyLogPath adds the variables for the chosen path before the
// Instrumentation's env is merged: the workload's choice is more specific
// than the Instrumentation's settings, but the container's own env still
// wins (it is never overwritten).
func applyLogPath(req request, c *corev1.Container) {
	switch req.annotations[AnnotationLogs] {
	case LogsStdout:
		c.Env = appendIfAbsent(c.Env, corev1.EnvVar{Name: "OTEL_LOGS_EXPORTER", Value: "none"})
	case LogsOTLP:
		c.Env = appendIfAbsent(c.Env, corev1.EnvVar{Name: "OTEL_LOGS_EXPORTER", Value: "otlp"})
		// The container log is dropped for this workload, so whatever the
		// process writes to stdout or stderr outside logging (print(),
		// gunicorn's own messages, tracebacks) must travel with the agent.
		if req.language == Python {
			c.Env = appendIfAbsent(c.Env,
				corev1.EnvVar{Name: envCaptureStdout, Value: "true"},
				corev1.EnvVar{Name: envCaptureStderr, Value: "true"})
		}
	}
}
