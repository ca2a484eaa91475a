// Package victorialogs runs VictoriaLogs, the Loki-protocol store autotel's
// tests push to, on a free loopback port and queries it with LogsQL.
package victorialogs

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
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/wait"
)

// EnvBin names an installed victoria-logs binary; without it, Bin runs the
// repository's installer.
const EnvBin = "AUTOTEL_VICTORIALOGS"

// Bin returns the victoria-logs binary: $AUTOTEL_VICTORIALOGS, or what
// hack/collector-victorialogs.sh under repoRoot installs (it prints the
// path, and caches the build after the first run).
func Bin(repoRoot string) (string, error) {
	if b := os.Getenv(EnvBin); b != "" {
		return b, nil
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		return "", fmt.Errorf("resolving the repository root %q: %w", repoRoot, err)
	}
	script := filepath.Join(root, "hack", "collector-victorialogs.sh")
	cmd := exec.Command("bash", script)
	cmd.Dir = root
	cmd.Stderr = os.Stderr // build progress: the first install takes minutes
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("installing VictoriaLogs with %s (or set %s to a victoria-logs binary): %w", script, EnvBin, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Server is a running VictoriaLogs.
type Server struct {
	Addr    string // host:port
	DataDir string // -storageDataPath
	Proc    *proc.Process
}

var client = &http.Client{Timeout: 20 * time.Second}

// Start runs bin on a free loopback port with its data in a fresh temp
// dir, waits for /health, and stops it by pid at t's cleanup. Loki pushes
// are stored with the line verbatim in _msg (-loki.disableMessageParsing),
// so tests decode the exporter's JSON themselves.
func Start(t testing.TB, bin string) *Server {
	t.Helper()
	return StartAt(t, bin, "", "")
}

// StartAt is Start on a given address and data folder, so that a test can
// stop VictoriaLogs and start it again where it was, with its data; "" for
// either means a free port or a fresh temp dir.
func StartAt(t testing.TB, bin, addr, dataDir string) *Server {
	t.Helper()
	if addr == "" {
		addr = ports.Addr(t)
	}
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	p := proc.StartT(t, "victoria-logs", exec.Command(bin,
		"-httpListenAddr="+addr,
		"-storageDataPath="+dataDir,
		"-retentionPeriod=100y",
		"-loki.disableMessageParsing",
		"-loggerLevel=WARN",
	))
	wait.For(t, 30*time.Second, "VictoriaLogs health on "+addr, func() (bool, string) {
		if p.Exited() {
			t.Fatalf("VictoriaLogs exited during start-up (%v):\n%s", p.Err(), p.Out.Tail(4096))
		}
		return wait.HTTPOK("http://" + addr + "/health"), ""
	})
	return &Server{Addr: addr, DataDir: dataDir, Proc: p}
}

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr }

// PushURL is the Loki push endpoint.
func (s *Server) PushURL() string { return s.URL() + "/insert/loki/api/v1/push" }

// Row is one stored entry: _msg (the pushed line), _time, _stream and the
// stream labels, each as a field.
type Row map[string]string

// Query returns every entry matching the LogsQL query q ("*" for all),
// from the beginning of time. Entries pushed a moment ago are flushed
// first, so they are searchable now rather than after the periodic flush.
func (s *Server) Query(q string) ([]Row, error) {
	if resp, err := client.Get(s.URL() + "/internal/force_flush"); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	form := url.Values{"query": {q}, "start": {"0"}, "limit": {"1000000"}}
	resp, err := client.PostForm(s.URL()+"/select/logsql/query", form)
	if err != nil {
		return nil, fmt.Errorf("querying VictoriaLogs %q: %w", q, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("querying VictoriaLogs %q: HTTP %d: %s", q, resp.StatusCode, b)
	}
	var rows []Row
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		r := Row{}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("decoding VictoriaLogs row %q: %w", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading VictoriaLogs' answer to %q: %w", q, err)
	}
	return rows, nil
}

// QueryT is Query failing t on error.
func (s *Server) QueryT(t testing.TB, q string) []Row {
	t.Helper()
	rows, err := s.Query(q)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return rows
}

// Labels are the row's stream labels: every field but VictoriaLogs' own
// (_msg, _time, _stream, _stream_id).
func (r Row) Labels() map[string]string {
	l := map[string]string{}
	for k, v := range r {
		switch k {
		case "_msg", "_time", "_stream", "_stream_id":
		default:
			l[k] = v
		}
	}
	return l
}

// Msg is the stored line.
func (r Row) Msg() string { return r["_msg"] }
