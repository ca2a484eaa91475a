package collectorbuild

import (
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/autotel/autotel/api/v1beta1"
)

// protocolPort is one listening protocol of a component: its config key
// under `protocols`, default port, transport and application protocol.
type protocolPort struct {
	key         string
	port        int32
	transport   corev1.Protocol
	appProtocol string
}

// multiProtocol lists receivers with a `protocols` section; each enabled
// protocol listens on its own port (upstream's defaults).
var multiProtocol = map[string][]protocolPort{
	"otlp":       {{"grpc", 4317, corev1.ProtocolTCP, "grpc"}, {"http", 4318, corev1.ProtocolTCP, "http"}},
	"jaeger":     {{"grpc", 14250, corev1.ProtocolTCP, "grpc"}, {"thrift_http", 14268, corev1.ProtocolTCP, "http"}, {"thrift_compact", 6831, corev1.ProtocolUDP, ""}, {"thrift_binary", 6832, corev1.ProtocolUDP, ""}},
	"skywalking": {{"grpc", 11800, corev1.ProtocolTCP, "grpc"}, {"http", 12800, corev1.ProtocolTCP, "http"}},
	"loki":       {{"grpc", 9095, corev1.ProtocolTCP, "grpc"}, {"http", 3100, corev1.ProtocolTCP, "http"}},
}

// singlePort lists receivers listening on one `endpoint` with a default
// port (0: no default, a port only when the endpoint names one).
var singlePort = map[string]protocolPort{
	"zipkin":        {"", 9411, corev1.ProtocolTCP, "http"},
	"opencensus":    {"", 55678, corev1.ProtocolTCP, ""},
	"carbon":        {"", 2003, corev1.ProtocolTCP, ""},
	"collectd":      {"", 8081, corev1.ProtocolTCP, ""},
	"sapm":          {"", 7276, corev1.ProtocolTCP, ""},
	"signalfx":      {"", 9943, corev1.ProtocolTCP, ""},
	"wavefront":     {"", 2003, corev1.ProtocolTCP, ""},
	"fluentforward": {"", 8006, corev1.ProtocolTCP, ""},
	"statsd":        {"", 8125, corev1.ProtocolUDP, ""},
	"influxdb":      {"", 8086, corev1.ProtocolTCP, ""},
	"splunk_hec":    {"", 8088, corev1.ProtocolTCP, ""},
	"awsxray":       {"", 2000, corev1.ProtocolUDP, ""},
	"datadog":       {"", 8126, corev1.ProtocolTCP, ""},
	"tcplog":        {"", 0, corev1.ProtocolTCP, ""},
	"udplog":        {"", 0, corev1.ProtocolUDP, ""},
}

// noPorts lists receivers that pull or read and listen on nothing.
var noPorts = map[string]bool{
	"prometheus": true, "filelog": true, "hostmetrics": true, "k8s_cluster": true, "k8s_events": true,
	"k8sobjects": true, "kubeletstats": true, "journald": true, "prometheus_simple": true, "receiver_creator": true,
	"docker_stats": true, "httpcheck": true, "sqlquery": true, "kafka": true, "redis": true, "postgresql": true, "mysql": true,
}

// componentType is the type part of a component ID ("otlp/2" → "otlp").
func componentType(id string) string {
	t, _, _ := strings.Cut(id, "/")
	return t
}

// endpointPort reads the port of an `endpoint` value ("0.0.0.0:4317",
// ":4317", "localhost:1234"); 0 when it has none.
func endpointPort(v any) int32 {
	s, ok := v.(string)
	if !ok || s == "" {
		return 0
	}
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	_, p, err := net.SplitHostPort(s)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil || n <= 0 {
		return 0
	}
	return int32(n)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// enabled returns the IDs of a component kind that some pipeline uses,
// sorted. Ports of components no pipeline uses are not opened: the
// collector does not start them.
func enabled(cfg v1beta1.Config, pick func(*v1beta1.Pipeline) []string) []string {
	set := map[string]bool{}
	for _, p := range cfg.Service.Pipelines {
		if p == nil {
			continue
		}
		for _, id := range pick(p) {
			set[id] = true
		}
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// receiverPorts infers the Service ports of the receivers (and the
// Prometheus exporter) the pipelines use.
func receiverPorts(cfg v1beta1.Config) []corev1.ServicePort {
	var out []corev1.ServicePort
	add := func(name string, pp protocolPort, port int32) {
		sp := corev1.ServicePort{Name: portName(name, port), Port: port, TargetPort: intstr.FromInt32(port)}
		if pp.transport != corev1.ProtocolTCP {
			sp.Protocol = pp.transport
		}
		if pp.appProtocol != "" {
			ap := pp.appProtocol
			sp.AppProtocol = &ap
		}
		out = append(out, sp)
	}
	for _, id := range enabled(cfg, func(p *v1beta1.Pipeline) []string { return p.Receivers }) {
		settings := asMap(cfg.Receivers.Object[id])
		typ := componentType(id)
		base := id
		if protos, ok := multiProtocol[typ]; ok {
			configured := asMap(settings["protocols"])
			for _, pp := range protos {
				pc, present := configured[pp.key]
				if !present {
					continue
				}
				port := endpointPort(asMap(pc)["endpoint"])
				if port == 0 {
					port = pp.port
				}
				add(base+"-"+pp.key, pp, port)
			}
			continue
		}
		if noPorts[typ] {
			continue
		}
		pp, known := singlePort[typ]
		if !known {
			pp = protocolPort{transport: corev1.ProtocolTCP}
		}
		port := endpointPort(settings["endpoint"])
		if port == 0 {
			port = pp.port
		}
		if port != 0 {
			add(base, pp, port)
		}
	}
	for _, id := range enabled(cfg, func(p *v1beta1.Pipeline) []string { return p.Exporters }) {
		if componentType(id) != "prometheus" {
			continue
		}
		port := endpointPort(asMap(cfg.Exporters.Object[id])["endpoint"])
		if port == 0 {
			port = 8889
		}
		add(id, protocolPort{transport: corev1.ProtocolTCP}, port)
	}
	return out
}

// servicePorts merges the inferred ports with spec.ports: a user port
// replaces an inferred one with the same name or number.
func servicePorts(c *v1beta1.OpenTelemetryCollector) []corev1.ServicePort {
	inferred := receiverPorts(c.Spec.Config)
	var out []corev1.ServicePort
	for _, p := range inferred {
		clash := false
		for _, u := range c.Spec.Ports {
			if u.Name == p.Name || u.Port == p.Port {
				clash = true
				break
			}
		}
		if !clash {
			out = append(out, p)
		}
	}
	for _, u := range c.Spec.Ports {
		out = append(out, u.ServicePort)
	}
	return out
}

// metricsPort is the port of the collector's own metrics: from
// service.telemetry.metrics (address, or a pull Prometheus reader), else 8888.
func metricsPort(cfg v1beta1.Config) int32 {
	if cfg.Service.Telemetry == nil {
		return 8888
	}
	m := asMap(cfg.Service.Telemetry.Object["metrics"])
	if p := endpointPort(m["address"]); p != 0 {
		return p
	}
	readers, _ := m["readers"].([]any)
	for _, r := range readers {
		prom := asMap(asMap(asMap(asMap(r)["pull"])["exporter"])["prometheus"])
		switch p := prom["port"].(type) {
		case int64:
			return int32(p)
		case float64:
			return int32(p)
		}
	}
	return 8888
}

// containerPorts are the inferred ports, then the metrics port, then
// spec.ports (container port = its port, with its host port), each later
// one replacing an earlier one of the same name; sorted by name.
func containerPorts(c *v1beta1.OpenTelemetryCollector) []corev1.ContainerPort {
	byName := map[string]corev1.ContainerPort{}
	for _, sp := range receiverPorts(c.Spec.Config) {
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		byName[sp.Name] = corev1.ContainerPort{Name: sp.Name, ContainerPort: sp.Port, Protocol: proto}
	}
	byName["metrics"] = corev1.ContainerPort{Name: "metrics", ContainerPort: metricsPort(c.Spec.Config), Protocol: corev1.ProtocolTCP}
	for _, u := range c.Spec.Ports {
		byName[u.Name] = corev1.ContainerPort{Name: u.Name, ContainerPort: u.Port, Protocol: u.Protocol, HostPort: u.HostPort}
	}
	out := make([]corev1.ContainerPort, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
