package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

var (
	collectorBin    string
	victoriaLogsBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "autotel-collector-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	collectorBin = os.Getenv("AUTOTEL_COLLECTOR_BIN")
	if collectorBin == "" {
		collectorBin = filepath.Join(dir, "autotel-collector")
		build := exec.Command("go", "build", "-o", collectorBin, "../../cmd/autotel-collector")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building autotel-collector:", err)
			return 1
		}
	}
	victoriaLogsBin = os.Getenv("AUTOTEL_VICTORIALOGS")
	if victoriaLogsBin == "" {
		out, err := exec.Command("../../../hack/collector-victorialogs.sh").Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "installing VictoriaLogs:", err)
			return 1
		}
		victoriaLogsBin = strings.TrimSpace(string(out))
	}
	return m.Run()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a child process the test owns; it is stopped by pid at cleanup.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startProc(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- %s output (last 4 KiB) ---\n%s", name, tail(p.out.String(), 4096))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// stop asks for a graceful exit, then kills after 15 s.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Logf("%s did not stop in 15s; killing pid %d", p.name, p.cmd.Process.Pid)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process without letting it flush anything.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// eventually polls cond every 100 ms for at most d.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last state: %s", d, what, last)
}

func httpOK(u string) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// victoriaLogs is a real VictoriaLogs process; its Loki push endpoint is what
// the exporter talks to.
type victoriaLogs struct {
	proc *proc
	addr string
	dir  string
}

func startVictoriaLogs(t *testing.T, addr, dir string) *victoriaLogs {
	t.Helper()
	if addr == "" {
		addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	if dir == "" {
		dir = t.TempDir()
	}
	p := startProc(t, "victoria-logs", nil, victoriaLogsBin,
		"-httpListenAddr="+addr,
		"-storageDataPath="+dir,
		"-retentionPeriod=100y",
		// Keep Loki lines verbatim in _msg instead of splitting JSON lines
		// into fields: the tests compare the exact line.
		"-loki.disableMessageParsing",
		"-loggerLevel=WARN",
	)
	eventually(t, 30*time.Second, "VictoriaLogs health", func() (bool, string) {
		if p.exited() {
			t.Fatalf("VictoriaLogs exited: %s", p.out.String())
		}
		return httpOK("http://" + addr + "/health"), ""
	})
	return &victoriaLogs{proc: p, addr: addr, dir: dir}
}

func (v *victoriaLogs) pushURL() string { return "http://" + v.addr + "/insert/loki/api/v1/push" }

// query returns every stored record matching the LogsQL query as field maps.
func (v *victoriaLogs) query(t *testing.T, q string) []map[string]string {
	t.Helper()
	// Make just-ingested rows searchable now rather than after the periodic
	// flush.
	if resp, err := http.Get("http://" + v.addr + "/internal/force_flush"); err == nil {
		resp.Body.Close()
	}
	form := url.Values{"query": {q}, "start": {"0"}, "limit": {"100000"}}
	resp, err := http.PostForm("http://"+v.addr+"/select/logsql/query", form)
	if err != nil {
		t.Fatalf("querying VictoriaLogs: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("query %q: HTTP %d: %s", q, resp.StatusCode, b)
	}
	var rows []map[string]string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		row := map[string]string{}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("decoding query row %q: %v", sc.Text(), err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading query result: %v", err)
	}
	return rows
}

// collector runs the autotel-collector binary with a config file.
type collector struct {
	proc        *proc
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
	p := startProc(t, "autotel-collector", env, collectorBin, "--config", cfgPath)
	eventually(t, 30*time.Second, "collector health check", func() (bool, string) {
		if p.exited() {
			t.Fatalf("collector exited:\n%s", p.out.String())
		}
		return httpOK(healthURL), ""
	})
	return &collector{proc: p, healthURL: healthURL, metricsAddr: metricsAddr}
}

// metric sums the collector's own Prometheus metric over the series whose
// labels contain every given `key="value"`.
func (c *collector) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + c.metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("scraping collector metrics: %v", err)
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
		n, _, _ := strings.Cut(series, "{")
		if n != name && n != name+"_total" {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(series, l) {
				match = false
			}
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

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func plogTS(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }
