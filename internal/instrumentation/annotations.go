package instrumentation

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotation names are the OpenTelemetry Operator's, byte for byte, so that
// workloads written for it are instrumented the same way here.
const (
	annotationPrefix = "instrumentation.opentelemetry.io/"

	// AnnotationContainerNames lists, comma-separated, the containers every
	// requested language instruments (default: the first container).
	AnnotationContainerNames = annotationPrefix + "container-names"
	// AnnotationPythonPlatform picks the glibc or musl build of the Python
	// packages.
	AnnotationPythonPlatform = annotationPrefix + "otel-python-platform"
	// AnnotationDotNetRuntime picks the linux-x64 or linux-musl-x64 .NET profiler.
	AnnotationDotNetRuntime = annotationPrefix + "otel-dotnet-auto-runtime"
	// AnnotationGoTargetExe names the executable the Go eBPF agent attaches to.
	AnnotationGoTargetExe = annotationPrefix + "otel-go-auto-target-exe"

	// ResourceAttributeAnnotationPrefix marks pod annotations that become
	// resource attributes: resource.opentelemetry.io/<key>: <value>.
	ResourceAttributeAnnotationPrefix = "resource.opentelemetry.io/"

	// InjectionDisabledAnnotation on a pod (its workload's template) turns
	// injection off whatever else asks for it; its value says why. The
	// rollback controller sets it on a workload whose injected pods failed
	// (docs/rollback.md); removing it lets injection try again.
	InjectionDisabledAnnotation = "autotel.io/injection-disabled"
)

// DefaultImageAnnotation is the annotation that records on an
// Instrumentation the operator's default image for a language when it was
// defaulted, so an operator upgrade can tell user-chosen images from
// defaults.
func DefaultImageAnnotation(l Language) string {
	return annotationPrefix + "default-auto-instrumentation-" + string(l) + "-image"
}

// annotationValue resolves an annotation set on the pod, its namespace or
// both, with the OpenTelemetry Operator's precedence: a pod value other than
// "true" is final; a pod "true" defers to a namespace value naming an
// Instrumentation (or "true"), but not to a namespace "false".
func annotationValue(ns, pod metav1.ObjectMeta, annotation string) string {
	podValue := pod.Annotations[annotation]
	nsValue := ns.Annotations[annotation]
	switch {
	case nsValue == "":
		return podValue
	case podValue == "":
		return nsValue
	case !strings.EqualFold(podValue, "true"):
		return podValue
	case strings.EqualFold(nsValue, "false"):
		return podValue
	default:
		return nsValue
	}
}
