package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/autotel/autotel/collector/internal/collectortest"
	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/promtext"
	"github.com/autotel/autotel/testkit/victorialogs"
	"github.com/autotel/autotel/testkit/wait"
)

var (
	collectorBin    string
	victoriaLogsBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin, cleanup, err := collectortest.CollectorBin()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	collectorBin = bin
	if victoriaLogsBin, err = victorialogs.Bin("../../.."); err != nil {
		fmt.Fprintln(os.Stderr, "installing VictoriaLogs:", err)
		return 1
	}
	return m.Run()
}

// collector runs the autotel-collector binary with a config file.
type collector struct {
	proc        *proc.Process
	healthURL   string
	metricsAddr string
}

func startCollector(t *testing.T, configYAML string, healthURL, metricsAddr string, env ...string) *collector {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return startCollectorFile(t, cfgPath, healthURL, metricsAddr, env...)
}

func startCollectorFile(t *testing.T, cfgPath, healthURL, metricsAddr string, env ...string) *collector {
	t.Helper()
	cmd := exec.Command(collectorBin, "--config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	p := proc.StartT(t, "autotel-collector", cmd)
	wait.For(t, 30*time.Second, "collector health check", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("collector exited:\n%s", p.Out.String())
		}
		return wait.HTTPOK(healthURL), ""
	})
	return &collector{proc: p, healthURL: healthURL, metricsAddr: metricsAddr}
}

// serviceYAML ends a test configuration: the health check and any more
// extensions (each one YAML line, "name: {config}"), warn-level logs,
// Prometheus self-metrics on metricsPort, and the logs pipeline (a flow map
// such as "{receivers: [otlp], exporters: [loki]}").
func serviceYAML(healthPort, metricsPort int, pipeline string, extensions ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "extensions:\n  health_check: {endpoint: 127.0.0.1:%d}\n", healthPort)
	names := []string{"health_check"}
	for _, e := range extensions {
		fmt.Fprintf(&b, "  %s\n", e)
		name, _, _ := strings.Cut(e, ":")
		names = append(names, name)
	}
	fmt.Fprintf(&b, `service:
  extensions: [%s]
  telemetry:
    logs: {level: warn}
    metrics:
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}
  pipelines:
    logs: %s
`, strings.Join(names, ", "), metricsPort, pipeline)
	return b.String()
}

// metric sums the collector's own Prometheus metric over the series whose
// labels match every given `key="value"`.
func (c *collector) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, err := promtext.Scrape("http://"+c.metricsAddr+"/metrics", name, labels...)
	if err != nil {
		t.Fatalf("scraping collector metrics: %v", err)
	}
	return v
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func plogTS(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }
