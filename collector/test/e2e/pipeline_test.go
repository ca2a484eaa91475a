package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/victorialogs"
	"github.com/autotel/autotel/testkit/wait"
)

// seedResource is the resource of the seed's Python sample app as its Loki
// line shows it (testdata/observed-log-loki.json).
var seedResource = resource.NewSchemaless(
	attribute.String("k8s.container.name", "sample"),
	attribute.String("k8s.deployment.name", "sample"),
	attribute.String("k8s.namespace.name", "example"),
	attribute.String("k8s.node.name", "example-node"),
	attribute.String("k8s.pod.name", "sample-656f58b97c-9mr6d"),
	attribute.String("k8s.replicaset.name", "sample-656f58b97c"),
	attribute.String("service.instance.id", "example.sample-656f58b97c-9mr6d.sample"),
	attribute.String("service.name", "sample"),
	attribute.String("service.version", "amd64"),
	attribute.String("telemetry.auto.version", "0.44b0"),
	attribute.String("telemetry.sdk.language", "python"),
	attribute.String("telemetry.sdk.name", "opentelemetry"),
	attribute.String("telemetry.sdk.version", "1.23.0"),
)

const seedBody = `127.0.0.1 - - [25/May/2024 01:49:05] "GET /hello HTTP/1.1" 200 -`

// emitSeedRecord sends the seed's log record through the OpenTelemetry Go SDK.
func emitSeedRecord(t *testing.T, exp sdklog.Exporter, at time.Time) {
	t.Helper()
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(seedResource), sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	logger := lp.Logger("opentelemetry.sdk._logs._internal")
	var rec otellog.Record
	rec.SetTimestamp(at)
	rec.SetObservedTimestamp(at)
	rec.SetSeverity(otellog.SeverityInfo)
	rec.SetSeverityText("INFO")
	rec.SetBody(otellog.StringValue(seedBody))
	rec.AddAttributes(
		otellog.String("otelSpanID", "0"),
		otellog.String("otelTraceID", "0"),
		otellog.Bool("otelTraceSampled", false),
		otellog.String("otelServiceName", "sample"),
		otellog.String("code.filepath", "/usr/local/lib/python3.11/site-packages/werkzeug/_internal.py"),
		otellog.String("code.function", "_log"),
		otellog.Int("code.lineno", 97),
	)
	logger.Emit(context.Background(), rec)
	if err := lp.Shutdown(ctxT(t)); err != nil {
		t.Fatalf("SDK shutdown (flushes the export): %v", err)
	}
}

func seedLine(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/observed-log-loki.json")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSeedPipeline runs the seed's own collector configuration (Helm-merged,
// testdata/seed-merged.yaml) unchanged except for the Loki endpoint, and
// checks the stored stream and line are those the seed observed in Loki.
func TestSeedPipeline(t *testing.T) {
	// The seed's configuration, on free ports instead of the chart's fixed
	// ones (another collector on this machine may hold those).
	seed, err := os.ReadFile("../../testdata/seed-merged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	grpcPort, httpPort, healthPort, metricsPort := ports.Free(t), ports.Free(t), ports.Free(t), ports.Free(t)
	cfg := strings.NewReplacer(
		"${env:MY_POD_IP}:4317", fmt.Sprintf("127.0.0.1:%d", grpcPort),
		"${env:MY_POD_IP}:4318", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"${env:MY_POD_IP}:13133", fmt.Sprintf("127.0.0.1:%d", healthPort),
		"port: 8888", fmt.Sprintf("port: %d", metricsPort),
	).Replace(string(seed))
	senders := map[string]func(t *testing.T) sdklog.Exporter{
		"otlp-http": func(t *testing.T) sdklog.Exporter {
			exp, err := otlploghttp.New(ctxT(t), otlploghttp.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", httpPort)), otlploghttp.WithInsecure())
			if err != nil {
				t.Fatal(err)
			}
			return exp
		},
		"otlp-grpc": func(t *testing.T) sdklog.Exporter {
			exp, err := otlploggrpc.New(ctxT(t), otlploggrpc.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", grpcPort)), otlploggrpc.WithInsecure())
			if err != nil {
				t.Fatal(err)
			}
			return exp
		},
	}
	for _, name := range []string{"otlp-http", "otlp-grpc"} {
		t.Run(name, func(t *testing.T) {
			vl := victorialogs.Start(t, victoriaLogsBin)
			c := startCollector(t, cfg, fmt.Sprintf("http://127.0.0.1:%d/", healthPort), fmt.Sprintf("127.0.0.1:%d", metricsPort),
				"MY_POD_IP=127.0.0.1", "LOKI_PUSH_ENDPOINT="+vl.PushURL())
			emitSeedRecord(t, senders[name](t), time.Now())

			var rows []victorialogs.Row
			wait.For(t, 20*time.Second, "the record in VictoriaLogs", func() (bool, string) {
				rows = vl.QueryT(t, "*")
				return len(rows) > 0, fmt.Sprintf("%d rows", len(rows))
			})
			if len(rows) != 1 {
				t.Fatalf("stored %d records, want 1: %v", len(rows), rows)
			}
			if got, want := rows[0]["_msg"], seedLine(t); got != want {
				t.Errorf("stored line\ngot  %s\nwant %s", got, want)
			}
			wantLabels := map[string]string{
				"container": "sample", "namespace": "example", "pod": "sample-656f58b97c-9mr6d",
				"exporter": "OTLP", "job": "sample",
				// Absent from the seed's default_labels_enabled, which
				// upstream treats as enabled.
				"instance": "example.sample-656f58b97c-9mr6d.sample", "level": "INFO",
			}
			if got := rows[0].Labels(); !reflect.DeepEqual(got, wantLabels) {
				t.Errorf("stored labels\ngot  %v\nwant %v", got, wantLabels)
			}
			if n := c.metric(t, "otelcol_exporter_sent_log_records", `exporter="loki"`); n != 1 {
				t.Errorf("otelcol_exporter_sent_log_records = %v, want 1", n)
			}
		})
	}
}

// TestNativeOTLPPath is upstream's migration target: otlphttp into the
// store's native OTLP endpoint, no Loki exporter involved.
func TestNativeOTLPPath(t *testing.T) {
	vl := victorialogs.Start(t, victoriaLogsBin)
	httpPort, healthPort, metricsPort := ports.Free(t), ports.Free(t), ports.Free(t)
	cfg := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http: {endpoint: 127.0.0.1:%d}
exporters:
  otlphttp:
    endpoint: http://%s/insert/opentelemetry
`, httpPort, vl.Addr) + serviceYAML(healthPort, metricsPort, "{receivers: [otlp], exporters: [otlphttp]}")
	startCollector(t, cfg, fmt.Sprintf("http://127.0.0.1:%d/", healthPort), fmt.Sprintf("127.0.0.1:%d", metricsPort))
	exp, err := otlploghttp.New(ctxT(t), otlploghttp.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", httpPort)), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	emitSeedRecord(t, exp, time.Now())

	var rows []victorialogs.Row
	wait.For(t, 20*time.Second, "the record in VictoriaLogs", func() (bool, string) {
		rows = vl.QueryT(t, "*")
		return len(rows) > 0, fmt.Sprintf("%d rows", len(rows))
	})
	if len(rows) != 1 {
		t.Fatalf("stored %d records, want 1: %v", len(rows), rows)
	}
	row := rows[0]
	// On the native path the body is the line verbatim and attributes are
	// fields of their own.
	want := map[string]string{
		"_msg":               seedBody,
		"k8s.pod.name":       "sample-656f58b97c-9mr6d",
		"k8s.namespace.name": "example",
		"service.name":       "sample",
		"code.function":      "_log",
		"code.lineno":        "97",
	}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("field %s = %q, want %q (row %v)", k, row[k], v, row)
		}
	}
}
