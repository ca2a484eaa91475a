//go:build loki

package loki

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/autotel/autotel/collector/internal/collectortest"
	"github.com/autotel/autotel/testkit/wait"
)

func runID() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

// (a) A non-ASCII attribute name in structured metadata no longer loses the
// batch.
func TestNonASCIIStructuredMetadataName(t *testing.T) {
	run := runID()
	now := time.Now()

	t.Run("before: what the exporter used to send", func(t *testing.T) {
		job := "before-" + run
		req := &push.PushRequest{Streams: []push.Stream{
			{Labels: fmt.Sprintf(`{exporter="OTLP", job=%q}`, job), Entries: []push.Entry{
				{Timestamp: now, Line: "ok 1"}, {Timestamp: now, Line: "ok 2"}, {Timestamp: now, Line: "ok 3"},
				{Timestamp: now, Line: "привет", StructuredMetadata: push.LabelsAdapter{{Name: "____", Value: "значение"}}},
			}},
		}}
		status, body := pushDirect(t, req)
		if status < 400 || !strings.Contains(body, "resulted in invalid name") {
			t.Fatalf("Loki answered %d %q to the name ____, want a refusal naming it", status, body)
		}
		stored := len(query(t, fmt.Sprintf(`{job=%q}`, job)))
		if stored != 0 {
			t.Errorf("Loki stored %d of 4, want 0: the whole push is refused", stored)
		}
		t.Logf("before: Loki answered HTTP %d %q; stored %d of 4 records (5xx: the exporter retried, then dropped the batch)", status, strings.TrimSpace(body), stored)
	})

	t.Run("after", func(t *testing.T) {
		c := startCollector(t, "structured_metadata: {log_attributes: true}")
		c.send(t, collectortest.Logs(
			collectortest.Rec{Res: map[string]any{"service.name": "billing-" + run}, Body: "ok 1", TS: now},
			collectortest.Rec{Res: map[string]any{"service.name": "billing-" + run}, Body: "ok 2", TS: now},
			collectortest.Rec{Res: map[string]any{"service.name": "shop-" + run}, Body: "ok 3", TS: now},
			collectortest.Rec{Res: map[string]any{"service.name": "intl-" + run}, Attrs: map[string]any{"ключ": "значение", "user.id": "42"}, Body: "привет", TS: now},
		))
		sel := fmt.Sprintf(`{job=~".*-%s"}`, run)
		var got []entry
		wait.For(t, 30*time.Second, "4 entries in Loki", func() (bool, string) {
			got = query(t, sel)
			return len(got) == 4, fmt.Sprintf("%d entries", len(got))
		})
		for _, e := range got {
			if !strings.Contains(e.line, "привет") {
				continue
			}
			if !strings.Contains(e.line, `"ключ":"значение"`) {
				t.Errorf("the attribute Loki cannot name must stay in the line: %s", e.line)
			}
			if e.labels["user_id"] != "42" {
				t.Errorf("structured metadata user_id missing: %v", e.labels)
			}
		}
		if n := c.metric(t, "otelcol_lokiexporter_skipped_attribute_names", `kind="structured_metadata"`); n != 1 {
			t.Errorf("skipped_attribute_names{kind=structured_metadata} = %v, want 1", n)
		}
		if n := c.metric(t, "otelcol_lokiexporter_dropped_log_records"); n != 0 {
			t.Errorf("dropped_log_records = %v, want 0", n)
		}
		t.Logf("after: Loki stored %d of 4 records; 1 attribute name skipped, kept in the line", len(got))
	})
}

// badBatch: 5 valid records, 2 lines over 262144 bytes, 2 older than 7 days,
// 1 an hour ahead, 2 in a stream with 18 labels (limit 15).
func badBatch(run string, now time.Time) (plog.Logs, string) {
	long := strings.Repeat("x", 300000)
	ok := map[string]any{"service.name": "ok-" + run}
	wide := map[string]any{"service.name": "wide-" + run}
	var hint []string
	for i := range 15 {
		k := "l" + strconv.Itoa(i)
		wide[k] = "v"
		hint = append(hint, k)
	}
	wide["loki.resource.labels"] = strings.Join(hint, ",")
	return collectortest.Logs(
		collectortest.Rec{Res: ok, Body: "v1", TS: now}, collectortest.Rec{Res: ok, Body: "v2", TS: now}, collectortest.Rec{Res: ok, Body: "v3", TS: now.Add(-time.Minute)},
		collectortest.Rec{Res: ok, Body: long, TS: now}, collectortest.Rec{Res: ok, Body: "v4", TS: now},
		collectortest.Rec{Res: ok, Body: "old1", TS: now.Add(-8 * 24 * time.Hour)}, collectortest.Rec{Res: ok, Body: long + "y", TS: now},
		collectortest.Rec{Res: ok, Body: "old2", TS: now.Add(-30 * 24 * time.Hour)}, collectortest.Rec{Res: ok, Body: "v5", TS: now},
		collectortest.Rec{Res: ok, Body: "future", TS: now.Add(time.Hour)},
		collectortest.Rec{Res: wide, Body: "w1", TS: now}, collectortest.Rec{Res: wide, Body: "w2", TS: now},
	), fmt.Sprintf(`{job=~"(ok|wide)-%s"}`, run)
}

// (b) With the exporter's own checks off, Loki refuses part of a push with
// 400 and stores the rest; the drop counter equals what Loki is missing.
func TestDropCountEqualsWhatLokiIsMissing(t *testing.T) {
	c := startCollector(t, `limits: {max_line_size: 0, max_label_names_per_series: 0, max_label_name_length: 0, max_label_value_length: 0, reject_old_samples_max_age: 0, creation_grace_period: 0}`)
	run := runID()
	ld, sel := badBatch(run, time.Now())
	sent := ld.LogRecordCount()
	c.send(t, ld)
	wait.For(t, 30*time.Second, "the exporter to account for Loki's 400", func() (bool, string) {
		n := c.metric(t, "otelcol_lokiexporter_dropped_log_records", `reason="rejected"`)
		return n > 0, fmt.Sprintf("dropped{rejected}=%v", n)
	})
	stored := len(query(t, sel))
	dropped := int(c.metric(t, "otelcol_lokiexporter_dropped_log_records", `reason="rejected"`))
	if stored != 5 {
		t.Errorf("Loki stored %d, want 5", stored)
	}
	if stored+dropped != sent {
		t.Errorf("stored %d + dropped{rejected} %d != %d sent", stored, dropped, sent)
	}
	t.Logf("sent %d; Loki stored %d; dropped{rejected} %d (before this change: %d, the whole request)", sent, stored, dropped, sent)
}

// TestRecordLokiAnswers logs Loki's exact answers to the refusals the
// exporter parses, for internal/lokipush/RESPONSES.md, and checks the
// partial-store behaviour those answers rely on.
func TestRecordLokiAnswers(t *testing.T) {
	run := runID()
	now := time.Now()
	wide := `{a="1", b="2", c="3", d="4", e="5", f="6", g="7", h="8", i="9", j="10", k="11", l="12", m="13", n="14", o="15", job="wide-` + run + `"}`
	status, body := pushDirect(t, &push.PushRequest{Streams: []push.Stream{
		{Labels: fmt.Sprintf(`{job="mixed-%s"}`, run), Entries: []push.Entry{
			{Timestamp: now, Line: "ok"},
			{Timestamp: now.Add(-8 * 24 * time.Hour), Line: "old"},
			{Timestamp: now.Add(time.Hour), Line: "future"},
			{Timestamp: now, Line: strings.Repeat("x", 262145)},
			{Timestamp: now, Line: strings.Repeat("x", 262144)},
		}},
		{Labels: wide, Entries: []push.Entry{{Timestamp: now, Line: "w1"}, {Timestamp: now, Line: "w2"}}},
	}})
	t.Logf("mixed push: HTTP %d\n%s", status, body)
	if status != 400 {
		t.Errorf("status %d, want 400", status)
	}
	wait.For(t, 10*time.Second, "the valid part stored", func() (bool, string) {
		n := len(query(t, fmt.Sprintf(`{job="mixed-%s"}`, run)))
		return n == 2, fmt.Sprintf("%d entries", n)
	})
	if n := len(query(t, fmt.Sprintf(`{job="wide-%s"}`, run))); n != 0 {
		t.Errorf("the stream over the label limit stored %d entries, want 0", n)
	}

	status, body = pushDirect(t, &push.PushRequest{Streams: []push.Stream{
		{Labels: `{ключ="v"}`, Entries: []push.Entry{{Timestamp: now, Line: "x"}}},
	}})
	t.Logf("non-ASCII label name: HTTP %d %s", status, body)
	status, body = pushDirect(t, &push.PushRequest{Streams: []push.Stream{
		{Labels: fmt.Sprintf(`{job="e-%s"}`, run), Entries: []push.Entry{{Timestamp: now, Line: "x", StructuredMetadata: push.LabelsAdapter{{Name: "", Value: "v"}}}}},
	}})
	t.Logf("empty structured-metadata name: HTTP %d %s", status, body)
}

// (c) With the default limits the exporter drops what Loki would refuse,
// per reason, and Loki has nothing to refuse.
func TestPreChecksPerReason(t *testing.T) {
	c := startCollector(t, "")
	run := runID()
	ld, sel := badBatch(run, time.Now())
	c.send(t, ld)
	var got []entry
	wait.For(t, 30*time.Second, "5 entries in Loki", func() (bool, string) {
		got = query(t, sel)
		return len(got) == 5, fmt.Sprintf("%d entries", len(got))
	})
	want := map[string]float64{"line_too_long": 2, "greater_than_max_sample_age": 2, "too_far_in_future": 1, "max_label_names_per_series": 2, "rejected": 0}
	for reason, n := range want {
		if got := c.metric(t, "otelcol_lokiexporter_dropped_log_records", `reason="`+reason+`"`); got != n {
			t.Errorf("dropped{reason=%s} = %v, want %v", reason, got, n)
		}
	}
}

// (d) A pre-fork server's processes share one stream per container.
func TestPreForkServerOneStream(t *testing.T) {
	run := runID()
	workers := func(service string) plog.Logs {
		var recs []collectortest.Rec
		for i, pid := range []int64{4100, 4107, 4108, 5200, 5207, 5208, 6300} {
			recs = append(recs, collectortest.Rec{Res: map[string]any{
				"service.name":        service,
				"service.instance.id": service + "-7d9f8-x2kq-" + strconv.FormatInt(pid, 10),
				"process.pid":         pid,
			}, Body: "request " + strconv.Itoa(i), TS: time.Now()})
		}
		return collectortest.Logs(recs...)
	}
	for _, tt := range []struct {
		name, extra, service string
		want                 int
	}{
		{"upstream labels (stable_instance_label: false)", "stable_instance_label: false", "shop-up-" + run, 7},
		{"stable instance label (default)", "", "shop-" + run, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := startCollector(t, tt.extra)
			c.send(t, workers(tt.service))
			sel := fmt.Sprintf(`{job=%q}`, tt.service)
			var got []entry
			wait.For(t, 30*time.Second, "7 entries", func() (bool, string) {
				got = query(t, sel)
				return len(got) == 7, fmt.Sprintf("%d entries", len(got))
			})
			streams := series(t, sel)
			if len(streams) != tt.want {
				t.Errorf("%d streams, want %d: %v", len(streams), tt.want, streams)
			}
			for _, e := range got {
				if !strings.Contains(e.line, `"service.instance.id":"`+tt.service+`-7d9f8-x2kq-`) || !strings.Contains(e.line, `"process.pid":`) {
					t.Errorf("the full service.instance.id and process.pid must reach Loki: %s", e.line)
				}
			}
			t.Logf("%s: 7 processes (master + 2 workers, 2 restarts) -> %d Loki streams", tt.name, len(streams))
		})
	}
}
