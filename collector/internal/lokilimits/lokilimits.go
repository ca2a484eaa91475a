// Package lokilimits holds Loki's per-entry limits (its limits_config keys
// of the same names) and their defaults: the one statement of them, used
// by the Loki exporter's configuration (checked before sending) and by the
// test endpoint that validates pushes the way Loki does (internal/lokipush).
package lokilimits

import "time"

// Limits are Loki's per-entry limits; 0 switches a check off.
type Limits struct {
	// MaxLineSize is Loki's max_line_size in bytes; Loki's default "256KB"
	// is 262144 bytes (measured: Loki 3.7.8 refuses a line of 262145).
	MaxLineSize int `mapstructure:"max_line_size"`
	// MaxLabelNamesPerSeries is Loki's max_label_names_per_series (Loki does
	// not count its own service_name label).
	MaxLabelNamesPerSeries int `mapstructure:"max_label_names_per_series"`
	// MaxLabelNameLength and MaxLabelValueLength are Loki's
	// max_label_name_length and max_label_value_length, in bytes.
	MaxLabelNameLength  int `mapstructure:"max_label_name_length"`
	MaxLabelValueLength int `mapstructure:"max_label_value_length"`
	// RejectOldSamplesMaxAge is Loki's reject_old_samples_max_age (with
	// reject_old_samples on, Loki's default).
	RejectOldSamplesMaxAge time.Duration `mapstructure:"reject_old_samples_max_age"`
	// CreationGracePeriod is Loki's creation_grace_period: how far in the
	// future a timestamp may be.
	CreationGracePeriod time.Duration `mapstructure:"creation_grace_period"`
}

// Defaults are Loki's limits_config defaults (pkg/validation/limits.go),
// as Loki 3.7.8 applies them.
func Defaults() Limits {
	return Limits{
		MaxLineSize:            262144,
		MaxLabelNamesPerSeries: 15,
		MaxLabelNameLength:     1024,
		MaxLabelValueLength:    2048,
		RejectOldSamplesMaxAge: 7 * 24 * time.Hour,
		CreationGracePeriod:    10 * time.Minute,
	}
}
