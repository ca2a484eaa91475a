package lokiexporter

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatalf("unmarshal %s: %v", name, err)
	}
	if err := xconfmap.Validate(cfg); err != nil {
		t.Fatalf("validate %s: %v", name, err)
	}
	return cfg
}

func TestUpstreamConfigsLoad(t *testing.T) {
	cfg := loadConfig(t, "loki/allsettings")
	if cfg.Timeout != 10*time.Second || cfg.ReadBufferSize != 123 || cfg.WriteBufferSize != 345 {
		t.Errorf("client settings not applied: %+v", cfg.ClientConfig)
	}
	if q := cfg.QueueSettings.Get(); !cfg.QueueSettings.HasValue() || q.NumConsumers != 2 || q.QueueSize != 10 {
		t.Errorf("queue settings not applied: %+v", cfg.QueueSettings)
	}
	if cfg.InitialInterval != 10*time.Second || cfg.MaxInterval != time.Minute || cfg.MaxElapsedTime != 10*time.Minute {
		t.Errorf("retry settings not applied: %+v", cfg.BackOffConfig)
	}
	if v, ok := cfg.Headers.Get("X-Custom-Header"); !ok || v != "loki_rocks" {
		t.Errorf("headers not applied: %v", cfg.Headers)
	}
	tr, err := newTranslator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tr.exporterOn || tr.levelOn || !tr.jobOn || !tr.instanceOn {
		t.Errorf("default_labels_enabled: exporter/level must be off and job/instance on: %+v", tr)
	}

	def := loadConfig(t, "loki")
	if def.Timeout != 30*time.Second || def.Format != "json" || !def.QueueSettings.HasValue() || !def.Enabled {
		t.Errorf("factory defaults differ from upstream's: %+v", def)
	}

	own := loadConfig(t, "loki/autotel")
	if own.Format != "logfmt" || !own.StructuredMetadata.LogAttributes || !own.KubernetesLabels.Enabled ||
		own.KubernetesLabels.Pod != "k8s_pod" || own.KubernetesLabels.Namespace != "namespace" {
		t.Errorf("autotel settings not applied: %+v", own)
	}
}

func TestLimitsLoadAndDefault(t *testing.T) {
	def := loadConfig(t, "loki")
	if def.Limits != defaultLimits() || !def.StableInstanceLabel {
		t.Errorf("defaults: limits %+v, stable_instance_label %v; want Loki's limits and true", def.Limits, def.StableInstanceLabel)
	}
	got := loadConfig(t, "loki/limits")
	want := defaultLimits()
	want.MaxLineSize, want.TruncateLongLines, want.MaxLabelNamesPerSeries, want.RejectOldSamplesMaxAge = 1000, true, 0, 24*time.Hour
	if got.Limits != want || got.StableInstanceLabel {
		t.Errorf("loaded limits %+v, stable_instance_label %v; want %+v, false", got.Limits, got.StableInstanceLabel, want)
	}
}

func TestConfigErrorsAreEarlyAndClear(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"empty endpoint", func(c *Config) { c.Endpoint = "" }, `"endpoint" must be set`},
		{"endpoint without scheme", func(c *Config) { c.Endpoint = "loki:3100" }, "absolute http:// or https:// URL"},
		{"unparsable endpoint", func(c *Config) { c.Endpoint = "http://[::1" }, "must be a valid URL"},
		{"unknown format", func(c *Config) { c.Format = "xml" }, `unknown format "xml"`},
		{"unknown default label", func(c *Config) { c.DefaultLabelsEnabled["levle"] = false }, `unknown label "levle"`}, //nolint:misspell // the misspelt key is the point of the case
		{"label name with a dot", func(c *Config) { c.KubernetesLabels = KubernetesLabelsConfig{true, "k8s.ns", "pod", "container"} }, `"k8s.ns" is not a label name Loki accepts`},
		{"label name starting with a digit", func(c *Config) { c.KubernetesLabels = KubernetesLabelsConfig{true, "ns", "1pod", "container"} }, `"1pod" is not a label name`},
		{"non-ASCII label name", func(c *Config) { c.KubernetesLabels = KubernetesLabelsConfig{true, "ns", "pod", "контейнер"} }, "is not a label name"},
		{"reserved label name", func(c *Config) { c.KubernetesLabels = KubernetesLabelsConfig{true, "__ns", "pod", "container"} }, "reserves"},
		{"duplicate label names", func(c *Config) { c.KubernetesLabels = KubernetesLabelsConfig{true, "x", "x", "container"} }, "also used by"},
		{"negative line size", func(c *Config) { c.Limits.MaxLineSize = -1 }, `"limits.max_line_size" must not be negative`},
		{"negative max age", func(c *Config) { c.Limits.RejectOldSamplesMaxAge = -time.Hour }, `"limits.reject_old_samples_max_age" must not be negative`},
		{"negative grace", func(c *Config) { c.Limits.CreationGracePeriod = -time.Minute }, `"limits.creation_grace_period"`},
		{"negative label count", func(c *Config) { c.Limits.MaxLabelNamesPerSeries = -1 }, `"limits.max_label_names_per_series"`},
		{"negative name length", func(c *Config) { c.Limits.MaxLabelNameLength = -1 }, `"limits.max_label_name_length"`},
		{"negative value length", func(c *Config) { c.Limits.MaxLabelValueLength = -1 }, `"limits.max_label_value_length"`},
		{"truncation without a size", func(c *Config) { c.Limits.TruncateLongLines = true; c.Limits.MaxLineSize = 0 }, `"limits.truncate_long_lines" needs "limits.max_line_size"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
			if err := xconfmap.Validate(cfg); err != nil {
				t.Fatalf("valid base config rejected: %v", err)
			}
			tt.mutate(cfg)
			err := xconfmap.Validate(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestKubernetesLabelNamesAreOnlyCheckedWhenEnabled(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
	cfg.KubernetesLabels.Pod = "not valid"
	if err := xconfmap.Validate(cfg); err != nil {
		t.Errorf("disabled option's names must not fail the config: %v", err)
	}
}

func TestFactoryType(t *testing.T) {
	f := NewFactory()
	if f.Type() != component.MustNewType("loki") {
		t.Errorf("type %s, want loki", f.Type())
	}
	if f.LogsStability() != component.StabilityLevelBeta {
		t.Errorf("stability %v", f.LogsStability())
	}
}
