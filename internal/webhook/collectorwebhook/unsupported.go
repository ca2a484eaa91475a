package collectorwebhook

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/collectorbuild"
)

// notRunWarnings names each upstream feature the resource asks for that
// autotel's operator stores but does not act on, with what is missing and
// what to do instead: the resource is accepted (a manifest written for
// upstream applies unchanged), and kubectl prints these warnings.
func notRunWarnings(c *v1beta1.OpenTelemetryCollector) admission.Warnings {
	svc := collectorbuild.Collector(c.Name)
	var out admission.Warnings
	if enabled(c.Spec.TargetAllocator, "enabled") {
		out = append(out, "spec.targetAllocator.enabled: autotel runs no target allocator: no "+c.Name+"-targetallocator Deployment or Service is made, "+
			"and a prometheus receiver gets no targets from it; configure the receiver's scrape_configs directly (each collector then scrapes every target)")
	}
	if set(c.Spec.Ingress, "type") {
		out = append(out, fmt.Sprintf("spec.ingress: autotel makes no Ingress or Route; create one for Service %s yourself", svc))
	}
	if enabled(c.Spec.HttpRoute, "enabled") {
		out = append(out, fmt.Sprintf("spec.httpRoute: autotel makes no HTTPRoute; create one for Service %s yourself", svc))
	}
	if enabled(c.Spec.NetworkPolicy, "enabled") {
		out = append(out, "spec.networkPolicy: autotel makes no NetworkPolicy; the collector's pods accept traffic as the namespace's policies allow")
	}
	if c.Spec.Observability.Metrics.EnableMetrics {
		out = append(out, fmt.Sprintf("spec.observability.metrics.enableMetrics: autotel makes no ServiceMonitor or PodMonitor; scrape Service %s (port monitoring) or the pods' prometheus.io annotations",
			collectorbuild.MonitoringService(c.Name)))
	}
	return out
}

// fields decodes a schemaless field (nil when absent or not an object).
func fields(raw *runtime.RawExtension) map[string]any {
	if raw == nil || len(raw.Raw) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw.Raw, &m) != nil {
		return nil
	}
	return m
}

func enabled(raw *runtime.RawExtension, key string) bool {
	v, _ := fields(raw)[key].(bool)
	return v
}

func set(raw *runtime.RawExtension, key string) bool {
	v, _ := fields(raw)[key].(string)
	return v != ""
}
