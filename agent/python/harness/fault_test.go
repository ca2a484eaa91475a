package harness

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autotel/autotel/agent/python/harness/receiver"
	"github.com/autotel/autotel/testkit/ports"
)

// consoleRecordRe matches the first line of every record the app's root
// StreamHandler (basicConfig) printed: the app's own count of what it
// logged through the root logger, i.e. of what the agent had to handle.
var consoleRecordRe = regexp.MustCompile(`(?m)^(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: `)

type latencies []time.Duration

func (l latencies) String() string {
	if len(l) == 0 {
		return "no requests"
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) time.Duration { return s[int(p*float64(len(s)-1))] }
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(s), q(0.5), q(0.99), s[len(s)-1])
}

func timedGets(t *testing.T, port int, prefix string, n int) latencies {
	t.Helper()
	var l latencies
	for i := 0; i < n; i++ {
		start := time.Now()
		if code, _ := get(t, port, fmt.Sprintf("/hello?id=%s%d", prefix, i)); code != 200 {
			t.Fatalf("/hello: %d", code)
		}
		l = append(l, time.Since(start))
	}
	return l
}

// TestCollectorDownThenBack: the collector disappears under load and comes
// back. Records the bounded queue could not hold are dropped and counted;
// what the agent says it exported is exactly what arrived (no duplicates);
// exported + dropped is exactly what the app logged; every record logged
// after recovery arrives. Request latency per phase is logged, not asserted
// (bench.sh measures it).
func TestCollectorDownThenBack(t *testing.T) {
	rcv := startReceiver(t)
	port := ports.Free(t)
	p := newPod(t, podSpec{
		manifest: seedInstrumentation(rcv.URL(),
			env("OTEL_BLRP_MAX_QUEUE_SIZE", "200", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "50",
				"OTEL_BLRP_SCHEDULE_DELAY", "100", "OTEL_LOG_LEVEL", "debug")...),
		containerEnv: env("PORT", strconv.Itoa(port), "APP_LOGGING", "basic"),
	})
	app := startProc(t, p, appsDir, python, "flask_app.py")
	waitListening(t, app, port, 30*time.Second)

	up := timedGets(t, port, "a", 100)
	if _, ok := rcv.WaitFor(15*time.Second, func(r []receiver.Record) bool {
		return len(byRequestID(r)) == 100
	}); !ok {
		t.Fatal("phase A records did not arrive")
	}

	rcv.Stop()
	down := timedGets(t, port, "b", 600) // 1200 records into a queue of 200
	before := len(rcv.Records())
	if err := rcv.Restart(); err != nil {
		t.Fatal(err)
	}
	// Recovery: the agent's backoff retry reaches the collector again.
	if _, ok := rcv.WaitFor(30*time.Second, func(r []receiver.Record) bool { return len(r) > before }); !ok {
		t.Fatal("no export after the collector came back")
	}
	// The queue drains (nothing new for a second) before the next phase,
	// whose records must then all fit.
	if !rcv.WaitQuiet(time.Second, 30*time.Second) {
		t.Fatal("exports did not settle after recovery")
	}
	after := timedGets(t, port, "d", 100)
	recs, ok := rcv.WaitFor(30*time.Second, func(r []receiver.Record) bool {
		n := 0
		for id := range byRequestID(r) {
			if strings.HasPrefix(id, "d") {
				n++
			}
		}
		return n == 100
	})
	if !ok {
		t.Error("records logged after recovery did not all arrive")
	}
	t.Logf("request latency, collector up: %v", up)
	t.Logf("request latency, collector down: %v", down)
	t.Logf("request latency, after recovery: %v", after)

	app.stop(syscall.SIGTERM, 30*time.Second)
	recs = rcv.Records()
	checkDecoded(t, rcv)
	checkResource(t, p, recs)
	checkNoDuplicates(t, recs)

	exported, dropped, detail := exitSummary(t, app.stderr.String(), app.pid())
	logged := countLines(app.stderr.String(), consoleRecordRe)
	t.Logf("app logged %d records; agent: exported %d, not exported %d (%s); receiver got %d", logged, exported, dropped, detail, len(recs))
	if exported != len(recs) {
		t.Errorf("agent says it exported %d records, the receiver got %d", exported, len(recs))
	}
	if exported+dropped != logged {
		t.Errorf("exported %d + not exported %d != %d records the app logged", exported, dropped, logged)
	}
	if dropped == 0 || !strings.Contains(detail, "queue full") {
		t.Errorf("the outage should have overflowed the queue: %d dropped (%s)", dropped, detail)
	}
	if !strings.Contains(app.stderr.String(), "export failed, retrying with backoff") {
		t.Error("the agent did not report the failed exports")
	}
}

// TestCollectorDownAtExit: with the collector gone the app still exits
// promptly (the exit flush is bounded) and says how many records it could
// not send.
func TestCollectorDownAtExit(t *testing.T) {
	rcv := startReceiver(t)
	port := ports.Free(t)
	p := newPod(t, podSpec{
		manifest:     seedInstrumentation(rcv.URL(), env("OTEL_BLRP_EXPORT_TIMEOUT", "2000")...),
		containerEnv: env("PORT", strconv.Itoa(port), "APP_LOGGING", "basic"),
	})
	rcv.Stop()
	app := startProc(t, p, appsDir, python, "flask_app.py")
	waitListening(t, app, port, 30*time.Second)
	timedGets(t, port, "x", 50)
	// Generous: this catches a hang, it does not measure speed.
	app.stop(syscall.SIGTERM, 20*time.Second)
	exported, dropped, detail := exitSummary(t, app.stderr.String(), app.pid())
	logged := countLines(app.stderr.String(), consoleRecordRe)
	if exported != 0 || dropped != logged {
		t.Errorf("collector down throughout: exported %d, not exported %d (%s), app logged %d", exported, dropped, detail, logged)
	}
	if ws, ok := app.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGTERM {
		t.Errorf("exit status %v", app.cmd.ProcessState)
	}
}

// TestCollectorThrottles: 429 with Retry-After and 503 are retried until
// the collector accepts; nothing is lost.
func TestCollectorThrottles(t *testing.T) {
	rcv := startReceiver(t)
	port := ports.Free(t)
	p := newPod(t, podSpec{
		manifest:     seedInstrumentation(rcv.URL(), env("OTEL_BLRP_SCHEDULE_DELAY", "100")...),
		containerEnv: env("PORT", strconv.Itoa(port), "APP_LOGGING", "basic"),
	})
	app := startProc(t, p, appsDir, python, "flask_app.py")
	waitListening(t, app, port, 30*time.Second)
	rcv.SetStatus(429, "1")
	timedGets(t, port, "t", 20)
	time.Sleep(1500 * time.Millisecond)
	rcv.SetStatus(503, "")
	timedGets(t, port, "u", 20)
	time.Sleep(1500 * time.Millisecond)
	rcv.SetStatus(0, "")
	recs, ok := rcv.WaitFor(30*time.Second, func(r []receiver.Record) bool { return len(byRequestID(r)) == 40 })
	if !ok {
		t.Errorf("after throttling, %d of 40 requests' records arrived", len(byRequestID(recs)))
	}
	app.stop(syscall.SIGTERM, 30*time.Second)
	checkDecoded(t, rcv)
	checkNoDuplicates(t, rcv.Records())
	if strings.Contains(app.stderr.String(), "not exported: ") {
		t.Errorf("records were dropped although the collector only throttled:\n%s", app.stderr.String())
	}
}
