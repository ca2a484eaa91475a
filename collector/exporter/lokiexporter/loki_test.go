package lokiexporter

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/autotel/autotel/collector/internal/collectortest"
	"github.com/autotel/autotel/collector/internal/lokipush"
)

// These tests run the factory-built exporter (exporterhelper, retries) into
// internal/lokipush in its Loki mode, which answers as Loki v3 does (see
// internal/lokipush/RESPONSES.md). test/loki runs the same cases against a
// real Loki.

func startLoki(t *testing.T) *lokipush.Server {
	t.Helper()
	s, err := lokipush.StartLoki(lokipush.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type helperExporter struct {
	exporter.Logs
	tel *componenttest.Telemetry
}

func startHelperExporter(t *testing.T, url string, mutate func(*Config)) helperExporter {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = url
	cfg.QueueSettings = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.InitialInterval = 5 * time.Millisecond
	cfg.MaxInterval = 20 * time.Millisecond
	// Long enough to show a retried 500 never succeeds, short for a test.
	cfg.MaxElapsedTime = 300 * time.Millisecond
	if mutate != nil {
		mutate(cfg)
	}
	set := exportertest.NewNopSettings(f.Type())
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := f.CreateLogs(context.Background(), set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return helperExporter{exp, tel}
}

// counter sums a counter's data points whose attribute key has value; "" sums
// all of them.
func counter(t *testing.T, tel *componenttest.Telemetry, name, key, value string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T", name, m.Data)
	}
	var n int64
	for _, dp := range sum.DataPoints {
		if v, ok := dp.Attributes.Value(attribute.Key(key)); key == "" || ok && v.AsString() == value {
			n += dp.Value
		}
	}
	return n
}

// TestNonASCIIAttributeNameKeepsTheBatch is item 1: one record whose
// attribute name has no ASCII letter used to make Loki refuse the whole push
// with 500; the exporter retried until max_elapsed_time and dropped the batch,
// every other application's records included.
func TestNonASCIIAttributeNameKeepsTheBatch(t *testing.T) {
	now := time.Now()
	batch := func() plog.Logs {
		return collectortest.Logs(
			collectortest.Rec{Res: map[string]any{"service.name": "billing"}, Body: "ok 1", TS: now},
			collectortest.Rec{Res: map[string]any{"service.name": "billing"}, Body: "ok 2", TS: now},
			collectortest.Rec{Res: map[string]any{"service.name": "shop"}, Body: "ok 3", TS: now},
			collectortest.Rec{Res: map[string]any{"service.name": "intl"}, Attrs: map[string]any{"ключ": "значение", "user.id": "42"}, Body: "привет", TS: now},
		)
	}
	sm := func(c *Config) { c.StructuredMetadata.LogAttributes = true }

	t.Run("before: the name upstream-style sanitising produced", func(t *testing.T) {
		// What the exporter sent until now for `ключ`: structured metadata
		// "____". Loki fails the push as a whole.
		s := startLoki(t)
		req := &push.PushRequest{Streams: []push.Stream{
			{Labels: `{exporter="OTLP", job="billing", level="INFO"}`, Entries: []push.Entry{{Timestamp: now, Line: "ok 1"}, {Timestamp: now, Line: "ok 2"}}},
			{Labels: `{exporter="OTLP", job="shop", level="INFO"}`, Entries: []push.Entry{{Timestamp: now, Line: "ok 3"}}},
			{Labels: `{exporter="OTLP", job="intl", level="INFO"}`, Entries: []push.Entry{{Timestamp: now, Line: "привет",
				StructuredMetadata: push.LabelsAdapter{{Name: "____", Value: "значение"}, {Name: "user_id", Value: "42"}}}}},
		}}
		e := startExporter(t, s.URL, nil)
		err := e.send(context.Background(), "", req)
		if err == nil || !strings.Contains(err.Error(), `HTTP 500`) || !strings.Contains(err.Error(), `resulted in invalid name "____"`) {
			t.Fatalf("Loki's answer to %q: %v, want HTTP 500 naming the name", "____", err)
		}
		if got := s.Count(); got != 0 {
			t.Errorf("stored %d, want 0: the whole push is refused", got)
		}
		t.Logf("before: %d of 4 records stored, HTTP 500 retried until max_elapsed_time, then the batch is dropped", s.Count())
	})

	t.Run("after", func(t *testing.T) {
		s := startLoki(t)
		exp := startHelperExporter(t, s.URL, sm)
		if err := exp.ConsumeLogs(context.Background(), batch()); err != nil {
			t.Fatalf("ConsumeLogs: %v", err)
		}
		entries := s.Entries()
		if len(entries) != 4 || s.Requests("") != 1 {
			t.Fatalf("stored %d entries in %d requests, want 4 in 1", len(entries), s.Requests(""))
		}
		for _, e := range entries {
			if e.Line == "" || !strings.Contains(e.Line, "привет") {
				continue
			}
			if !strings.Contains(e.Line, `"ключ":"значение"`) {
				t.Errorf("the attribute Loki cannot name must stay in the line: %s", e.Line)
			}
			if e.StructuredMetadata["user_id"] != "42" || len(e.StructuredMetadata) != 1 {
				t.Errorf("structured metadata %v, want only user_id=42", e.StructuredMetadata)
			}
		}
		if got := counter(t, exp.tel, "otelcol_lokiexporter_skipped_attribute_names", "kind", "structured_metadata"); got != 1 {
			t.Errorf("skipped_attribute_names{kind=structured_metadata} = %d, want 1", got)
		}
		if got := counter(t, exp.tel, "otelcol_lokiexporter_dropped_log_records", "", ""); got != 0 {
			t.Errorf("dropped %d, want 0", got)
		}
		t.Logf("after: %d of 4 records stored, 1 attribute name skipped (kept in the line)", len(entries))
	})

	t.Run("label hint naming it", func(t *testing.T) {
		s := startLoki(t)
		exp := startHelperExporter(t, s.URL, nil)
		ld := batch()
		ld.ResourceLogs().At(3).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutStr("loki.attribute.labels", "ключ")
		if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
			t.Fatalf("ConsumeLogs: %v", err)
		}
		if got := s.Count(); got != 4 {
			t.Errorf("stored %d, want 4", got)
		}
		for _, e := range s.Entries() {
			if strings.Contains(e.Line, "привет") && !strings.Contains(e.Line, `"ключ":"значение"`) {
				t.Errorf("the attribute must stay in the line: %s", e.Line)
			}
		}
		if got := counter(t, exp.tel, "otelcol_lokiexporter_skipped_attribute_names", "kind", "label"); got != 1 {
			t.Errorf("skipped_attribute_names{kind=label} = %d, want 1", got)
		}
	})
}

const day = 24 * time.Hour

// badBatch mixes valid records with ones Loki refuses: 5 valid, 2 lines over
// 262144 bytes, 2 older than 7 days, 1 an hour in the future, 2 in a stream
// with 16 labels.
func badBatch(now time.Time) (plog.Logs, map[string]int) {
	long := strings.Repeat("x", 300000)
	many := map[string]any{"service.name": "wide"}
	hint := []string{}
	for i := range 15 {
		k := "l" + strconv.Itoa(i)
		many[k] = "v"
		hint = append(hint, k)
	}
	many["loki.resource.labels"] = strings.Join(hint, ",") // + exporter, job, level = 18 labels
	ok := map[string]any{"service.name": "ok"}
	recs := []collectortest.Rec{
		{Res: ok, Body: "v1", TS: now}, {Res: ok, Body: "v2", TS: now}, {Res: ok, Body: "v3", TS: now.Add(-time.Minute)},
		{Res: ok, Body: long, TS: now}, {Res: ok, Body: "v4", TS: now},
		{Res: ok, Body: "old1", TS: now.Add(-8 * day)}, {Res: ok, Body: long + "y", TS: now},
		{Res: ok, Body: "old2", TS: now.Add(-30 * day)}, {Res: ok, Body: "v5", TS: now},
		{Res: ok, Body: "future", TS: now.Add(time.Hour)},
		{Res: many, Body: "w1", TS: now}, {Res: many, Body: "w2", TS: now},
	}
	return collectortest.Logs(recs...), map[string]int{
		"stored": 5, "line_too_long": 2, "greater_than_max_sample_age": 2, "too_far_in_future": 1, "max_label_names_per_series": 2,
	}
}

// TestRefusedEntriesCountedExactly is item 2: with the exporter's own checks
// off, Loki refuses some entries with 400 and stores the rest; the drop
// counter must say what Loki is missing, not the whole request.
func TestRefusedEntriesCountedExactly(t *testing.T) {
	s := startLoki(t)
	exp := startHelperExporter(t, s.URL, func(c *Config) { c.Limits = LimitsConfig{} })
	ld, want := badBatch(time.Now())
	total := ld.LogRecordCount()
	err := exp.ConsumeLogs(context.Background(), ld)
	if err == nil {
		t.Fatal("want the permanent 400 reported")
	}
	stored := s.Count()
	dropped := counter(t, exp.tel, "otelcol_lokiexporter_dropped_log_records", "reason", "rejected")
	if int(stored) != want["stored"] {
		t.Errorf("Loki stored %d, want %d", stored, want["stored"])
	}
	if int(stored)+int(dropped) != total {
		t.Errorf("stored %d + dropped{rejected} %d != %d sent: the counter must match what the store is missing", stored, dropped, total)
	}
	if s.Requests("") != 1 {
		t.Errorf("%d requests: the accepted part must not be sent again", s.Requests(""))
	}
	t.Logf("after: sent %d, Loki stored %d, dropped{rejected}=%d (before: %d, the whole request)", total, stored, dropped, total)
}

// TestLimitsCheckedBeforeSending is item 3: the same batch with the default
// limits: Loki gets only what it accepts, the rest is counted per reason.
func TestLimitsCheckedBeforeSending(t *testing.T) {
	s := startLoki(t)
	exp := startHelperExporter(t, s.URL, nil)
	ld, want := badBatch(time.Now())
	if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatalf("ConsumeLogs: %v (Loki must have nothing to refuse)", err)
	}
	if got := int(s.Count()); got != want["stored"] {
		t.Errorf("stored %d, want %d", got, want["stored"])
	}
	for _, reason := range []string{"line_too_long", "greater_than_max_sample_age", "too_far_in_future", "max_label_names_per_series"} {
		if got := counter(t, exp.tel, "otelcol_lokiexporter_dropped_log_records", "reason", reason); int(got) != want[reason] {
			t.Errorf("dropped{reason=%s} = %d, want %d", reason, got, want[reason])
		}
	}
	if got := counter(t, exp.tel, "otelcol_lokiexporter_dropped_log_records", "reason", "rejected"); got != 0 {
		t.Errorf("dropped{rejected} = %d, want 0", got)
	}
}

func TestLimitsTable(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name       string
		limits     func(*LimitsConfig)
		rec        collectortest.Rec
		wantReason string // "" = sent
		wantLine   int    // length of the sent line, when sent
	}{
		{"line at the limit", nil, collectortest.Rec{Body: strings.Repeat("a", 262144-10), TS: now}, "", 0},
		{"line over the limit", nil, collectortest.Rec{Body: strings.Repeat("a", 262145), TS: now}, "line_too_long", 0},
		{"line over the limit, truncated", func(l *LimitsConfig) { l.TruncateLongLines = true; l.MaxLineSize = 100 }, collectortest.Rec{Body: strings.Repeat("a", 500), TS: now}, "", 100},
		{"truncation keeps UTF-8 whole", func(l *LimitsConfig) { l.TruncateLongLines = true; l.MaxLineSize = 100 }, collectortest.Rec{Body: strings.Repeat("€", 500), TS: now}, "", 99},
		{"line check off", func(l *LimitsConfig) { l.MaxLineSize = 0 }, collectortest.Rec{Body: strings.Repeat("a", 300000), TS: now}, "", 300000},
		{"too old", nil, collectortest.Rec{Body: "x", TS: now.Add(-169 * time.Hour)}, "greater_than_max_sample_age", 0},
		{"old but within max age", nil, collectortest.Rec{Body: "x", TS: now.Add(-167 * time.Hour)}, "", 1},
		{"age check off", func(l *LimitsConfig) { l.RejectOldSamplesMaxAge = 0 }, collectortest.Rec{Body: "x", TS: now.Add(-1000 * day)}, "", 1},
		{"too new", nil, collectortest.Rec{Body: "x", TS: now.Add(11 * time.Minute)}, "too_far_in_future", 0},
		{"within grace", nil, collectortest.Rec{Body: "x", TS: now.Add(9 * time.Minute)}, "", 1},
		{"label value too long", nil, collectortest.Rec{Res: map[string]any{"v": strings.Repeat("v", 2049), "loki.resource.labels": "v"}, Body: "x", TS: now}, "label_value_too_long", 0},
		{"label name too long", func(l *LimitsConfig) { l.MaxLabelNameLength = 8 }, collectortest.Rec{Res: map[string]any{"very_long_name": "v", "loki.resource.labels": "very_long_name"}, Body: "x", TS: now}, "label_name_too_long", 0},
		{"too many labels", func(l *LimitsConfig) { l.MaxLabelNamesPerSeries = 2 }, collectortest.Rec{Res: map[string]any{"a": "1", "b": "2", "loki.resource.labels": "a,b"}, Body: "x", TS: now}, "max_label_names_per_series", 0},
		{"service_name not counted", func(l *LimitsConfig) { l.MaxLabelNamesPerSeries = 2 }, collectortest.Rec{Res: map[string]any{"a": "1", "service_name": "1", "loki.resource.labels": "a,service_name"}, Body: "x", TS: now}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := defaultLimits()
			if tt.limits != nil {
				tt.limits(&lim)
			}
			s := startServer(t, nil)
			exp := startHelperExporter(t, s.URL, func(c *Config) {
				c.Limits = lim
				c.Format = "raw"
				c.DefaultLabelsEnabled = map[string]bool{"level": false}
			})
			ld := collectortest.Logs(tt.rec, collectortest.Rec{Body: "neighbour", TS: now})
			if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
				t.Fatalf("ConsumeLogs: %v", err)
			}
			var sent []lokipush.Entry
			for _, e := range s.Entries() {
				if e.Line != "neighbour" {
					sent = append(sent, e)
				}
			}
			if len(s.Entries()) != len(sent)+1 {
				t.Errorf("the other record of the batch must go: %d stored", len(s.Entries()))
			}
			dropped := counter(t, exp.tel, "otelcol_lokiexporter_dropped_log_records", "", "")
			if tt.wantReason != "" {
				if len(sent) != 0 || dropped != 1 || counter(t, exp.tel, "otelcol_lokiexporter_dropped_log_records", "reason", tt.wantReason) != 1 {
					t.Errorf("sent %d, dropped %d, want the record dropped for %s", len(sent), dropped, tt.wantReason)
				}
				return
			}
			if len(sent) != 1 || dropped != 0 {
				t.Fatalf("sent %d, dropped %d, want it sent", len(sent), dropped)
			}
			if tt.wantLine != 0 && len(sent[0].Line) != tt.wantLine {
				t.Errorf("line of %d bytes, want %d", len(sent[0].Line), tt.wantLine)
			}
		})
	}
}

// TestStableInstanceLabel is item 4: gunicorn's master and two workers report
// service.instance.id = <base>-<pid> with process.pid = <pid>.
func TestStableInstanceLabel(t *testing.T) {
	now := time.Now()
	workers := func() plog.Logs {
		var recs []collectortest.Rec
		for restart, pid := range []int64{4100, 4107, 4108, 5200, 5207, 5208, 6300} {
			res := map[string]any{
				"service.name":        "shop",
				"service.instance.id": "shop-7d9f8-x2kq-" + strconv.FormatInt(pid, 10),
				"process.pid":         pid,
			}
			recs = append(recs, collectortest.Rec{Res: res, Body: "request " + strconv.Itoa(restart), TS: now})
		}
		return collectortest.Logs(recs...)
	}
	streams := func(entries []lokipush.Entry) map[string]bool {
		out := map[string]bool{}
		for _, e := range entries {
			out[e.Labels] = true
		}
		return out
	}
	tests := []struct {
		name        string
		mutate      func(*Config)
		wantStreams int
		check       func(t *testing.T, e lokipush.Entry)
	}{
		{"upstream labels", func(c *Config) { c.StableInstanceLabel = false }, 7, nil},
		{"stable (default)", nil, 1, func(t *testing.T, e lokipush.Entry) {
			if !strings.Contains(e.Labels, `instance="shop-7d9f8-x2kq"`) {
				t.Errorf("labels %s", e.Labels)
			}
			if !strings.Contains(e.Line, `"service.instance.id":"shop-7d9f8-x2kq-`) || !strings.Contains(e.Line, `"process.pid":`) {
				t.Errorf("the full id and the pid must stay in the line: %s", e.Line)
			}
		}},
		{"stable, resource attributes as structured metadata", func(c *Config) { c.StructuredMetadata.ResourceAttributes = true }, 1, func(t *testing.T, e lokipush.Entry) {
			if !strings.HasPrefix(e.StructuredMetadata["service_instance_id"], "shop-7d9f8-x2kq-") || e.StructuredMetadata["process_pid"] == "" ||
				!strings.HasSuffix(e.StructuredMetadata["service_instance_id"], "-"+e.StructuredMetadata["process_pid"]) {
				t.Errorf("structured metadata %v", e.StructuredMetadata)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startLoki(t)
			exp := startHelperExporter(t, s.URL, tt.mutate)
			if err := exp.ConsumeLogs(context.Background(), workers()); err != nil {
				t.Fatal(err)
			}
			got := streams(s.Entries())
			if len(got) != tt.wantStreams || s.Count() != 7 {
				t.Errorf("%d streams, %d entries, want %d streams, 7 entries: %v", len(got), s.Count(), tt.wantStreams, got)
			}
			if tt.check != nil {
				for _, e := range s.Entries() {
					tt.check(t, e)
				}
			}
			t.Logf("%s: 7 processes (3 generations of master + 2 workers) -> %d streams", tt.name, len(got))
		})
	}
}

func TestInstanceLabelOnlyStripsItsOwnPID(t *testing.T) {
	tr := testTranslator(t, nil)
	tests := []struct {
		id   string
		pid  any
		want string
	}{
		{"web-12", int64(12), "web"},
		{"web-12", "12", "web"},
		{"web-12", int64(13), "web-12"},
		{"web-112", int64(12), "web-112"},
		{"web12", int64(12), "web12"},
		{"-12", int64(12), "-12"},
		{"web-12", nil, "web-12"},
	}
	for _, tt := range tests {
		res := pcommon.NewMap()
		if tt.pid != nil {
			_ = res.FromRaw(map[string]any{"process.pid": tt.pid})
		}
		if got := tr.instanceLabel(tt.id, res); got != tt.want {
			t.Errorf("instanceLabel(%q, pid %v) = %q, want %q", tt.id, tt.pid, got, tt.want)
		}
	}
}

// TestLimitDropsLoggedRateLimited: a flood of bad records gives one warning
// per interval, with counts and an example per reason.
func TestLimitDropsLoggedRateLimited(t *testing.T) {
	s := startServer(t, nil)
	core, logs := observer.New(zap.InfoLevel)
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = s.URL
	set := componenttest.NewNopTelemetrySettings()
	set.Logger = zap.New(core)
	e, err := newExporter(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	now := time.Now()
	for range 5 {
		ld := collectortest.Logs(collectortest.Rec{Body: "old", TS: now.Add(-30 * day)}, collectortest.Rec{Body: strings.Repeat("x", 262145), TS: now}, collectortest.Rec{Body: "fine", TS: now})
		if err := e.pushLogs(context.Background(), ld); err != nil {
			t.Fatal(err)
		}
	}
	warns := logs.FilterLevelExact(zap.WarnLevel).All()
	if len(warns) != 1 {
		t.Fatalf("%d warnings for 5 batches, want 1 (rate-limited)", len(warns))
	}
	fields := warns[0].ContextMap()
	if !strings.HasPrefix(fmt.Sprint(fields["greater_than_max_sample_age"]), "1, e.g. timestamp ") ||
		!strings.HasPrefix(fmt.Sprint(fields["line_too_long"]), "1, e.g. line of 262156 bytes") {
		t.Errorf("warning fields %v", fields)
	}
	if s.Count() != 5 {
		t.Errorf("stored %d, want the 5 good records", s.Count())
	}

	// A batch of nothing but bad records is a permanent failure that says
	// why.
	err = e.pushLogs(context.Background(), collectortest.Logs(collectortest.Rec{Body: "old", TS: now.Add(-30 * day)}))
	if !consumererror.IsPermanent(err) || !strings.Contains(err.Error(), "dropped, 1 of them by limits") {
		t.Errorf("all records over limits: %v", err)
	}
}
