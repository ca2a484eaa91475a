// Package benchutil adds throughput and latency percentiles to Go
// benchmarks, which otherwise report only a mean.
package benchutil

import (
	"slices"
	"testing"
	"time"
)

// ReportLatency reports ops/s over elapsed and the p50 and p99 of lat,
// naming the throughput unit (e.g. "admissions/s").
func ReportLatency(b *testing.B, unit string, lat []time.Duration, elapsed time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds())
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), unit)
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
