package harness

import (
	"fmt"
	"github.com/autotel/autotel/testkit/ports"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRequestLatency is the app's side of "never blocks": Flask under
// gunicorn (one sync worker), GET /hello (one app.logger.info and one
// print, both exported), requests one after another. Cases: no agent at
// all (the pod without PYTHONPATH), and the agent with the collector up,
// down (connection refused) and slow (every export answered after 2 s).
// Reports p50/p99 besides the mean (ns/op).
func BenchmarkRequestLatency(b *testing.B) {
	for _, c := range []struct {
		name  string
		agent bool
		fault string
	}{
		{"no-agent", false, ""},
		{"agent/collector-up", true, ""},
		{"agent/collector-down", true, "down"},
		{"agent/collector-slow-2s", true, "slow"},
	} {
		b.Run(c.name, func(b *testing.B) {
			rcv := startReceiver(b)
			port := ports.Free(b)
			p := newPod(b, podSpec{
				manifest:     seedInstrumentation(rcv.URL(), env("AUTOTEL_PYTHON_CAPTURE_STDOUT", "true")...),
				containerEnv: env("APP_LOGGING", "basic"),
			})
			if !c.agent {
				var kept []string
				for _, kv := range p.env {
					if !strings.HasPrefix(kv, "PYTHONPATH=") {
						kept = append(kept, kv)
					}
				}
				p.env = kept
			}
			switch c.fault {
			case "down":
				rcv.Stop()
			case "slow":
				rcv.SetDelay(2 * time.Second)
			}
			app := startProc(b, p, appsDir, python, "-m", "gunicorn", "-w", "1", "-b", fmt.Sprintf("127.0.0.1:%d", port), "flask_app:app")
			waitListening(b, app, port, 30*time.Second)
			for i := 0; i < 50; i++ { // warm up
				get(b, port, "/hello?id=warm")
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if code, _ := get(b, port, "/hello?id=bench"); code != 200 {
					b.Fatalf("/hello: %d", code)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			app.stop(syscall.SIGTERM, 60*time.Second)
		})
	}
}
