package logpath

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// service is a long-running helper process (VictoriaLogs, the collector)
// the test owns; it is stopped by pid at cleanup.
type service struct {
	name string
	cmd  *exec.Cmd
	out  *consoleCopy
	done chan struct{}
}

func startService(t testing.TB, name string, env []string, bin string, args ...string) *service {
	t.Helper()
	s := &service{name: name, cmd: exec.Command(bin, args...), out: &consoleCopy{}, done: make(chan struct{})}
	s.cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("%s output (last 6 KiB):\n%s", name, tail(s.out.String(), 6<<10))
		}
	})
	return s
}

func (s *service) stop(t testing.TB) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15s of SIGTERM; killing pid %d", s.name, s.cmd.Process.Pid)
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *service) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

func httpOK(u string) bool {
	resp, err := httpClient.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// eventually polls cond every 100 ms for at most d.
func eventually(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var state string
	for {
		var ok bool
		if ok, state = cond(); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", d, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// victoriaLogs is the Loki-protocol store.
type victoriaLogs struct {
	svc  *service
	addr string
}

func startVictoriaLogs(t testing.TB) *victoriaLogs {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	svc := startService(t, "victoria-logs", nil, victoriaLogsBin,
		"-httpListenAddr="+addr,
		"-storageDataPath="+t.TempDir(),
		"-retentionPeriod=100y",
		// The Loki line stays verbatim in _msg: the tests decode the
		// exporter's JSON line themselves.
		"-loki.disableMessageParsing",
		"-loggerLevel=WARN",
	)
	eventually(t, 30*time.Second, "VictoriaLogs health", func() (bool, string) {
		if svc.exited() {
			t.Fatalf("VictoriaLogs exited:\n%s", svc.out.String())
		}
		return httpOK("http://" + addr + "/health"), ""
	})
	return &victoriaLogs{svc: svc, addr: addr}
}

func (v *victoriaLogs) pushURL() string { return "http://" + v.addr + "/insert/loki/api/v1/push" }

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
	// Rows ingested a moment ago become searchable now rather than after
	// the periodic flush.
	if resp, err := httpClient.Get("http://" + v.addr + "/internal/force_flush"); err == nil {
		resp.Body.Close()
	}
	form := url.Values{"query": {"*"}, "start": {"0"}, "limit": {"1000000"}}
	resp, err := httpClient.PostForm("http://"+v.addr+"/select/logsql/query", form)
	if err != nil {
		t.Fatalf("querying VictoriaLogs: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("query: HTTP %d: %s", resp.StatusCode, b)
	}
	var out []record
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		row := map[string]string{}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("decoding row %q: %v", sc.Text(), err)
		}
		r := record{Labels: map[string]string{}, Line: row["_msg"]}
		for k, val := range row {
			switch k {
			case "_msg", "_time", "_stream", "_stream_id":
			default:
				r.Labels[k] = val
			}
		}
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
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// collector is a running autotel-collector.
type collector struct {
	svc         *service
	otlpHTTP    string // http://host:port, what the Instrumentation names
	metricsAddr string
}

// collectorPorts are the collector's listening ports, chosen before it
// starts so that pods can name its endpoint first.
type collectorPorts struct{ grpc, http, health, metrics int }

func newCollectorPorts(t testing.TB) collectorPorts {
	return collectorPorts{grpc: freePort(t), http: freePort(t), health: freePort(t), metrics: freePort(t)}
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
	eventually(t, 60*time.Second, "the collector's health check", func() (bool, string) {
		if svc.exited() {
			out := svc.out.String()
			if strings.Contains(out, `unknown type: "filter"`) {
				t.Fatalf("autotel-collector has no filter processor, so the chart cannot drop the container logs of "+
					"pods whose log path is otlp (README.md, bugs): add processor/filterprocessor v0.148.0 to "+
					"collector/cmd/autotel-collector/components.go.\n%s", tail(out, 3000))
			}
			t.Fatalf("autotel-collector exited:\n%s", tail(out, 6000))
		}
		return httpOK(health), ""
	})
	return &collector{svc: svc, otlpHTTP: ports.otlpHTTP(), metricsAddr: fmt.Sprintf("127.0.0.1:%d", ports.metrics)}
}

// metric sums the collector's own Prometheus series named name (or
// name_total) whose labels include every `key="value"` given.
func (c *collector) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	resp, err := httpClient.Get("http://" + c.metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("scraping the collector's metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(series, "{")
		if n != name && n != name+"_total" {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
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
