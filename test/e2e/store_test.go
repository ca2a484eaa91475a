//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/promtext"
	"github.com/autotel/autotel/testkit/victorialogs"
)

// store is VictoriaLogs, the Loki-protocol store, run on the host by the
// test: the collector pod (host network) pushes to it on loopback.
type store struct{ *victorialogs.Server }

// startStore installs VictoriaLogs the way the collector's own e2e tests do
// (hack/collector-victorialogs.sh, cached after the first run), starts it on
// a free loopback port and registers its stop by pid.
func startStore(t *testing.T, root string) *store {
	t.Helper()
	start := time.Now()
	bin, err := victorialogs.Bin(root)
	if err != nil {
		t.Fatal(err)
	}
	s := &store{victorialogs.Start(t, bin)}
	pid := s.Proc.Pid()
	t.Cleanup(func() {
		// Registered after Start's stop, so it runs first: stop now to
		// check the pid is gone.
		if err := s.Proc.Stop(proc.StopGrace); err != nil {
			t.Error(err)
		}
		if proc.Alive(pid) {
			t.Errorf("VictoriaLogs (pid %d) still running after stop", pid)
		}
	})
	t.Logf("VictoriaLogs (pid %d) on %s in %s", pid, s.Addr, time.Since(start).Round(time.Second))
	return s
}

func (s *store) pushURL() string { return s.PushURL() }

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
	var rows []row
	for _, f := range s.QueryT(t, q) {
		r := row{Fields: f}
		if err := json.Unmarshal([]byte(f.Msg()), &r.Line); err != nil {
			t.Fatalf("stored line %q is not the loki exporter's JSON: %v", f.Msg(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

// metric sums a Prometheus counter over the series whose labels match
// every given `key="value"`.
func metric(t *testing.T, addr, name string, labels ...string) float64 {
	t.Helper()
	v, err := promtext.Scrape("http://"+addr+"/metrics", name, labels...)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

// fileLines counts the lines of a file (0 when it does not exist).
func fileLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}
