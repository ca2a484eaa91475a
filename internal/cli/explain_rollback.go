package cli

import (
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/internal/instrumentation"
)

// explainRollback says, for a pod whose template autotel (or a person)
// marked autotel.io/injection-disabled, why and how to try again
// (docs/rollback.md).
func explainRollback(w io.Writer, pod *corev1.Pod) {
	why, ok := pod.Annotations[instrumentation.InjectionDisabledAnnotation]
	if !ok {
		return
	}
	fmt.Fprintf(w, "  injection disabled (%s): %s\n", instrumentation.InjectionDisabledAnnotation, why)
	fmt.Fprintf(w, "  to try again: remove that annotation from the workload's pod template (autotel removes it itself when the Instrumentation changes)\n")
}
