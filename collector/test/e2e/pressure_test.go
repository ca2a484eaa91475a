package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/autotel/autotel/collector/internal/lokipush"
	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/wait"
)

// The fault tests below run the collector configuration the Helm chart
// renders for the seed's values (testdata/chart-seed-relay.yaml, checked
// against the render by test/chart): otlp -> resource -> loki with the
// chart's file-backed queue. They count, by sequence number, what the
// collector acknowledged, what the store received once, more than once, or
// not at all.

// chartRig is one collector on the chart's configuration: fixed ports and
// queue folder across restarts, as a DaemonSet pod on its node would have.
type chartRig struct {
	httpPort, healthPort, metricsPort int
	queueDir, cfgPath                 string
	pushURL                           string
}

func newChartRig(t *testing.T, pushURL string) *chartRig {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "chart-seed-relay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := &chartRig{httpPort: ports.Free(t), healthPort: ports.Free(t), metricsPort: ports.Free(t), queueDir: t.TempDir(), pushURL: pushURL}
	cfg := string(raw)
	for old, repl := range map[string]string{
		"${env:MY_POD_IP}:4317":            fmt.Sprintf("127.0.0.1:%d", ports.Free(t)),
		"${env:MY_POD_IP}:4318":            fmt.Sprintf("127.0.0.1:%d", r.httpPort),
		"${env:MY_POD_IP}:13133":           fmt.Sprintf("127.0.0.1:%d", r.healthPort),
		"port: 8888":                       fmt.Sprintf("port: %d", r.metricsPort),
		"/var/lib/autotel-collector/queue": r.queueDir,
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("testdata/chart-seed-relay.yaml has no %q to point at this test's ports and folder", old)
		}
		cfg = strings.ReplaceAll(cfg, old, repl)
	}
	r.cfgPath = filepath.Join(t.TempDir(), "relay.yaml")
	if err := os.WriteFile(r.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *chartRig) start(t *testing.T) *collector {
	t.Helper()
	return startCollectorFile(t, r.cfgPath, fmt.Sprintf("http://127.0.0.1:%d/", r.healthPort),
		fmt.Sprintf("127.0.0.1:%d", r.metricsPort), "MY_POD_IP=127.0.0.1", "LOKI_PUSH_ENDPOINT="+r.pushURL)
}

// seedRequest is one OTLP/HTTP request of n records shaped like the seed's
// (observed-log-loki.json): a Python pod's 13 resource attributes and a
// log record's 7 attributes, the body carrying the sequence number.
func seedRequest(t *testing.T, from, n int) []byte {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	a := rl.Resource().Attributes()
	pod := fmt.Sprintf("sample-656f58b97c-%05d", from/n%7)
	for k, v := range map[string]string{
		"k8s.container.name": "sample", "k8s.deployment.name": "sample", "k8s.namespace.name": "example",
		"k8s.node.name": "example-node", "k8s.pod.name": pod, "k8s.replicaset.name": "sample-656f58b97c",
		"service.instance.id": "example." + pod + ".sample", "service.name": "sample", "service.version": "amd64",
		"telemetry.auto.version": "0.44b0", "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry",
		"telemetry.sdk.version": "1.23.0",
	} {
		a.PutStr(k, v)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("opentelemetry.sdk._logs._internal")
	now := time.Now()
	for i := from; i < from+n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(plogTS(now.Add(time.Duration(i) * time.Microsecond)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(fmt.Sprintf("127.0.0.1 - - [25/May/2024 01:49:05] \"GET /hello?seq=%d HTTP/1.1\" 200 -", i))
		la := lr.Attributes()
		la.PutStr("code.filepath", "/usr/local/lib/python3.11/site-packages/werkzeug/_internal.py")
		la.PutStr("code.function", "_log")
		la.PutInt("code.lineno", 97)
		la.PutStr("otelServiceName", "sample")
		la.PutStr("otelSpanID", "0")
		la.PutStr("otelTraceID", "0")
		la.PutBool("otelTraceSampled", false)
	}
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// tally records what the sender was told.
type tally struct {
	mu       sync.Mutex
	acked    []int
	refused  int // records in requests answered with an error or no answer
	requests int
}

// send posts records [from, from+n) and notes the outcome.
func (r *chartRig) send(t *testing.T, client *http.Client, tl *tally, from, n int) bool {
	body := seedRequest(t, from, n)
	resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/logs", r.httpPort), "application/x-protobuf", bytes.NewReader(body))
	ok := err == nil && resp.StatusCode == http.StatusOK
	if err == nil {
		resp.Body.Close()
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.requests++
	if ok {
		tl.acked = append(tl.acked, seqRange(from, from+n)...)
	} else {
		tl.refused += n
	}
	return ok
}

// stream sends perReq-record requests every interval from seq `from` until
// stop is closed; it returns the next unused sequence number.
func (r *chartRig) stream(t *testing.T, tl *tally, from, perReq int, interval time.Duration, stop <-chan struct{}) int {
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	seq := from
	for {
		select {
		case <-stop:
			return seq
		case <-tick.C:
		}
		r.send(t, client, tl, seq, perReq)
		seq += perReq
	}
}

var seqRE = regexp.MustCompile(`seq=([0-9]+)`)

// outcome compares what was acknowledged with what the store holds.
type outcome struct {
	acked, lost, duplicated, unackedStored, refused int
}

func (o outcome) String() string {
	return fmt.Sprintf("acknowledged %d, lost %d, duplicated %d (stored more than once), stored though not acknowledged %d, refused %d",
		o.acked, o.lost, o.duplicated, o.unackedStored, o.refused)
}

func countOutcome(t *testing.T, s *lokipush.Server, tl *tally) outcome {
	t.Helper()
	stored := map[int]int{}
	for _, e := range s.Entries() {
		m := seqRE.FindStringSubmatch(e.Line)
		if m == nil {
			t.Fatalf("stored line without a sequence number: %q", e.Line)
		}
		n, _ := strconv.Atoi(m[1])
		stored[n]++
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	o := outcome{acked: len(tl.acked), refused: tl.refused}
	ackedSet := make(map[int]bool, len(tl.acked))
	for _, seq := range tl.acked {
		ackedSet[seq] = true
		if stored[seq] == 0 {
			o.lost++
		}
	}
	for seq, c := range stored {
		if c > 1 {
			o.duplicated++
		}
		if !ackedSet[seq] {
			o.unackedStored++
		}
	}
	return o
}

// waitDelivered waits until every acknowledged record is stored.
func waitDelivered(t *testing.T, s *lokipush.Server, tl *tally, d time.Duration) outcome {
	t.Helper()
	var o outcome
	wait.For(t, d, "every acknowledged record stored", func() (bool, string) {
		tl.mu.Lock()
		n := len(tl.acked)
		tl.mu.Unlock()
		if s.Count() < int64(n) {
			return false, fmt.Sprintf("%d entries stored, %d acknowledged", s.Count(), n)
		}
		o = countOutcome(t, s, tl)
		return o.lost == 0, o.String()
	})
	time.Sleep(time.Second) // a late duplicate would land now
	return countOutcome(t, s, tl)
}

// startStore starts a Loki endpoint that answers 503 while down holds.
func startStore(t *testing.T, down *atomic.Bool) *lokipush.Server {
	t.Helper()
	s, err := lokipush.Start(func(string, int) (int, string) {
		if down.Load() {
			return http.StatusServiceUnavailable, "store unavailable"
		}
		return 0, ""
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// killMidStream streams at ~2,000 records/s, SIGKILLs the collector after
// the first second, restarts it on the same queue folder, streams a little
// more, lets the store work, and counts.
func killMidStream(t *testing.T, failing bool) outcome {
	var down atomic.Bool
	down.Store(failing)
	s := startStore(t, &down)
	defer s.Close()
	rig := newChartRig(t, s.URL)
	c := rig.start(t)

	tl := &tally{}
	stop := make(chan struct{})
	next := make(chan int, 1)
	go func() { next <- rig.stream(t, tl, 0, 100, 50*time.Millisecond, stop) }()
	wait.For(t, 20*time.Second, "records acknowledged before the kill", func() (bool, string) {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		return len(tl.acked) >= 2000, fmt.Sprint(len(tl.acked))
	})
	if !failing {
		// Delivery under way: some stored, so the kill lands between
		// what was sent and what was not.
		wait.For(t, 20*time.Second, "delivery under way", func() (bool, string) { return s.Count() > 0, "" })
	}
	c.proc.Kill()
	close(stop)
	seq := <-next
	if entries, _ := os.ReadDir(rig.queueDir); len(entries) == 0 {
		t.Fatalf("the queue folder %s is empty after the kill", rig.queueDir)
	}

	rig.start(t)
	stop = make(chan struct{})
	go func() { next <- rig.stream(t, tl, seq, 100, 50*time.Millisecond, stop) }()
	time.Sleep(time.Second)
	close(stop)
	<-next
	down.Store(false)
	return waitDelivered(t, s, tl, 60*time.Second)
}

// TestChartQueueKillStoreHealthy: kill -9 while records flow into a healthy
// store. Nothing acknowledged may be lost; records the dead process had
// taken from the queue but not finished are sent again (duplicates).
func TestChartQueueKillStoreHealthy(t *testing.T) {
	o := killMidStream(t, false)
	t.Logf("kill -9, store healthy: %s", o)
	if o.lost != 0 {
		t.Errorf("%d acknowledged records lost", o.lost)
	}
	if o.acked == 0 {
		t.Error("nothing acknowledged")
	}
}

// TestChartQueueKillStoreFailing: kill -9 while the store answers 503 and
// everything sits in the queue; the store then recovers.
func TestChartQueueKillStoreFailing(t *testing.T) {
	o := killMidStream(t, true)
	t.Logf("kill -9, store failing (503): %s", o)
	if o.lost != 0 {
		t.Errorf("%d acknowledged records lost", o.lost)
	}
	if o.refused != 0 && o.refused > o.acked/2 {
		t.Errorf("%d records refused while the store was failing: the queue should absorb them", o.refused)
	}
}

// TestChartQueueOutage: a 60 s store outage under ~5,000 records/s. The
// queue (3M records) holds it all: nothing refused, nothing lost.
func TestChartQueueOutage(t *testing.T) {
	var down atomic.Bool
	s := startStore(t, &down)
	defer s.Close()
	rig := newChartRig(t, s.URL)
	c := rig.start(t)

	tl := &tally{}
	stop := make(chan struct{})
	next := make(chan int, 1)
	// 250 records every 50 ms: 5,000 records/s offered.
	go func() { next <- rig.stream(t, tl, 0, 250, 50*time.Millisecond, stop) }()
	time.Sleep(2 * time.Second)
	down.Store(true)
	start := time.Now()
	var queued float64
	for time.Since(start) < 60*time.Second {
		time.Sleep(5 * time.Second)
		queued = c.metric(t, "otelcol_exporter_queue_size", `exporter="loki"`)
	}
	close(stop)
	<-next
	var diskBytes int64
	_ = filepath.Walk(rig.queueDir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			diskBytes += fi.Size()
		}
		return nil
	})
	down.Store(false)
	o := waitDelivered(t, s, tl, 120*time.Second)
	tl.mu.Lock()
	reqs := tl.requests
	tl.mu.Unlock()
	t.Logf("60 s outage at ~5k records/s (%d requests): %s; queue at the end of the outage %.0f records, queue files %d MiB (%.0f bytes/record)",
		reqs, o, queued, diskBytes>>20, float64(diskBytes)/max(queued, 1))
	if o.lost != 0 {
		t.Errorf("%d acknowledged records lost", o.lost)
	}
	if o.refused != 0 {
		t.Errorf("%d records refused during a 60 s outage: the queue is sized for 10 minutes", o.refused)
	}
	if queued < 100000 {
		t.Errorf("queue held %.0f records during the outage; the outage did not reach the queue", queued)
	}
}
