// Package promtext reads Prometheus text expositions (a /metrics page) with
// the Prometheus project's own parser, for tests that assert on a
// process's metrics.
package promtext

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sum adds up the samples of the metric family name — or name_total, the
// name a counter is exposed under — whose labels match every matcher.
// A matcher is written as in a PromQL selector, `key="value"`, and matches
// exactly. Counters, gauges and untyped samples count by value; for a
// histogram or summary, name_count and name_sum select the sample count
// and sum. A metric that is not exposed at all sums to 0.
func Sum(r io.Reader, name string, matchers ...string) (float64, error) {
	want, err := parseMatchers(matchers)
	if err != nil {
		return 0, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return 0, fmt.Errorf("parsing the Prometheus text exposition: %w", err)
	}
	// Which families hold the samples, and which number of each counts.
	pick := map[string]func(*dto.Metric) float64{name: value, name + "_total": value}
	if base, ok := strings.CutSuffix(name, "_count"); ok {
		pick[base] = count
	}
	if base, ok := strings.CutSuffix(name, "_sum"); ok {
		pick[base] = sumOf
	}
	var sum float64
	for fam, get := range pick {
		for _, m := range families[fam].GetMetric() {
			if matches(m, want) {
				sum += get(m)
			}
		}
	}
	return sum, nil
}

// Scrape fetches url (a /metrics page) and returns Sum over it.
func Scrape(url, name string, matchers ...string) (float64, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scraping %s: HTTP %d", url, resp.StatusCode)
	}
	v, err := Sum(resp.Body, name, matchers...)
	if err != nil {
		return 0, fmt.Errorf("scraping %s: %w", url, err)
	}
	return v, nil
}

func parseMatchers(matchers []string) (map[string]string, error) {
	want := map[string]string{}
	for _, m := range matchers {
		k, quoted, ok := strings.Cut(m, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label matcher %q: want key=\"value\"", m)
		}
		v, err := strconv.Unquote(quoted)
		if err != nil {
			return nil, fmt.Errorf("label matcher %q: the value must be a quoted string: %w", m, err)
		}
		want[strings.TrimSpace(k)] = v
	}
	return want, nil
}

func matches(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func count(m *dto.Metric) float64 { n, _ := countAndSum(m); return n }

func sumOf(m *dto.Metric) float64 { _, v := countAndSum(m); return v }

// countAndSum is a histogram's or a summary's sample count and sum.
func countAndSum(m *dto.Metric) (float64, float64) {
	switch {
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount()), m.Histogram.GetSampleSum()
	case m.Summary != nil:
		return float64(m.Summary.GetSampleCount()), m.Summary.GetSampleSum()
	}
	return 0, 0
}
