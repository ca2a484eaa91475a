package v1alpha1

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"sigs.k8s.io/randfill"

	"github.com/autotel/autotel/api/v1beta1"
)

// randomConfig builds a collector configuration from random component IDs
// and settings, written in ConvertFrom's form so a round trip is byte-exact.
func randomConfig(c randfill.Continue) string {
	section := func(kind string) map[string]any {
		m := map[string]any{}
		for i := 0; i < c.Intn(3); i++ {
			m[fmt.Sprintf("%s%d/%s", kind, i, c.String(4))] = map[string]any{
				"endpoint": fmt.Sprintf("0.0.0.0:%d", 1024+c.Intn(60000)),
				"flag":     c.Bool(),
				"list":     []any{c.String(5), int64(c.Intn(100))},
				"nested":   map[string]any{"k": c.String(6), "ratio": 0.25},
			}
		}
		return m
	}
	cfg := v1beta1.Config{
		Receivers: v1beta1.AnyConfig{Object: section("r")},
		Exporters: v1beta1.AnyConfig{Object: section("e")},
		Service:   v1beta1.Service{Pipelines: map[string]*v1beta1.Pipeline{}},
	}
	if c.Bool() {
		cfg.Processors = &v1beta1.AnyConfig{Object: section("p")}
	}
	if c.Bool() {
		cfg.Connectors = &v1beta1.AnyConfig{Object: section("c")}
	}
	if c.Bool() {
		cfg.Extensions = &v1beta1.AnyConfig{Object: section("x")}
		cfg.Service.Extensions = []string{"x0"}
	}
	if c.Bool() {
		cfg.Service.Telemetry = &v1beta1.AnyConfig{Object: map[string]any{"metrics": map[string]any{"address": "0.0.0.0:8888"}}}
	}
	for i := 0; i < c.Intn(3); i++ {
		p := &v1beta1.Pipeline{Receivers: []string{c.String(3)}, Exporters: []string{c.String(3)}}
		if c.Bool() {
			p.Processors = []string{"batch"}
		}
		cfg.Service.Pipelines[fmt.Sprintf("traces/%d", i)] = p
	}
	s, err := ConfigToString(cfg)
	if err != nil {
		panic(err)
	}
	return s
}

// TestCollectorConversionRoundTripRandom fills v1alpha1 collectors with
// random values (every field, nested Kubernetes types included) and checks
// v1alpha1 -> v1beta1 -> v1alpha1 gives the same object: a field added to
// one version and forgotten in the conversion fails here.
func TestCollectorConversionRoundTripRandom(t *testing.T) {
	f := randfill.NewWithSeed(1).NilChance(0.3).NumElements(0, 2).MaxDepth(6).Funcs(
		func(s *OpenTelemetryCollectorSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			s.Config = randomConfig(c)
			// Deprecated fields move into autoscaler and do not come back,
			// as upstream; TestCollectorConversionDeprecatedReplicas covers them.
			s.MaxReplicas, s.MinReplicas = nil, nil
		},
		func(r *runtime.RawExtension, c randfill.Continue) {
			r.Raw = []byte(fmt.Sprintf(`{"enabled":%t,"name":%q}`, c.Bool(), c.String(8)))
		},
	)
	for i := 0; i < 300; i++ {
		var in OpenTelemetryCollector
		f.Fill(&in)
		in.TypeMeta = OpenTelemetryCollector{}.TypeMeta
		var hub v1beta1.OpenTelemetryCollector
		if err := in.DeepCopy().ConvertTo(&hub); err != nil {
			t.Fatalf("object %d: ConvertTo: %v\nconfig:\n%s", i, err, in.Spec.Config)
		}
		var out OpenTelemetryCollector
		if err := out.ConvertFrom(&hub); err != nil {
			t.Fatalf("object %d: ConvertFrom: %v", i, err)
		}
		if !equality.Semantic.DeepEqual(in, out) {
			t.Fatalf("object %d changed in a round trip:\n%s", i, diff.Diff(in, out))
		}
	}
}
