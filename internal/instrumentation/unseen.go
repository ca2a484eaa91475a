package instrumentation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// RequestsSidecar is true when the collector sidecar annotation (on the
// pod or its namespace) asks for a sidecar: any value but "false". Like
// RequestsInjection it needs no API reads.
func RequestsSidecar(ns *corev1.Namespace, pod *corev1.Pod) bool {
	v := annotationValue(ns.ObjectMeta, pod.ObjectMeta, SidecarAnnotation)
	return v != "" && !strings.EqualFold(v, "false")
}

// ShowsInjection is true when the pod visibly carries what the webhook
// adds: a language agent (InjectedLanguages) or the collector sidecar.
func ShowsInjection(pod *corev1.Pod) bool {
	return hasSidecar(pod) || len(InjectedLanguages(pod)) > 0
}

// UnseenByWebhook is true when the pod asked for injection (a language or
// the collector sidecar, on the pod or its namespace) and shows no sign of
// the pod webhook having seen it: neither its recorded decision
// (StatusAnnotation) nor anything it injects. The missed-pod sweep and the
// match-conditions window recovery both start from it.
//
// It only tells a missed pod from a seen one where the webhook records its
// decision (Admit: pod status annotations on, or the namespace opted into
// rollout); elsewhere a pod whose request failed looks the same, so
// callers confirm with a dry-run create that the webhook would change it
// now.
func UnseenByWebhook(ns *corev1.Namespace, pod *corev1.Pod) bool {
	if _, recorded := pod.Annotations[StatusAnnotation]; recorded {
		return false
	}
	if !RequestsInjection(ns, pod) && !RequestsSidecar(ns, pod) {
		return false
	}
	return !ShowsInjection(pod)
}
