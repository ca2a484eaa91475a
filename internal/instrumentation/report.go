package instrumentation

import (
	"fmt"
	"strings"
)

// Outcome summarises what injection did to a pod.
type Outcome string

const (
	// OutcomeInjected: at least one container was instrumented.
	OutcomeInjected Outcome = "injected"
	// OutcomeSkipped: injection was asked for but nothing was injected.
	OutcomeSkipped Outcome = "skipped"
	// OutcomeNotRequested: no inject-* annotation applies to the pod.
	OutcomeNotRequested Outcome = "not-requested"
	// OutcomeError: the request could not be resolved (missing or
	// ambiguous Instrumentation, bad annotation); the pod is admitted as is.
	OutcomeError Outcome = "error"
)

// Report is the decision record of one injection: what was asked, what was
// done and why. The webhook logs it, the CLI prints it and pod status
// annotations are derived from it.
type Report struct {
	// Pod is namespace/name, or namespace/generateName* before the name is known.
	Pod     string
	Outcome Outcome
	// Reason explains a skip or error in one sentence.
	Reason    string
	Languages []LanguageReport
	// Warnings are events worth surfacing on the pod (a disabled language).
	Warnings []Warning
	// ErrorLanguage is the language whose request failed (OutcomeError).
	ErrorLanguage Language
	// Sidecar is the collector sidecar decision; nil when not asked for.
	Sidecar *SidecarReport
}

// LanguageReport is the decision for one requested language.
type LanguageReport struct {
	Language Language
	// Requested is the effective annotation value (true, a name, ns/name).
	Requested string
	// Instrumentation is namespace/name of the resource used, if resolved.
	Instrumentation string
	// Hash identifies what was injected (the Instrumentation's spec): pods
	// whose hash differs from the current one are outdated.
	Hash       string
	Containers []ContainerReport
	// Disabled: the operator does not inject this language.
	Disabled bool
	// Rollout: the Instrumentation opted into rollout on change.
	Rollout bool
}

// Injected reports whether any container got this language.
func (l LanguageReport) Injected() bool {
	for _, c := range l.Containers {
		if c.Injected {
			return true
		}
	}
	return false
}

// ContainerReport is the decision for one target container.
type ContainerReport struct {
	Name     string
	Injected bool
	Reason   string
}

// Warning is a Kubernetes event the edge should record on the pod.
type Warning struct {
	Reason  string
	Message string
}

// InjectedContainers lists, per language, the containers that were instrumented.
func (r Report) InjectedContainers() map[Language][]string {
	out := map[Language][]string{}
	for _, l := range r.Languages {
		for _, c := range l.Containers {
			if c.Injected {
				out[l.Language] = append(out[l.Language], c.Name)
			}
		}
	}
	return out
}

// String renders the report on one line, for logs.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s: %s", r.Pod, r.Outcome)
	if r.Reason != "" {
		fmt.Fprintf(&b, " (%s)", r.Reason)
	}
	if s := r.Sidecar; s != nil {
		switch {
		case s.Injected:
			fmt.Fprintf(&b, "; sidecar %s: injected", s.Collector)
		default:
			fmt.Fprintf(&b, "; sidecar: %s", s.Reason)
		}
	}
	for _, l := range r.Languages {
		fmt.Fprintf(&b, "; %s", l.Language)
		if l.Instrumentation != "" {
			fmt.Fprintf(&b, " via %s", l.Instrumentation)
		}
		for _, c := range l.Containers {
			if c.Injected {
				fmt.Fprintf(&b, " [%s: injected]", c.Name)
			} else {
				fmt.Fprintf(&b, " [%s: skipped: %s]", c.Name, c.Reason)
			}
		}
	}
	return b.String()
}
