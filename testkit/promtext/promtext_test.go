package promtext_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/autotel/autotel/testkit/promtext"
)

const page = `# HELP otelcol_exporter_sent_log_records_total Sent.
# TYPE otelcol_exporter_sent_log_records_total counter
otelcol_exporter_sent_log_records_total{exporter="loki",service_name="c"} 5
otelcol_exporter_sent_log_records_total{exporter="debug",service_name="c"} 2
# TYPE otelcol_exporter_queue_size gauge
otelcol_exporter_queue_size{exporter="loki"} 7
# TYPE otelcol_exporter_queue_size_other gauge
otelcol_exporter_queue_size_other{exporter="loki"} 100
# TYPE req_seconds histogram
req_seconds_bucket{le="1"} 2
req_seconds_bucket{le="+Inf"} 3
req_seconds_sum 4.5
req_seconds_count 3
`

func TestSum(t *testing.T) {
	for _, tt := range []struct {
		name     string
		matchers []string
		want     float64
	}{
		{"otelcol_exporter_sent_log_records", nil, 7},
		{"otelcol_exporter_sent_log_records_total", nil, 7},
		{"otelcol_exporter_sent_log_records", []string{`exporter="loki"`}, 5},
		{"otelcol_exporter_sent_log_records", []string{`exporter="lok"`}, 0}, // exact, not a substring
		{"otelcol_exporter_sent_log_records", []string{`exporter="loki"`, `service_name="c"`}, 5},
		{"otelcol_exporter_queue_size", nil, 7}, // not the family with a longer name
		{"req_seconds_count", nil, 3},
		{"req_seconds_sum", nil, 4.5},
		{"absent", nil, 0},
	} {
		got, err := promtext.Sum(strings.NewReader(page), tt.name, tt.matchers...)
		if err != nil || got != tt.want {
			t.Errorf("Sum(%s, %v) = %v, %v; want %v", tt.name, tt.matchers, got, err, tt.want)
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := promtext.Sum(strings.NewReader(page), "x", `exporter=loki`); err == nil || !strings.Contains(err.Error(), "exporter=loki") {
		t.Errorf("unquoted matcher: %v", err)
	}
	if _, err := promtext.Sum(strings.NewReader("bad line {\n"), "x"); err == nil {
		t.Error("malformed exposition parsed without error")
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, page)
	}))
	defer srv.Close()
	if got, err := promtext.Scrape(srv.URL+"/metrics", "otelcol_exporter_queue_size", `exporter="loki"`); err != nil || got != 7 {
		t.Errorf("Scrape = %v, %v; want 7", got, err)
	}
	if _, err := promtext.Scrape(srv.URL+"/nope", "x"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Scrape of a 404: %v", err)
	}
}
