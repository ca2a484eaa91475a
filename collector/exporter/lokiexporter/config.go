package lokiexporter

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/autotel/autotel/collector/internal/lokilimits"
)

// Config is the loki exporter's configuration. The first four fields are the
// upstream v0.130.0 exporter's keys, so its configurations load unchanged;
// the rest are autotel additions whose zero values keep upstream behaviour.
type Config struct {
	confighttp.ClientConfig   `mapstructure:",squash"`
	QueueSettings             configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// DefaultLabelsEnabled switches the exporter, job, instance and level
	// labels; an absent key counts as enabled.
	DefaultLabelsEnabled map[string]bool `mapstructure:"default_labels_enabled"`

	// Format is the line format of records without a loki.format hint.
	Format string `mapstructure:"format"`

	// StructuredMetadata sends attributes as Loki structured metadata (Loki
	// 3.x) instead of inside the line.
	StructuredMetadata StructuredMetadataConfig `mapstructure:"structured_metadata"`

	// KubernetesLabels promotes the pod's namespace, pod and container names to
	// labels without any resource-processor hint.
	KubernetesLabels KubernetesLabelsConfig `mapstructure:"kubernetes_labels"`

	// StableInstanceLabel derives the instance label from service.instance.id
	// without a trailing "-<process.pid>", so the workers of a pre-fork server
	// (gunicorn, uwsgi) share one stream instead of one each. The full
	// service.instance.id and process.pid stay in the record.
	StableInstanceLabel bool `mapstructure:"stable_instance_label"`

	// Limits are Loki's per-entry limits, checked before sending so that one
	// bad record is dropped alone instead of being refused by Loki.
	Limits LimitsConfig `mapstructure:"limits"`
}

// LimitsConfig mirrors Loki's limits_config keys of the same names and their
// defaults (lokilimits.Limits); 0 switches a check off (set it to match your
// Loki's limits).
type LimitsConfig struct {
	lokilimits.Limits `mapstructure:",squash"`
	// TruncateLongLines cuts lines over MaxLineSize (at a UTF-8 boundary)
	// instead of dropping the record. Off by default: upstream never
	// truncated.
	TruncateLongLines bool `mapstructure:"truncate_long_lines"`
}

// Loki's limits_config defaults.
func defaultLimits() LimitsConfig {
	return LimitsConfig{Limits: lokilimits.Defaults()}
}

type StructuredMetadataConfig struct {
	// LogAttributes moves the record's remaining attributes out of the line.
	LogAttributes bool `mapstructure:"log_attributes"`
	// ResourceAttributes moves the remaining resource attributes out of the
	// line.
	ResourceAttributes bool `mapstructure:"resource_attributes"`
}

type KubernetesLabelsConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Label names for k8s.namespace.name, k8s.pod.name and k8s.container.name;
	// the defaults are the names the seed's resource processor produced.
	Namespace string `mapstructure:"namespace"`
	Pod       string `mapstructure:"pod"`
	Container string `mapstructure:"container"`
}

var defaultLabelNames = []string{labelExporter, labelJob, labelInstance, labelLevel}

func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New(`"endpoint" must be set to Loki's push URL, e.g. http://loki:3100/loki/api/v1/push`))
	} else if u, err := url.Parse(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf(`"endpoint" must be a valid URL: %w`, err))
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// url.Parse accepts "loki:3100" as scheme "loki"; such an endpoint
		// could only ever fail at the first push, so refuse it at startup.
		errs = append(errs, fmt.Errorf(`"endpoint" %q must be an absolute http:// or https:// URL, e.g. http://loki:3100/loki/api/v1/push`, c.Endpoint))
	}
	if _, err := parseFormat(c.Format); err != nil {
		errs = append(errs, fmt.Errorf(`"format": unknown format %q, expected one of: json, logfmt, raw`, c.Format))
	}
	for name := range c.DefaultLabelsEnabled {
		if !slices.Contains(defaultLabelNames, name) {
			errs = append(errs, fmt.Errorf(`"default_labels_enabled": unknown label %q, expected one of: %s`, name, strings.Join(defaultLabelNames, ", ")))
		}
	}
	if k := c.KubernetesLabels; k.Enabled {
		seen := map[string]string{}
		for _, f := range []struct{ key, name string }{{"namespace", k.Namespace}, {"pod", k.Pod}, {"container", k.Container}} {
			switch {
			case !validLabelName(f.name):
				errs = append(errs, fmt.Errorf(`"kubernetes_labels.%s": %q is not a label name Loki accepts ([a-zA-Z_][a-zA-Z0-9_]*)`, f.key, f.name))
			case strings.HasPrefix(f.name, "__"):
				errs = append(errs, fmt.Errorf(`"kubernetes_labels.%s": %q starts with "__", which Loki reserves for internal labels`, f.key, f.name))
			case seen[f.name] != "":
				errs = append(errs, fmt.Errorf(`"kubernetes_labels.%s": label name %q is also used by "kubernetes_labels.%s"`, f.key, f.name, seen[f.name]))
			default:
				seen[f.name] = f.key
			}
		}
	}
	l := c.Limits
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"max_line_size", int64(l.MaxLineSize)},
		{"max_label_names_per_series", int64(l.MaxLabelNamesPerSeries)},
		{"max_label_name_length", int64(l.MaxLabelNameLength)},
		{"max_label_value_length", int64(l.MaxLabelValueLength)},
		{"reject_old_samples_max_age", int64(l.RejectOldSamplesMaxAge)},
		{"creation_grace_period", int64(l.CreationGracePeriod)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf(`"limits.%s" must not be negative (0 switches the check off); use the value of Loki's limits_config.%s`, f.key, f.key))
		}
	}
	if l.TruncateLongLines && l.MaxLineSize == 0 {
		errs = append(errs, errors.New(`"limits.truncate_long_lines" needs "limits.max_line_size" > 0 to know where to cut`))
	}
	return errors.Join(errs...)
}
