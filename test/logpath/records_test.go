package logpath

import (
	"fmt"
	"github.com/autotel/autotel/testkit/wait"
	"strings"
	"testing"
	"time"
)

func filterRecs(recs []record, keep func(record) bool) []record {
	var out []record
	for _, r := range recs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func ofPod(recs []record, pod string) []record {
	return filterRecs(recs, func(r record) bool { return r.Labels["pod"] == pod })
}

// scopeBody keeps records of scope whose body contains s.
func scopeBody(scope, s string) func(record) bool {
	return func(r record) bool { return r.scope() == scope && strings.Contains(r.body(), s) }
}

func wantN(t testing.TB, what string, recs []record, n int) {
	t.Helper()
	if len(recs) != n {
		var got []string
		for _, r := range recs {
			got = append(got, r.String())
		}
		t.Errorf("%s: %d stored, want %d: %v", what, len(recs), n, got)
	}
}

// counts are the collector's log record counters at one moment.
type counts struct {
	accepted float64 // by every receiver
	filelog  float64 // by the filelog receiver
	filtered float64 // dropped by the log path filter
	sent     float64 // pushed to the store
}

// waitDelivered waits until the collector has pushed to the store every
// record its receivers had accepted (less those the filter dropped), with
// nothing failed or refused, and cond holds on the store's contents read
// right after; then it returns them.
func waitDelivered(t testing.TB, c *collector, vl *victoriaLogs, cond func(recs []record, n counts) (bool, string)) []record {
	t.Helper()
	var recs []record
	wait.For(t, 60*time.Second, "every accepted record in the store", func() (bool, string) {
		if bad := c.metric(t, "otelcol_exporter_send_failed_log_records") + c.metric(t, "otelcol_receiver_refused_log_records") + c.metric(t, "otelcol_receiver_failed_log_records"); bad > 0 {
			t.Fatalf("the collector failed to send or refused %v log records", bad)
		}
		n := counts{
			accepted: c.metric(t, "otelcol_receiver_accepted_log_records"),
			filelog:  c.metric(t, "otelcol_receiver_accepted_log_records", `receiver="filelog"`),
			filtered: c.metric(t, "otelcol_processor_filter_logs_filtered"),
			sent:     c.metric(t, "otelcol_exporter_sent_log_records", `exporter="loki"`),
		}
		if n.accepted-n.filtered != n.sent {
			return false, fmt.Sprintf("accepted %v, filtered %v, sent %v", n.accepted, n.filtered, n.sent)
		}
		recs = vl.records(t)
		return cond(recs, n)
	})
	return recs
}

// seedLineKeys are the top-level fields of the line the seed saw in Loki
// (observed-log-loki.json).
var seedLineKeys = []string{"attributes", "body", "instrumentation_scope", "resources", "severity"}
