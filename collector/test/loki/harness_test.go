//go:build loki

package loki

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/autotel/autotel/collector/internal/collectortest"
	kitports "github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/promtext"
	"github.com/autotel/autotel/testkit/wait"
)

var (
	collectorBin string
	lokiURL      string // http://127.0.0.1:<port>
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	lokiBin := os.Getenv("AUTOTEL_LOKI")
	if lokiBin == "" {
		fmt.Fprintln(os.Stderr, "AUTOTEL_LOKI is not set: these tests need a real Grafana Loki binary. "+
			"Run hack/loki.sh (from the repository root; it builds Loki into ~/.cache/autotel/loki-<version>/bin/loki and prints the path), "+
			"then: AUTOTEL_LOKI=$(../hack/loki.sh) go test -tags loki ./test/loki/")
		return 1
	}
	if st, err := os.Stat(lokiBin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		fmt.Fprintf(os.Stderr, "AUTOTEL_LOKI=%s is not an executable Loki binary (%v): run hack/loki.sh and use the path it prints\n", lokiBin, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "autotel-loki-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	var cleanup func()
	if collectorBin, cleanup, err = collectortest.CollectorBin(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()

	loki, err := startLoki(lokiBin, filepath.Join(dir, "loki"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = loki.Stop(proc.StopGrace) }()
	lokiURL = loki.url
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- Loki output (last 4 KiB) ---\n%s\n", loki.Out.Tail(4096))
	}
	return code
}

type lokiProc struct {
	*proc.Process
	url string
}

// lokiConfig is a minimal single-binary Loki: loopback only, filesystem
// storage in a temp dir, tsdb + schema v13, structured metadata allowed,
// Loki's default per-tenant limits (what the exporter's limits.* mirror).
// gRPC messages are raised to 64 MiB: the default 4 MiB turns a big push
// into 500 inside the single binary.
const lokiConfig = `
auth_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: %d
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: %d
  grpc_server_max_recv_msg_size: 67108864
  grpc_server_max_send_msg_size: 67108864
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: %[3]s
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
  storage:
    filesystem:
      chunks_directory: %[3]s/chunks
      rules_directory: %[3]s/rules
schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
limits_config:
  allow_structured_metadata: true
ingester:
  lifecycler:
    min_ready_duration: 0s
analytics:
  reporting_enabled: false
`

func startLoki(bin, dir string) (*lokiProc, error) {
	httpPort, err := kitports.Pick()
	if err != nil {
		return nil, err
	}
	grpcPort, err := kitports.Pick()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "loki.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(lokiConfig, httpPort, grpcPort, dir)), 0o600); err != nil {
		return nil, err
	}
	p, err := proc.Start("loki", exec.Command(bin, "-config.file="+cfg))
	if err != nil {
		return nil, err
	}
	u := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	err = wait.Err(90*time.Second, "Loki to be ready", func() (bool, string) {
		if p.Exited() {
			return true, ""
		}
		return wait.HTTPOK(u + "/ready"), ""
	})
	if p.Exited() {
		return nil, fmt.Errorf("loki exited (%v):\n%s", p.Err(), p.Out.Tail(4096))
	}
	if err != nil {
		_ = p.Stop(proc.StopGrace)
		return nil, fmt.Errorf("%w:\n%s", err, p.Out.Tail(4096))
	}
	return &lokiProc{p, u}, nil
}

// collector runs the autotel-collector binary: OTLP/HTTP in, the loki
// exporter (with the given extra settings) into the test's Loki.
type collector struct {
	*proc.Process
	otlpURL     string
	metricsAddr string
}

func startCollector(t *testing.T, exporterExtra string) *collector {
	t.Helper()
	var ports = [3]int{kitports.Free(t), kitports.Free(t), kitports.Free(t)}
	cfg := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http: {endpoint: 127.0.0.1:%d}
exporters:
  loki:
    endpoint: %s/loki/api/v1/push
    retry_on_failure: {enabled: true, initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 5s}
%s
extensions:
  health_check: {endpoint: 127.0.0.1:%d}
service:
  extensions: [health_check]
  telemetry:
    logs: {level: info}
    metrics:
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}
  pipelines:
    logs: {receivers: [otlp], exporters: [loki]}
`, ports[0], lokiURL, indent(exporterExtra, "    "), ports[1], ports[2])
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := proc.StartT(t, "autotel-collector", exec.Command(collectorBin, "--config", path))
	c := &collector{Process: p, otlpURL: fmt.Sprintf("http://127.0.0.1:%d/v1/logs", ports[0]), metricsAddr: fmt.Sprintf("127.0.0.1:%d", ports[2])}
	wait.For(t, 30*time.Second, "collector health", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("collector exited:\n%s", p.Out.String())
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[1]))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return c
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = prefix + strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

// send posts the logs as one OTLP/HTTP protobuf request.
func (c *collector) send(t *testing.T, ld plog.Logs) {
	t.Helper()
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(c.otlpURL, "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("sending OTLP: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("OTLP answer %d: %s", resp.StatusCode, b)
	}
}

// metric sums the collector's own Prometheus metric over the series whose
// labels match every given `key="value"`.
func (c *collector) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, err := promtext.Scrape("http://"+c.metricsAddr+"/metrics", name, labels...)
	if err != nil {
		t.Fatalf("collector metric %s: %v", name, err)
	}
	return v
}

// entry is one stored line as Loki's query API returns it; labels holds the
// stream labels and, without categorised labels, the structured metadata.
type entry struct {
	labels map[string]string
	ts     string
	line   string
}

// query runs a LogQL log query over the last 25 days (Loki limits a query to 30d1h; its default window is 1h).
func query(t *testing.T, logql string) []entry {
	t.Helper()
	now := time.Now()
	q := url.Values{
		"query":     {logql},
		"start":     {strconv.FormatInt(now.Add(-25*24*time.Hour).UnixNano(), 10)},
		"end":       {strconv.FormatInt(now.Add(2*time.Hour).UnixNano(), 10)},
		"limit":     {"5000"},
		"direction": {"forward"},
	}
	resp, err := http.Get(lokiURL + "/loki/api/v1/query_range?" + q.Encode())
	if err != nil {
		t.Fatalf("querying Loki: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query %s: HTTP %d: %s", logql, resp.StatusCode, body)
	}
	var r struct {
		Data struct {
			Result []struct {
				Stream map[string]string   `json:"stream"`
				Values [][]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decoding query answer: %v: %.500s", err, body)
	}
	var out []entry
	for _, s := range r.Data.Result {
		for _, v := range s.Values {
			var ts, line string
			_ = json.Unmarshal(v[0], &ts)
			_ = json.Unmarshal(v[1], &line)
			out = append(out, entry{labels: s.Stream, ts: ts, line: line})
		}
	}
	return out
}

// series returns the index streams (label sets) matching the selector.
func series(t *testing.T, selector string) []map[string]string {
	t.Helper()
	now := time.Now()
	q := url.Values{
		"match[]": {selector},
		"start":   {strconv.FormatInt(now.Add(-25*24*time.Hour).UnixNano(), 10)},
		"end":     {strconv.FormatInt(now.Add(2*time.Hour).UnixNano(), 10)},
	}
	resp, err := http.Get(lokiURL + "/loki/api/v1/series?" + q.Encode())
	if err != nil {
		t.Fatalf("series: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("series %s: HTTP %d: %s", selector, resp.StatusCode, body)
	}
	var r struct {
		Data []map[string]string `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decoding series answer: %v", err)
	}
	return r.Data
}

// pushDirect sends a push request to Loki as an exporter would and returns
// the status and body.
func pushDirect(t *testing.T, req *push.PushRequest) (int, string) {
	t.Helper()
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(lokiURL+"/loki/api/v1/push", "application/x-protobuf", bytes.NewReader(snappy.Encode(nil, raw)))
	if err != nil {
		t.Fatalf("pushing to Loki: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
