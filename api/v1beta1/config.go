package v1beta1

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
)

// AnyConfig is a free-form part of the collector configuration (one
// component's settings, or a group of components keyed by their IDs), kept
// verbatim.
// +kubebuilder:pruning:PreserveUnknownFields
// +kubebuilder:validation:Type=object
// +kubebuilder:object:generate=false
type AnyConfig struct {
	Object map[string]interface{} `json:"-"`
}

// DeepCopyInto copies the free-form value; JSON values only, so
// runtime.DeepCopyJSONValue covers every case.
func (c *AnyConfig) DeepCopyInto(out *AnyConfig) {
	*out = AnyConfig{}
	if c.Object != nil {
		out.Object = runtime.DeepCopyJSONValue(c.Object).(map[string]interface{})
	}
}

// DeepCopy returns a copy.
func (c *AnyConfig) DeepCopy() *AnyConfig {
	if c == nil {
		return nil
	}
	out := new(AnyConfig)
	c.DeepCopyInto(out)
	return out
}

// UnmarshalJSON reads any JSON object.
func (c *AnyConfig) UnmarshalJSON(b []byte) error {
	var m map[string]interface{}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("collector config section must be an object: %w", err)
	}
	// Numbers come back as float64 from encoding/json; DeepCopyJSONValue
	// wants int64 for whole numbers, so normalise once here.
	c.Object = normalizeJSON(m).(map[string]interface{})
	return nil
}

// MarshalJSON writes the object ({} when empty, as upstream does).
func (c AnyConfig) MarshalJSON() ([]byte, error) {
	if c.Object == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(c.Object)
}

func normalizeJSON(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, e := range t {
			t[k] = normalizeJSON(e)
		}
		return t
	case []interface{}:
		for i, e := range t {
			t[i] = normalizeJSON(e)
		}
		return t
	case float64:
		if t == float64(int64(t)) {
			return int64(t)
		}
		return t
	default:
		return v
	}
}

// Config is the collector's configuration, structured as the collector
// reads it. The field order and JSON names are upstream's: the ConfigMap
// name and the pod's config hash are taken from this JSON.
type Config struct {
	// Receivers are the receivers' settings, keyed by component ID (e.g. otlp, otlp/2).
	// +kubebuilder:pruning:PreserveUnknownFields
	Receivers AnyConfig `json:"receivers" yaml:"receivers"`
	// Exporters are the exporters' settings, keyed by component ID.
	// +kubebuilder:pruning:PreserveUnknownFields
	Exporters AnyConfig `json:"exporters" yaml:"exporters"`
	// Processors are the processors' settings, keyed by component ID.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Processors *AnyConfig `json:"processors,omitempty" yaml:"processors,omitempty"`
	// Connectors are the connectors' settings, keyed by component ID.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Connectors *AnyConfig `json:"connectors,omitempty" yaml:"connectors,omitempty"`
	// Extensions are the extensions' settings, keyed by component ID.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Extensions *AnyConfig `json:"extensions,omitempty" yaml:"extensions,omitempty"`
	// Service wires the components into pipelines and configures the collector's own telemetry.
	Service Service `json:"service" yaml:"service"`
}

// Service is the collector's service section.
type Service struct {
	// Extensions lists the extension IDs to start.
	// +optional
	Extensions []string `json:"extensions,omitempty" yaml:"extensions,omitempty"`
	// Telemetry configures the collector's own logs and metrics (e.g. metrics.address, metrics.readers).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Telemetry *AnyConfig `json:"telemetry,omitempty" yaml:"telemetry,omitempty"`
	// Pipelines are keyed by pipeline ID (traces, metrics, logs, or type/name).
	// +kubebuilder:pruning:PreserveUnknownFields
	Pipelines map[string]*Pipeline `json:"pipelines" yaml:"pipelines"`
}

// Pipeline lists the components of one pipeline.
type Pipeline struct {
	// Exporters of this pipeline, by component ID.
	Exporters []string `json:"exporters" yaml:"exporters"`
	// Processors of this pipeline, in order, by component ID.
	// +optional
	Processors []string `json:"processors,omitempty" yaml:"processors,omitempty"`
	// Receivers of this pipeline, by component ID.
	Receivers []string `json:"receivers" yaml:"receivers"`
}
