package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/autotel/autotel/collector/internal/lokipush"
	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/victorialogs"
	"github.com/autotel/autotel/testkit/wait"
)

// faultConfig is the seed's logs pipeline (otlp -> resource -> loki) with a
// file-backed sending queue and fast, unlimited retries.
func faultConfig(t *testing.T, httpPort, healthPort, metricsPort int, pushURL, storageDir string) string {
	t.Helper()
	queue := "sending_queue: {enabled: true, num_consumers: 2, queue_size: 100000}"
	var ext []string
	if storageDir != "" {
		queue = "sending_queue: {enabled: true, num_consumers: 2, queue_size: 100000, storage: file_storage}"
		ext = append(ext, fmt.Sprintf("file_storage: {directory: %s}", storageDir))
	}
	return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http: {endpoint: 127.0.0.1:%d}
processors:
  resource:
    attributes:
      - {action: insert, key: pod, from_attribute: k8s.pod.name}
      - {action: insert, key: loki.resource.labels, value: pod}
exporters:
  loki:
    endpoint: %s
    %s
    retry_on_failure: {enabled: true, initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0}
`, httpPort, pushURL, queue) + serviceYAML(healthPort, metricsPort, "{receivers: [otlp], processors: [resource], exporters: [loki]}", ext...)
}

type faultRig struct {
	httpPort, healthPort, metricsPort int
}

func newRig(t *testing.T) faultRig {
	return faultRig{ports.Free(t), ports.Free(t), ports.Free(t)}
}

func (r faultRig) start(t *testing.T, pushURL, storageDir string) *collector {
	return startCollector(t, faultConfig(t, r.httpPort, r.healthPort, r.metricsPort, pushURL, storageDir),
		fmt.Sprintf("http://127.0.0.1:%d/", r.healthPort), fmt.Sprintf("127.0.0.1:%d", r.metricsPort))
}

// sendBatch posts records seq [from, from+n) as one OTLP/HTTP protobuf
// request; tenant, if set, goes through the loki.tenant hint. It reports
// whether the collector acknowledged them.
func (r faultRig) sendBatch(t *testing.T, from, n int, tenant string) bool {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.pod.name", "pod-1")
	if tenant != "" {
		rl.Resource().Attributes().PutStr("loki.tenant", "tenant")
		rl.Resource().Attributes().PutStr("tenant", tenant)
	}
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	now := time.Now()
	for i := from; i < from+n; i++ {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(plogTS(now.Add(time.Duration(i) * time.Microsecond)))
		lr.Body().SetStr(fmt.Sprintf("seq=%06d", i))
	}
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/logs", r.httpPort), "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// seqCounts counts stored lines per seq=N value found in them.
func seqCounts(lines []string) map[string]int {
	out := map[string]int{}
	for _, l := range lines {
		i := strings.Index(l, "seq=")
		if i < 0 {
			continue
		}
		out[l[i:i+10]]++
	}
	return out
}

func checkExactlyOnce(t *testing.T, counts map[string]int, want []int) {
	t.Helper()
	var missing, dup []string
	for _, i := range want {
		k := fmt.Sprintf("seq=%06d", i)
		switch c := counts[k]; {
		case c == 0:
			missing = append(missing, k)
		case c > 1:
			dup = append(dup, fmt.Sprintf("%s x%d", k, c))
		}
	}
	if len(counts) != len(want) {
		t.Errorf("stored %d distinct records, want %d", len(counts), len(want))
	}
	if len(missing) > 0 || len(dup) > 0 {
		sort.Strings(missing)
		t.Errorf("missing %d %v; duplicated %d %v", len(missing), head(missing), len(dup), head(dup))
	}
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

func seqRange(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// TestStoreOutageWithPersistentQueue: VictoriaLogs goes away for a while and
// comes back on the same address and data; every record acknowledged by the
// collector is then stored exactly once.
func TestStoreOutageWithPersistentQueue(t *testing.T) {
	vl := victorialogs.Start(t, victoriaLogsBin)
	rig := newRig(t)
	c := rig.start(t, vl.PushURL(), t.TempDir())

	for i := 0; i < 10; i++ {
		if !rig.sendBatch(t, i*20, 20, "") {
			t.Fatal("collector refused a batch while the store was up")
		}
	}
	wait.For(t, 20*time.Second, "first 200 records stored", func() (bool, string) {
		n := len(vl.QueryT(t, "*"))
		return n == 200, fmt.Sprint(n)
	})

	if err := vl.Proc.Stop(proc.StopGrace); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 25; i++ {
		if !rig.sendBatch(t, i*20, 20, "") {
			t.Fatal("collector refused a batch while the store was down; the queue should absorb it")
		}
	}
	// Let several retries fail against the dead store.
	time.Sleep(2 * time.Second)
	if q := c.metric(t, "otelcol_exporter_queue_size", `exporter="loki"`); q == 0 {
		t.Errorf("queue is empty while the store is down; records were not held")
	}

	vl = victorialogs.StartAt(t, victoriaLogsBin, vl.Addr, vl.DataDir)
	var lines []string
	wait.For(t, 40*time.Second, "all 500 records stored", func() (bool, string) {
		lines = lines[:0]
		for _, row := range vl.QueryT(t, "*") {
			lines = append(lines, row["_msg"])
		}
		return len(lines) >= 500, fmt.Sprint(len(lines))
	})
	time.Sleep(time.Second) // a late duplicate would show up now
	lines = lines[:0]
	for _, row := range vl.QueryT(t, "*") {
		lines = append(lines, row["_msg"])
	}
	checkExactlyOnce(t, seqCounts(lines), seqRange(0, 500))
}

// TestPushStatusHandling drives the real collector against a Loki push
// endpoint that answers with scripted status codes.
func TestPushStatusHandling(t *testing.T) {
	// failFirst answers each tenant's first n pushes with status and msg.
	failFirst := func(n, status int, msg string) lokipush.Responder {
		return func(_ string, i int) (int, string) {
			if i <= n {
				return status, msg
			}
			return 0, ""
		}
	}
	tests := []struct {
		name        string
		respond     lokipush.Responder
		tenants     []string
		wantStored  int
		wantFailed  float64
		wantDropped float64
		check       func(t *testing.T, s *lokipush.Server)
	}{
		{
			name:       "429 is retried",
			respond:    failFirst(2, 429, "ingestion rate limit exceeded for user fake"),
			wantStored: 100,
		},
		{
			name:       "500 is retried",
			respond:    failFirst(2, 500, "rpc error: code = DeadlineExceeded"),
			wantStored: 100,
		},
		{
			name:       "503 is retried",
			respond:    failFirst(3, 503, "distributor max in-flight bytes"),
			wantStored: 100,
		},
		{
			name:        "400 is dropped and counted",
			respond:     func(string, int) (int, string) { return 400, "entry too far behind" },
			wantStored:  0,
			wantFailed:  100,
			wantDropped: 100,
		},
		{
			name: "a failing tenant does not make others resend",
			respond: func(tenant string, n int) (int, string) {
				if tenant == "globex" && n <= 2 {
					return 500, "ingester unavailable"
				}
				return 0, ""
			},
			tenants:    []string{"acme", "globex"},
			wantStored: 100,
			check: func(t *testing.T, s *lokipush.Server) {
				if n := s.Requests("acme"); n != 1 {
					t.Errorf("acme pushed %d times, want once", n)
				}
				if n := s.Requests("globex"); n != 3 {
					t.Errorf("globex pushed %d times, want 3", n)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := lokipush.Start(tt.respond, false)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rig := newRig(t)
			c := rig.start(t, s.URL, "")
			if tt.tenants == nil {
				if !rig.sendBatch(t, 0, 100, "") {
					t.Fatal("batch refused")
				}
			} else {
				// One OTLP request with both tenants, so the exporter sees
				// them in one batch.
				if !rig.sendTenants(t, tt.tenants, 50) {
					t.Fatal("batch refused")
				}
			}
			wait.For(t, 20*time.Second, "the exporter to finish", func() (bool, string) {
				done := c.metric(t, "otelcol_exporter_sent_log_records", `exporter="loki"`) +
					c.metric(t, "otelcol_exporter_send_failed_log_records", `exporter="loki"`)
				return done >= 100, fmt.Sprint(done)
			})
			var lines []string
			for _, e := range s.Entries() {
				lines = append(lines, e.Line)
			}
			if tt.wantStored > 0 {
				checkExactlyOnce(t, seqCounts(lines), seqRange(0, tt.wantStored))
			} else if len(lines) != 0 {
				t.Errorf("stored %d lines, want none", len(lines))
			}
			if got := c.metric(t, "otelcol_exporter_send_failed_log_records", `exporter="loki"`); got != tt.wantFailed {
				t.Errorf("send_failed_log_records = %v, want %v", got, tt.wantFailed)
			}
			if got := c.metric(t, "otelcol_lokiexporter_dropped_log_records", `reason="rejected"`); got != tt.wantDropped {
				t.Errorf("lokiexporter_dropped_log_records{reason=rejected} = %v, want %v", got, tt.wantDropped)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func (r faultRig) sendTenants(t *testing.T, tenants []string, per int) bool {
	t.Helper()
	ld := plog.NewLogs()
	seq := 0
	for _, tenant := range tenants {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("k8s.pod.name", "pod-"+tenant)
		rl.Resource().Attributes().PutStr("loki.tenant", "tenant")
		rl.Resource().Attributes().PutStr("tenant", tenant)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := 0; i < per; i++ {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(plogTS(time.Now()))
			lr.Body().SetStr(fmt.Sprintf("seq=%06d", seq))
			seq++
		}
	}
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/logs", r.httpPort), "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestCollectorRestartKeepsQueuedRecords kills the collector (SIGKILL, no
// graceful flush) while records are streaming in and the store is refusing
// them, restarts it on the same file-backed queue, and requires every record
// it had acknowledged to arrive.
func TestCollectorRestartKeepsQueuedRecords(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	s, err := lokipush.Start(func(string, int) (int, string) {
		if down.Load() {
			return 503, "store unavailable"
		}
		return 0, ""
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storage := t.TempDir()
	rig := newRig(t)
	c := rig.start(t, s.URL, storage)

	var acked []int
	stream := func(from, to int) {
		for i := from; i < to; i += 10 {
			if rig.sendBatch(t, i, 10, "") {
				acked = append(acked, seqRange(i, i+10)...)
			}
		}
	}
	stream(0, 300)
	// Mid-stream: a sender goroutine keeps going while the process dies.
	done := make(chan struct{})
	var during []int
	var sentDuring atomic.Int32
	go func() {
		defer close(done)
		for i := 300; i < 600; i += 10 {
			if rig.sendBatch(t, i, 10, "") {
				during = append(during, seqRange(i, i+10)...)
			}
			sentDuring.Add(1)
			time.Sleep(20 * time.Millisecond) // a steady stream, not one burst
		}
	}()
	wait.For(t, 10*time.Second, "streaming to be under way", func() (bool, string) {
		return sentDuring.Load() >= 5, ""
	})
	c.proc.Kill()
	<-done
	acked = append(acked, during...)
	if len(during) == 300 {
		t.Fatalf("the kill did not land mid-stream")
	}
	if len(acked) < 300 {
		t.Fatalf("only %d records acknowledged before the kill", len(acked))
	}
	if entries, _ := os.ReadDir(storage); len(entries) == 0 {
		t.Fatalf("file_storage wrote nothing to %s", filepath.Clean(storage))
	}

	rig.start(t, s.URL, storage)
	stream(600, 700)
	down.Store(false)
	wait.For(t, 40*time.Second, "all acknowledged records stored", func() (bool, string) {
		counts := seqCounts(linesOf(s.Entries()))
		missing := 0
		for _, i := range acked {
			if counts[fmt.Sprintf("seq=%06d", i)] == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d acknowledged records missing", missing, len(acked))
	})
	dups := len(s.Entries()) - len(seqCounts(linesOf(s.Entries())))
	t.Logf("acknowledged %d records, stored %d entries (%d duplicates from requests in flight at the kill)", len(acked), len(s.Entries()), dups)
}

func linesOf(entries []lokipush.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Line
	}
	return out
}
