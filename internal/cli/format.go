package cli

import (
	"fmt"
	"io"

	"github.com/autotel/autotel/internal/instrumentation"
)

// writeReport explains one decision for people: what was asked, which
// Instrumentation answered, what happened to each container and why.
func writeReport(w io.Writer, what string, r instrumentation.Report) {
	fmt.Fprintf(w, "%s: %s\n", what, describeOutcome(r.Outcome))
	if r.Reason != "" {
		fmt.Fprintf(w, "  why: %s\n", r.Reason)
	}
	for _, l := range r.Languages {
		via := l.Instrumentation
		if l.Hash != "" {
			via += " (spec hash " + l.Hash + ")"
		}
		switch {
		case l.Disabled:
			fmt.Fprintf(w, "  %s: requested (%s) but disabled in the operator; enable it with --enable-%s-instrumentation\n", l.Language, l.Requested, l.Language)
		default:
			fmt.Fprintf(w, "  %s via %s\n", l.Language, via)
		}
		for _, c := range l.Containers {
			if c.Injected {
				fmt.Fprintf(w, "    container %s: injected\n", c.Name)
			} else {
				fmt.Fprintf(w, "    container %s: not injected: %s\n", c.Name, c.Reason)
			}
		}
	}
	if s := r.Sidecar; s != nil && s.Injected {
		fmt.Fprintf(w, "  collector sidecar otc-container from %s (config hash %s)\n", s.Collector, s.Hash)
	} else if s != nil && !s.Error {
		fmt.Fprintf(w, "  collector sidecar: %s\n", s.Reason)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "  warning %s: %s\n", warn.Reason, warn.Message)
	}
}

func describeOutcome(o instrumentation.Outcome) string {
	switch o {
	case instrumentation.OutcomeInjected:
		return "instrumented"
	case instrumentation.OutcomeNotRequested:
		return "not instrumented: no instrumentation.opentelemetry.io/inject-* annotation on the pod (template) or its namespace"
	case instrumentation.OutcomeError:
		return "NOT instrumented (error; the pod is still admitted)"
	default:
		return "not instrumented (skipped)"
	}
}

// sidecarDecision says in one phrase what the webhook did with a pod's
// collector sidecar request (explain prints it from the pod's recorded
// decision, where a pod asking only for a sidecar has no language).
func sidecarDecision(s *instrumentation.SidecarReport) string {
	switch {
	case s.Injected:
		return fmt.Sprintf("otc-container from %s (config hash %s)", s.Collector, s.Hash)
	case s.Removed:
		return "otc-container removed (" + instrumentation.SidecarAnnotation + `: "false")`
	case s.Error:
		return "NOT injected (the pod was still admitted): " + s.Reason
	default:
		return "not injected: " + s.Reason
	}
}
