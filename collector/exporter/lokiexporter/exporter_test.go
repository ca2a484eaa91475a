package lokiexporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/autotel/autotel/collector/internal/lokipush"
)

func startServer(t *testing.T, respond lokipush.Responder) *lokipush.Server {
	t.Helper()
	s, err := lokipush.Start(respond, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func startExporter(t *testing.T, url string, mutate func(*Config)) *lokiExporter {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = url
	// buildLogs stamps records in 2001; the timestamp limits are tested
	// on their own.
	cfg.Limits.RejectOldSamplesMaxAge = 0
	if mutate != nil {
		mutate(cfg)
	}
	e, err := newExporter(cfg, componenttest.NewNopTelemetrySettings())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	return e
}

func bodies(entries []lokipush.Entry, tenant string) []string {
	var out []string
	for _, e := range entries {
		if e.Tenant == tenant {
			out = append(out, e.Line)
		}
	}
	sort.Strings(out)
	return out
}

func twoTenants() plog.Logs {
	return buildLogs(
		recordSpec{res: map[string]any{"loki.tenant": "t", "t": "acme"}, body: "a"},
		recordSpec{res: map[string]any{"loki.tenant": "t", "t": "globex"}, body: "g"},
		recordSpec{res: map[string]any{"loki.tenant": "t", "t": "acme"}, body: "a2"},
	)
}

func TestPushSendsOneRequestPerTenant(t *testing.T) {
	s := startServer(t, nil)
	e := startExporter(t, s.URL, nil)
	if err := e.pushLogs(context.Background(), twoTenants()); err != nil {
		t.Fatal(err)
	}
	if s.Requests("acme") != 1 || s.Requests("globex") != 1 {
		t.Errorf("requests acme=%d globex=%d, want 1 each", s.Requests("acme"), s.Requests("globex"))
	}
	got := s.Entries()
	if a := bodies(got, "acme"); strings.Join(a, "|") != `{"body":"a","resources":{"t":"acme"}}|{"body":"a2","resources":{"t":"acme"}}` {
		t.Errorf("acme lines %v", a)
	}
	if g := bodies(got, "globex"); len(g) != 1 {
		t.Errorf("globex lines %v", g)
	}
}

// TestArenaReuseKeepsLinesIntact pushes batches of different shapes one after
// another so later ones reuse earlier ones' line arenas.
func TestArenaReuseKeepsLinesIntact(t *testing.T) {
	s := startServer(t, nil)
	e := startExporter(t, s.URL, nil)
	var want []string
	// Largest first, so every later batch fits in a recycled arena.
	for i := 4; i >= 0; i-- {
		var specs []recordSpec
		for j := 0; j < 1<<i; j++ {
			body := fmt.Sprintf("batch %d record %d %s", i, j, strings.Repeat("x", 40))
			specs = append(specs, recordSpec{body: body})
			want = append(want, fmt.Sprintf(`{"body":%q}`, body))
		}
		if err := e.pushLogs(context.Background(), buildLogs(specs...)); err != nil {
			t.Fatal(err)
		}
	}
	got := bodies(s.Entries(), "")
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored lines differ from what was sent:\ngot  %q\nwant %q", got, want)
	}
}

func TestStaticTenantHeaderWinsOverHint(t *testing.T) {
	s := startServer(t, nil)
	e := startExporter(t, s.URL, func(c *Config) {
		c.Headers = configopaque.MapList{{Name: "X-Scope-OrgID", Value: "static"}}
	})
	if err := e.pushLogs(context.Background(), twoTenants()); err != nil {
		t.Fatal(err)
	}
	if n := len(bodies(s.Entries(), "static")); n != 3 {
		t.Errorf("static tenant got %d entries, want all 3", n)
	}
}

func TestStatusCodesDecideRetry(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		permanent  bool
		wantText   string
	}{
		{400, "", true, `HTTP 400 "Bad Request": couldn't parse labels`},
		{404, "", true, `HTTP 404 "Not Found"`},
		{413, "", true, `HTTP 413 "Request Entity Too Large"`},
		{422, "", true, `HTTP 422`},
		{429, "", false, `HTTP 429 "Too Many Requests": couldn't parse labels`},
		{429, "3", false, `Throttle (3s)`},
		{500, "", false, `HTTP 500 "Internal Server Error"`},
		{503, "", false, `HTTP 503 "Service Unavailable"`},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status)+tt.retryAfter, func(t *testing.T) {
			srv := startServer(t, func(string, int) (int, string) { return tt.status, "couldn't parse labels\nsecond line" })
			e := startExporter(t, srv.URL, nil)
			if tt.retryAfter != "" {
				// The push server cannot set headers; wrap it.
				e.client.Transport = headerSetter{e.client.Transport, tt.retryAfter}
			}
			err := e.pushLogs(context.Background(), buildLogs(recordSpec{body: "x"}))
			if err == nil {
				t.Fatal("no error")
			}
			if got := consumererror.IsPermanent(err); got != tt.permanent {
				t.Errorf("permanent=%v, want %v (%v)", got, tt.permanent, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) || strings.Contains(err.Error(), "second line") {
				t.Errorf("error %q, want it to contain %q and only the first line", err, tt.wantText)
			}
		})
	}
}

// headerSetter adds Retry-After to responses.
type headerSetter struct {
	rt http.RoundTripper
	v  string
}

func (h headerSetter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.rt.RoundTrip(r)
	if resp != nil {
		resp.Header.Set("Retry-After", h.v)
	}
	return resp, err
}

func TestRetryCarriesOnlyTheFailedTenants(t *testing.T) {
	s := startServer(t, func(tenant string, n int) (int, string) {
		if tenant == "globex" && n == 1 {
			return http.StatusInternalServerError, "ingester unavailable"
		}
		return 0, ""
	})
	e := startExporter(t, s.URL, nil)
	err := e.pushLogs(context.Background(), twoTenants())
	var logsErr consumererror.Logs
	if !errors.As(err, &logsErr) || consumererror.IsPermanent(err) {
		t.Fatalf("want a retryable logs error, got %v", err)
	}
	retry := logsErr.Data()
	if retry.LogRecordCount() != 1 {
		t.Fatalf("retry carries %d records, want only globex's 1", retry.LogRecordCount())
	}
	if err := e.pushLogs(context.Background(), retry); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if s.Requests("acme") != 1 {
		t.Errorf("acme was sent %d times, want once", s.Requests("acme"))
	}
	if got := bodies(s.Entries(), "acme"); len(got) != 2 {
		t.Errorf("acme stored %d lines, want 2 (exactly once)", len(got))
	}
	if got := bodies(s.Entries(), "globex"); len(got) != 1 {
		t.Errorf("globex stored %d lines, want 1", len(got))
	}
}

func TestPermanentTenantFailureDoesNotBlockRetryOfOthers(t *testing.T) {
	s := startServer(t, func(tenant string, n int) (int, string) {
		switch {
		case tenant == "acme":
			return http.StatusBadRequest, "bad"
		case tenant == "globex" && n == 1:
			return http.StatusTooManyRequests, "slow down"
		}
		return 0, ""
	})
	e := startExporter(t, s.URL, nil)
	err := e.pushLogs(context.Background(), twoTenants())
	var logsErr consumererror.Logs
	if !errors.As(err, &logsErr) || consumererror.IsPermanent(err) {
		t.Fatalf("want retryable error for globex only, got %v", err)
	}
	if n := logsErr.Data().LogRecordCount(); n != 1 {
		t.Errorf("retry carries %d records, want 1", n)
	}
}

func TestAllRecordsUnconvertibleIsPermanent(t *testing.T) {
	s := startServer(t, nil)
	e := startExporter(t, s.URL, nil)
	err := e.pushLogs(context.Background(), buildLogs(recordSpec{attrs: map[string]any{"loki.format": "xml"}, body: "x"}))
	if !consumererror.IsPermanent(err) {
		t.Errorf("want permanent error, got %v", err)
	}
	if s.Requests("") != 0 {
		t.Errorf("sent %d requests for nothing", s.Requests(""))
	}
}

// TestThroughExporterHelper runs the factory-built exporter the way the
// collector does: retries on 5xx until delivered once, drops and counts 400.
func TestThroughExporterHelper(t *testing.T) {
	tests := []struct {
		name        string
		respond     lokipush.Responder
		wantErr     bool
		wantStored  int
		wantFailed  int64
		wantDropped int64
	}{
		{"5xx then success", func(_ string, n int) (int, string) {
			if n <= 2 {
				return 503, "busy"
			}
			return 0, ""
		}, false, 3, 0, 0},
		{"429 then success", func(_ string, n int) (int, string) {
			if n == 1 {
				return 429, "rate limited"
			}
			return 0, ""
		}, false, 3, 0, 0},
		{"400 dropped and counted", func(string, int) (int, string) { return 400, "entry too far behind" }, true, 0, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.respond)
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
			f := NewFactory()
			cfg := f.CreateDefaultConfig().(*Config)
			cfg.Endpoint = s.URL
			cfg.Limits.RejectOldSamplesMaxAge = 0
			cfg.QueueSettings = configoptional.None[exporterhelper.QueueBatchConfig]()
			cfg.InitialInterval = 5 * time.Millisecond
			cfg.MaxInterval = 20 * time.Millisecond
			set := exportertest.NewNopSettings(f.Type())
			set.TelemetrySettings = tel.NewTelemetrySettings()
			exp, err := f.CreateLogs(context.Background(), set, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = exp.Shutdown(context.Background()) }()

			ld := buildLogs(recordSpec{body: "1"}, recordSpec{body: "2"}, recordSpec{body: "3"})
			err = exp.ConsumeLogs(context.Background(), ld)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ConsumeLogs error %v, want error=%v", err, tt.wantErr)
			}
			if got := len(s.Entries()); got != tt.wantStored {
				t.Errorf("stored %d entries, want %d", got, tt.wantStored)
			}
			if got := sumCounter(t, tel, "otelcol_exporter_send_failed_log_records"); got != tt.wantFailed {
				t.Errorf("send_failed_log_records %d, want %d", got, tt.wantFailed)
			}
			if got := sumCounter(t, tel, "otelcol_lokiexporter_dropped_log_records"); got != tt.wantDropped {
				t.Errorf("dropped_log_records %d, want %d", got, tt.wantDropped)
			}
		})
	}
}

func sumCounter(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0 // never recorded
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T", name, m.Data)
	}
	var n int64
	for _, dp := range sum.DataPoints {
		n += dp.Value
	}
	return n
}
