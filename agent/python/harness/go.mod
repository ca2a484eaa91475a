module github.com/autotel/autotel/agent/python/harness

go 1.26.0

require (
	go.opentelemetry.io/collector/pdata v1.54.0
	go.opentelemetry.io/proto/otlp v1.10.0
	google.golang.org/protobuf v1.36.11
)
