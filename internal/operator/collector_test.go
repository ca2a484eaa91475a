package operator

import (
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/rest"
)

// --enable-collector-controller=false decides without asking the API
// server; left on, the CRD is looked up through discovery, and an
// unreachable server is an error naming what was looked for (not a silent
// skip).
func TestCollectorActive(t *testing.T) {
	var lines []string
	log := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{})
	// Nothing listens on port 1: any request fails.
	cfg := &rest.Config{Host: "http://127.0.0.1:1"}

	o := DefaultOptions()
	if !o.EnableCollector {
		t.Fatal("the collector controller is off by default")
	}
	o.EnableCollector = false
	on, err := collectorActive(cfg, o, log)
	if err != nil || on {
		t.Fatalf("switched off: active=%t err=%v, want false without contacting the API server", on, err)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "--enable-collector-controller=false") {
		t.Errorf("log lines %q, want one naming the flag", lines)
	}

	o.EnableCollector = true
	on, err = collectorActive(cfg, o, log)
	if err == nil || on || !strings.Contains(err.Error(), "OpenTelemetryCollector CRD") {
		t.Fatalf("unreachable API server: active=%t err=%v, want an error naming the CRD lookup", on, err)
	}
}
