package instrumentation

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// StatusAnnotation holds, on pods that asked for injection, the decision
// the webhook took: `kubectl get pod -o yaml` and `autotel explain` read it.
// It is only written when the operator runs with pod status annotations
// on (or the pod's workload opted into rollout), since upstream pods carry
// no such annotation.
const StatusAnnotation = "autotel.io/injection"

// InjectedLabel marks pods that carry StatusAnnotation with an injected
// outcome, so the operator can watch just those pods instead of all.
const InjectedLabel = "autotel.io/injected"

// Status is the JSON in StatusAnnotation.
type Status struct {
	Outcome   Outcome          `json:"outcome"`
	Reason    string           `json:"reason,omitempty"`
	Languages []LanguageStatus `json:"languages,omitempty"`
	// Sidecar is the collector sidecar decision, when the pod asked for
	// one. A pod that asks only for a sidecar has Outcome not-requested
	// (no language) and this: recording it is how the missed-pod sweep
	// tells such a pod the webhook saw, even when its sidecar failed.
	Sidecar *SidecarReport `json:"sidecar,omitempty"`
}

// LanguageStatus is one language's part of Status.
type LanguageStatus struct {
	Language        Language          `json:"language"`
	Instrumentation string            `json:"instrumentation,omitempty"`
	Hash            string            `json:"hash,omitempty"`
	Injected        []string          `json:"injected,omitempty"`
	Skipped         map[string]string `json:"skipped,omitempty"`
	Disabled        bool              `json:"disabled,omitempty"`
}

// Admit is the whole pod change an admission makes: Mutate, then the
// decision recorded on the pod when Config or a rollout opt-in asks for it.
// The pod webhook and the CLI preview both call it, so a preview is the
// admitted pod byte for byte. Like Mutate it returns pod itself (the same
// pointer) when nothing changes.
func (m Mutator) Admit(ctx context.Context, ns *corev1.Namespace, pod *corev1.Pod, lookup Lookup) (*corev1.Pod, Report) {
	mutated, report := m.Mutate(ctx, ns, pod, lookup)
	// A sidecar-only pod (no language asked for) is recorded too, so it
	// shows the webhook saw it (UnseenByWebhook).
	if (report.Outcome == OutcomeNotRequested && report.Sidecar == nil) || !m.wantsStatus(ns, report) {
		return mutated, report
	}
	if mutated == pod {
		mutated = pod.DeepCopy()
	}
	SetStatus(mutated, report)
	return mutated, report
}

// wantsStatus: the operator says so, or the pod's Instrumentation or
// namespace opted into rollout, which needs the injected hash on the pod
// to find outdated pods.
func (m Mutator) wantsStatus(ns *corev1.Namespace, r Report) bool {
	if m.Config.PodStatusAnnotations || ns.Annotations[RolloutAnnotation] == "true" {
		return true
	}
	for _, l := range r.Languages {
		if l.Rollout {
			return true
		}
	}
	return false
}

// StatusOf condenses a report for the annotation.
func StatusOf(r Report) Status {
	st := Status{Outcome: r.Outcome, Reason: r.Reason}
	if r.Sidecar != nil {
		sc := *r.Sidecar
		st.Sidecar = &sc
	}
	for _, l := range r.Languages {
		ls := LanguageStatus{Language: l.Language, Instrumentation: l.Instrumentation, Hash: l.Hash, Disabled: l.Disabled}
		for _, c := range l.Containers {
			if c.Injected {
				ls.Injected = append(ls.Injected, c.Name)
			} else {
				if ls.Skipped == nil {
					ls.Skipped = map[string]string{}
				}
				ls.Skipped[c.Name] = c.Reason
			}
		}
		st.Languages = append(st.Languages, ls)
	}
	return st
}

// SetStatus writes the report into the pod's StatusAnnotation.
func SetStatus(pod *corev1.Pod, r Report) {
	raw, err := json.Marshal(StatusOf(r))
	if err != nil {
		return // plain strings and maps; cannot fail
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[StatusAnnotation] = string(raw)
	if r.Outcome == OutcomeInjected {
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Labels[InjectedLabel] = "true"
	}
}

// ReadStatus parses a pod's StatusAnnotation; ok is false when absent.
func ReadStatus(pod *corev1.Pod) (st Status, ok bool, err error) {
	raw, ok := pod.Annotations[StatusAnnotation]
	if !ok {
		return Status{}, false, nil
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return Status{}, true, fmt.Errorf("annotation %s is not valid JSON: %w", StatusAnnotation, err)
	}
	return st, true, nil
}

// InjectedLanguages lists the languages whose agent is visibly present in
// a pod (by the init containers, sidecar or variables injection adds).
func InjectedLanguages(pod *corev1.Pod) []Language {
	var out []Language
	for _, l := range languageTable {
		if l.agent.in(pod) {
			out = append(out, l.language)
		}
	}
	if len(out) == 0 {
		if ok, _ := alreadyInstrumented(pod); ok {
			out = append(out, SDK)
		}
	}
	return out
}
