//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// store is VictoriaLogs, the Loki-protocol store, run on the host by the
// test: the collector pod (host network) pushes to it on loopback.
type store struct {
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startStore installs VictoriaLogs the way the collector's own e2e tests do
// (hack/collector-victorialogs.sh, cached after the first run), starts it on
// a free loopback port and registers its stop by pid.
func startStore(t *testing.T, root string) *store {
	t.Helper()
	start := time.Now()
	bin, err := run(root, "bash", filepath.Join(root, "hack", "collector-victorialogs.sh"))
	if err != nil {
		t.Fatalf("installing VictoriaLogs: %v", err)
	}
	s := &store{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), out: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(strings.TrimSpace(bin),
		"-httpListenAddr="+s.addr,
		"-storageDataPath="+t.TempDir(),
		"-retentionPeriod=100y",
		// The stored line stays the exporter's JSON, so a test can tell an
		// OTLP record from a container-log line by its attributes.
		"-loki.disableMessageParsing",
		"-loggerLevel=WARN",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting VictoriaLogs: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for !httpOK("http://" + s.addr + "/health") {
		select {
		case <-s.done:
			t.Fatalf("VictoriaLogs exited during start-up:\n%s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("VictoriaLogs at %s not healthy after 30s:\n%s", s.addr, s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("VictoriaLogs (pid %d) on %s in %s", s.cmd.Process.Pid, s.addr, time.Since(start).Round(time.Second))
	return s
}

// stop ends the process by its pid: SIGTERM, SIGKILL after 15 s.
func (s *store) stop(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Errorf("VictoriaLogs (pid %d) ignored SIGTERM for 15s; killing it", s.cmd.Process.Pid)
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if alive(s.cmd.Process.Pid) {
		t.Errorf("VictoriaLogs (pid %d) still running after stop", s.cmd.Process.Pid)
	}
}

func (s *store) pushURL() string { return "http://" + s.addr + "/insert/loki/api/v1/push" }

// row is one stored entry: its stream labels and the line the loki
// exporter wrote (JSON, the seed's default format), decoded.
type row struct {
	Fields map[string]string
	Line   struct {
		Body       any               `json:"body"`
		Attributes map[string]any    `json:"attributes"`
		Resources  map[string]any    `json:"resources"`
		Scope      map[string]string `json:"instrumentation_scope"`
	}
}

func (r row) body() string {
	if s, ok := r.Line.Body.(string); ok {
		return s
	}
	return fmt.Sprint(r.Line.Body)
}

// fromFile tells a container-log line the filelog receiver read (it names
// the file it came from) from a record an SDK sent over OTLP.
func (r row) fromFile() bool {
	_, ok := r.Line.Attributes["log.file.path"]
	return ok
}

// query returns every stored entry matching a LogsQL query.
func (s *store) query(t *testing.T, q string) []row {
	t.Helper()
	// Rows become searchable at the next periodic flush otherwise.
	if resp, err := http.Get("http://" + s.addr + "/internal/force_flush"); err == nil {
		resp.Body.Close()
	}
	resp, err := http.PostForm("http://"+s.addr+"/select/logsql/query", url.Values{"query": {q}, "start": {"0"}, "limit": {"100000"}})
	if err != nil {
		t.Fatalf("querying VictoriaLogs: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("query %q: HTTP %d: %s", q, resp.StatusCode, b)
	}
	var rows []row
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r.Fields); err != nil {
			t.Fatalf("decoding query row %q: %v", sc.Text(), err)
		}
		if err := json.Unmarshal([]byte(r.Fields["_msg"]), &r.Line); err != nil {
			t.Fatalf("stored line %q is not the loki exporter's JSON: %v", r.Fields["_msg"], err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading query result: %v", err)
	}
	return rows
}

func httpOK(u string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// metric sums a Prometheus counter over the series whose labels contain
// every given `key="value"`.
func metric(t *testing.T, addr, name string, labels ...string) float64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if n, _, _ := strings.Cut(series, "{"); n != name && n != name+"_total" {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if !match {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(strings.Fields(value)[0], &v); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// fileLines counts the lines of a file (0 when it does not exist).
func fileLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}
