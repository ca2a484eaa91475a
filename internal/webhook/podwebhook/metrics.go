package podwebhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics answer "is injection happening, and if not why" without reading
// logs (upstream issue #3702). They are served on the manager's metrics
// endpoint.
var (
	mutations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "autotel_pod_mutations_total",
		Help: "Pod admissions that asked for injection, by language (\"sidecar\" for the collector sidecar) and outcome (injected, skipped, error, disabled; removed for the sidecar).",
	}, []string{"language", "outcome"})
	admissionSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "autotel_pod_webhook_duration_seconds",
		Help:    "Time the pod webhook spent on one admission, by outcome.",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	}, []string{"outcome"})
)

func init() {
	metrics.Registry.MustRegister(mutations, admissionSeconds)
}
