package collectorwebhook

// autotelComponents are the component types autotel-collector is built
// with (collector/cmd/autotel-collector/components.go); a test in the
// collector module's tree is not reachable from here, so
// TestComponentTableMatchesCollector reads that file and compares.
var autotelComponents = map[string][]string{
	"receivers":  {"filelog", "otlp"},
	"processors": {"attributes", "batch", "filter", "k8sattributes", "memory_limiter", "resource", "transform"},
	"exporters":  {"debug", "file", "loki", "otlp", "otlphttp"},
	"extensions": {"file_storage", "health_check"},
	"connectors": {},
}
