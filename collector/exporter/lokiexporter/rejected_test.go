package lokiexporter

import (
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
)

func TestCountRefused(t *testing.T) {
	entries := func(n int) []push.Entry { return make([]push.Entry, n) }
	req := &push.PushRequest{Streams: []push.Stream{
		{Labels: `{exporter="OTLP", job="ok"}`, Entries: entries(6)},
		{Labels: `{exporter="OTLP", job="wide", l0="v; x"}`, Entries: entries(3)},
		{Labels: `{}`, Entries: entries(2)},
	}}
	old := `entry for stream '{exporter="OTLP", job="ok", service_name="ok"}' has timestamp too old: 2026-11-20T01:00:00Z, oldest acceptable timestamp is: 2026-11-30T01:00:00Z`
	long := `max entry size '262144' bytes exceeded for stream '{exporter="OTLP", job="ok", service_name="ok"}' while adding an entry with length '300000' bytes`
	wide := `entry for stream '{exporter="OTLP", job="wide", l0="v; x", service_name="wide"}' has 18 label names; limit 15`
	tests := []struct {
		name      string
		body      string
		truncated bool
		want      int
		exact     bool
	}{
		{"one entry", old + "\n", false, 1, true},
		{"grouped", "2 errors like: " + long + "; " + old, false, 3, true},
		{"grouped, one of each", "1 errors like: " + old + "; 1 errors like: " + long, false, 2, true},
		{"a stream refused whole, found despite service_name added", wide, false, 3, true},
		{"stream and entries", "1 errors like: " + wide + "; 4 errors like: " + long, false, 7, true},
		{"label value too long", `stream '{exporter="OTLP", job="wide", l0="v; x", service_name="wide"}' has label value too long: 'v; x'`, false, 3, true},
		{"missing labels", "error at least one label pair is required per stream", false, 2, true},
		{"structured metadata too large", `stream '{job="ok"}' has structured metadata too large: '70000' bytes, limit: '64000' bytes. Please see ` + "`limits_config.max_structured_metadata_size`" + ` or contact your Loki administrator to increase it.`, false, 1, true},
		{"ingester out of order", "entry with timestamp 2026-12-07 01:00:00 +0000 UTC ignored, reason: 'entry too far behind, entry timestamp is: 2026-12-07T01:00:00Z, oldest acceptable timestamp is: 2026-12-07T02:00:00Z',\n" +
			"user 'fake', total ignored: 4 out of 6 for stream: {exporter=\"OTLP\", job=\"ok\"}", false, 4, true},
		{"never more than sent", "20 errors like: " + long, false, 11, true},
		{"request-wide parse error: everything", "couldn't parse labels: 1:50: parse error: unexpected character inside braces: 'к'", false, 11, false},
		{"unknown message after known ones", old + "; something new", false, 11, false},
		{"unknown stream", `entry for stream '{job="other"}' has 18 label names; limit 15`, false, 11, false},
		{"cut answer", "2 errors like: " + long, true, 11, false},
		{"empty", "", false, 11, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, exact := countRefused(tt.body, tt.truncated, req)
			if got != tt.want || exact != tt.exact {
				t.Errorf("countRefused = %d, exact=%v; want %d, exact=%v", got, exact, tt.want, tt.exact)
			}
		})
	}
}

// TestCountRefusedLargeAnswer: a batch of thousands of too-old entries gives
// one message per entry (their timestamps differ); all must be counted.
func TestCountRefusedLargeAnswer(t *testing.T) {
	const n = 5000
	req := &push.PushRequest{Streams: []push.Stream{{Labels: `{job="ok"}`, Entries: make([]push.Entry, n+10)}}}
	items := make([]string, n)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range items {
		items[i] = "1 errors like: entry for stream '{job=\"ok\", service_name=\"ok\"}' has timestamp too old: " +
			base.Add(time.Duration(i)*time.Second).Format(time.RFC3339) + ", oldest acceptable timestamp is: 2026-11-30T01:00:00Z"
	}
	body := strings.Join(items, "; ")
	if len(body) > maxErrBody {
		t.Fatalf("test body %d bytes is over the read limit %d", len(body), maxErrBody)
	}
	if got, exact := countRefused(body, false, req); got != n || !exact {
		t.Errorf("countRefused = %d, %v, want %d, true", got, exact, n)
	}
}
