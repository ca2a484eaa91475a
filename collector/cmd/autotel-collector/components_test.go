package main

import (
	"testing"

	"go.opentelemetry.io/collector/component"
)

// TestDistributionComponents pins the component set the distribution
// promises; dropping one would silently break users' configurations.
func TestDistributionComponents(t *testing.T) {
	f, err := components()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"receiver":  {"otlp", "filelog"},
		"processor": {"batch", "memory_limiter", "resource", "attributes", "transform", "filter", "k8sattributes"},
		"exporter":  {"debug", "otlp", "otlphttp", "file", "loki"},
		"extension": {"file_storage", "health_check", "pushback"},
	}
	has := map[string]func(component.Type) bool{
		"receiver":  func(t component.Type) bool { _, ok := f.Receivers[t]; return ok },
		"processor": func(t component.Type) bool { _, ok := f.Processors[t]; return ok },
		"exporter":  func(t component.Type) bool { _, ok := f.Exporters[t]; return ok },
		"extension": func(t component.Type) bool { _, ok := f.Extensions[t]; return ok },
	}
	for kind, names := range want {
		for _, name := range names {
			if !has[kind](component.MustNewType(name)) {
				t.Errorf("%s %q missing from the distribution", kind, name)
			}
		}
	}
	if f.Telemetry == nil {
		t.Error("no telemetry factory: the collector would refuse every configuration")
	}
}
