package cli

import (
	"testing"

	"github.com/autotel/autotel/internal/instrumentation"
)

// TestSidecarDecision: each recorded sidecar decision reads as what
// happened, so `autotel explain` tells a sidecar-only pod's story.
func TestSidecarDecision(t *testing.T) {
	for _, tc := range []struct {
		report instrumentation.SidecarReport
		want   string
	}{
		{instrumentation.SidecarReport{Injected: true, Collector: "obs/agent", Hash: "abc"}, "otc-container from obs/agent (config hash abc)"},
		{instrumentation.SidecarReport{Removed: true}, `otc-container removed (sidecar.opentelemetry.io/inject: "false")`},
		{instrumentation.SidecarReport{Error: true, Reason: "no such collector"}, "NOT injected (the pod was still admitted): no such collector"},
		{instrumentation.SidecarReport{Reason: "not requested"}, "not injected: not requested"},
	} {
		if got := sidecarDecision(&tc.report); got != tc.want {
			t.Errorf("sidecarDecision(%+v) = %q, want %q", tc.report, got, tc.want)
		}
	}
}
