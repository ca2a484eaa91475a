// Package collectorbuild turns an OpenTelemetryCollector into the
// Kubernetes objects that run it: pure functions, no API calls. Names,
// labels and the config hash follow upstream's operator so objects it
// created are recognised and updated in place.
package collectorbuild

import (
	"fmt"
	"regexp"
	"strings"
)

// Label and annotation keys upstream's operator writes.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelComponent = "app.kubernetes.io/component"
	LabelName      = "app.kubernetes.io/name"
	LabelVersion   = "app.kubernetes.io/version"

	ManagedByValue = "opentelemetry-operator"
	PartOfValue    = "opentelemetry"
	ComponentValue = "opentelemetry-collector"

	LabelServiceType       = "operator.opentelemetry.io/collector-service-type"
	LabelHeadlessService   = "operator.opentelemetry.io/collector-headless-service"
	LabelMonitoringService = "operator.opentelemetry.io/collector-monitoring-service"

	// AnnotationConfigHash is the sha256 of the config on the workload and
	// pod template: a new config changes it and the pods roll.
	AnnotationConfigHash = "opentelemetry-operator-config/sha256"

	ContainerName  = "otc-container"
	ConfigVolume   = "otc-internal"
	ConfigKey      = "collector.yaml"
	ConfigDir      = "/conf"
	ConfigMapsRoot = "/var/conf"
)

// Collector is the name of the workload, ServiceAccount, base Service, PDB and HPA.
func Collector(name string) string { return dnsName(truncate("%s-collector", 63, name)) }

// ConfigMapName is the name of the ConfigMap holding the config with this hash.
func ConfigMapName(name, hash string) string {
	return dnsName(truncate("%s-collector-%s", 63, name, hash[:8]))
}

// HeadlessService is the name of the headless Service.
func HeadlessService(name string) string {
	return dnsName(truncate("%s-headless", 63, Collector(name)))
}

// MonitoringService is the name of the Service exposing the collector's own metrics.
func MonitoringService(name string) string {
	return dnsName(truncate("%s-monitoring", 63, Collector(name)))
}

// truncate formats and, when the result is longer than max, shortens the
// string arguments from the first on, so the fixed suffixes survive; a
// result still too long is cut at max. A result that fits is trimmed of
// non-alphanumerics at both ends (upstream's naming, so names match).
func truncate(format string, max int, values ...any) string {
	out := fmt.Sprintf(format, values...)
	if excess := len(out) - max; excess > 0 {
		vals := make([]any, len(values))
		copy(vals, values)
		for i, v := range vals {
			s, ok := v.(string)
			if !ok || excess == 0 {
				continue
			}
			if len(s) > excess {
				vals[i] = s[:len(s)-excess]
				excess = 0
			} else {
				vals[i] = ""
				excess -= len(s)
			}
		}
		out = fmt.Sprintf(format, vals...)
	}
	if len(out) > max {
		return out[:max]
	}
	return strings.TrimFunc(out, func(r rune) bool { return !isAlnum(r, true) })
}

func isAlnum(r rune, upper bool) bool {
	return (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (upper && r >= 'A' && r <= 'Z')
}

// dnsName lower-cases and replaces each character a DNS-1123 name cannot
// hold: with 'a' at either end (a name must start and end alphanumeric),
// else with '-'. The length is unchanged.
func dnsName(s string) string {
	rs := []rune(strings.ToLower(s))
	for i, r := range rs {
		if isAlnum(r, false) {
			continue
		}
		if i == 0 || i == len(rs)-1 {
			rs[i] = 'a'
		} else {
			rs[i] = '-'
		}
	}
	return string(rs)
}

var portLabel = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)

// portName is a component port's name: the component name with '/' and '_'
// as '-' when it is at most 15 characters and a valid label, else
// port-<number> (a container port name is limited to 15 characters).
func portName(name string, port int32) string {
	if len(name) > 15 {
		return fmt.Sprintf("port-%d", port)
	}
	n := strings.NewReplacer("/", "-", "_", "-").Replace(name)
	if !portLabel.MatchString(n) {
		return fmt.Sprintf("port-%d", port)
	}
	return n
}
