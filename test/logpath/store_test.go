package logpath

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/promtext"
	"github.com/autotel/autotel/testkit/syncbuf"
	"github.com/autotel/autotel/testkit/victorialogs"
	"github.com/autotel/autotel/testkit/wait"
)

// startService runs a long-running helper process (the collector) that
// the test owns, with a minimal environment plus env; it is stopped by pid
// at cleanup, and its output is logged if the test failed.
func startService(t testing.TB, name string, env []string, bin string, args ...string) *proc.Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	return proc.StartT(t, name, cmd)
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

// victoriaLogs is the Loki-protocol store.
type victoriaLogs struct{ *victorialogs.Server }

func startVictoriaLogs(t testing.TB) *victoriaLogs {
	t.Helper()
	return &victoriaLogs{victorialogs.Start(t, victoriaLogsBin)}
}

func (v *victoriaLogs) pushURL() string { return v.PushURL() }

// lokiEntry is the loki exporter's JSON line (upstream's lokiEntry, as in
// the seed's observed-log-loki.json).
type lokiEntry struct {
	Body       any            `json:"body"`
	TraceID    string         `json:"traceid"`
	SpanID     string         `json:"spanid"`
	Severity   string         `json:"severity"`
	Flags      uint32         `json:"flags"`
	Attributes map[string]any `json:"attributes"`
	Resources  map[string]any `json:"resources"`
	Scope      *struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"instrumentation_scope"`
}

// record is one stored line with its stream labels.
type record struct {
	Labels map[string]string
	Line   string
	Keys   []string // the line's top-level JSON keys
	lokiEntry
}

func (r record) body() string {
	if s, ok := r.Body.(string); ok {
		return s
	}
	b, _ := json.Marshal(r.Body)
	return string(b)
}

func (r record) scope() string {
	if r.Scope == nil {
		return ""
	}
	return r.Scope.Name
}

func (r record) attr(k string) string { return str(r.Attributes[k]) }
func (r record) res(k string) string  { return str(r.Resources[k]) }
func (r record) fromFilelog() bool    { return r.Attributes["log.file.path"] != nil }
func (r record) String() string       { return fmt.Sprintf("%s %s:%q", r.Labels["pod"], r.scope(), r.body()) }
func (r record) mentions(s string) bool {
	return strings.Contains(r.body(), s) || strings.Contains(r.attr("exception.message"), s)
}

func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

// records returns every stored line, decoded.
func (v *victoriaLogs) records(t testing.TB) []record {
	t.Helper()
	var out []record
	for _, row := range v.QueryT(t, "*") {
		r := record{Labels: row.Labels(), Line: row.Msg()}
		dec := json.NewDecoder(strings.NewReader(r.Line))
		dec.UseNumber()
		if err := dec.Decode(&r.lokiEntry); err != nil {
			t.Fatalf("stored line is not the exporter's JSON: %v: %s", err, r.Line)
		}
		var keys map[string]json.RawMessage
		_ = json.Unmarshal([]byte(r.Line), &keys)
		for k := range keys {
			r.Keys = append(r.Keys, k)
		}
		out = append(out, r)
	}
	return out
}

// collector is a running autotel-collector.
type collector struct {
	svc         *proc.Process
	otlpHTTP    string // http://host:port, what the Instrumentation names
	metricsAddr string
}

// collectorPorts are the collector's listening ports, chosen before it
// starts so that pods can name its endpoint first.
type collectorPorts struct{ grpc, http, health, metrics int }

func newCollectorPorts(t testing.TB) collectorPorts {
	return collectorPorts{grpc: ports.Free(t), http: ports.Free(t), health: ports.Free(t), metrics: ports.Free(t)}
}

// otlpHTTP is the endpoint an Instrumentation names.
func (p collectorPorts) otlpHTTP() string { return fmt.Sprintf("http://127.0.0.1:%d", p.http) }

// startCollector runs autotel-collector with configFile unchanged, plus
// overrides (yaml: config sources, merged over it) that move the chart's
// fixed ports to free ones, so the suite never collides with another
// collector on the machine.
func startCollector(t testing.TB, configFile string, ports collectorPorts, env []string, overrides ...string) *collector {
	t.Helper()
	args := []string{"--config=file:" + configFile}
	for _, o := range append([]string{
		fmt.Sprintf("receivers::otlp::protocols::grpc::endpoint: 127.0.0.1:%d", ports.grpc),
		fmt.Sprintf("receivers::otlp::protocols::http::endpoint: 127.0.0.1:%d", ports.http),
		fmt.Sprintf("extensions::health_check::endpoint: 127.0.0.1:%d", ports.health),
		fmt.Sprintf("service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]", ports.metrics),
	}, overrides...) {
		args = append(args, "--config=yaml:"+o)
	}
	svc := startService(t, "autotel-collector", env, collectorBin, args...)
	health := fmt.Sprintf("http://127.0.0.1:%d/", ports.health)
	wait.For(t, 60*time.Second, "the collector's health check", func() (bool, string) {
		if svc.Exited() {
			out := svc.Out.String()
			if strings.Contains(out, `unknown type: "filter"`) {
				t.Fatalf("autotel-collector has no filter processor, so the chart cannot drop the container logs of "+
					"pods whose log path is otlp (README.md, bugs): add processor/filterprocessor v0.148.0 to "+
					"collector/cmd/autotel-collector/components.go.\n%s", syncbuf.Tail(out, 3000))
			}
			t.Fatalf("autotel-collector exited:\n%s", syncbuf.Tail(out, 6000))
		}
		return wait.HTTPOK(health), ""
	})
	return &collector{svc: svc, otlpHTTP: ports.otlpHTTP(), metricsAddr: fmt.Sprintf("127.0.0.1:%d", ports.metrics)}
}

// metric sums the collector's own Prometheus series named name (or
// name_total) whose labels match every `key="value"` given.
func (c *collector) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, err := promtext.Scrape("http://"+c.metricsAddr+"/metrics", name, labels...)
	if err != nil {
		t.Fatalf("the collector's metric %s: %v", name, err)
	}
	return v
}

// syncSet is a set shared by request goroutines.
type syncSet struct {
	mu sync.Mutex
	m  map[int]bool
}

func (s *syncSet) add(v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int]bool{}
	}
	s.m[v] = true
}

func (s *syncSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
