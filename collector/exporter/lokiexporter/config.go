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
	return errors.Join(errs...)
}
