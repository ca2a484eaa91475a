package podwebhook_test

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// series returns the samples of a metric family in the registry the
// manager serves, as a scrape would see them, filtered by labels.
func series(t *testing.T, name string, labels map[string]string) []*dto.Metric {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.Metric {
			got := map[string]string{}
			for _, l := range m.Label {
				got[l.GetName()] = l.GetValue()
			}
			ok := true
			for k, v := range labels {
				ok = ok && got[k] == v
			}
			if ok {
				out = append(out, m)
			}
		}
	}
	return out
}

func counterValue(t *testing.T, name string, labels map[string]string) float64 {
	var sum float64
	for _, m := range series(t, name, labels) {
		sum += m.GetCounter().GetValue()
	}
	return sum
}
