package instrumentation

// Config holds the operator-wide settings that change what injection does.
type Config struct {
	// Enabled lists the languages the operator may inject. A request for
	// any other is rejected with a warning event, as upstream does for its
	// enable-<language>-instrumentation flags.
	Enabled map[Language]bool `json:"enabled"`

	// MultiInstrumentation allows several languages in one pod, each with
	// its own <language>-container-names annotation.
	MultiInstrumentation bool `json:"multiInstrumentation"`

	// PodStatusAnnotations records the decision (StatusAnnotation, and
	// InjectedLabel when injected) on every pod that asked for injection.
	// Off by default: upstream pods carry no such annotation. Pods whose
	// Instrumentation or namespace opted into rollout get it regardless.
	PodStatusAnnotations bool `json:"podStatusAnnotations"`

	// CollectorImage is the sidecar's image for collectors without
	// spec.image: the operator's --collector-image (empty: autotel-collector's
	// default, collectorbuild.DefaultImage).
	CollectorImage string `json:"collectorImage,omitempty"`
}

// DefaultConfig matches upstream's defaults: every language on except Go
// and Nginx, multi-instrumentation on.
func DefaultConfig() Config {
	enabled := map[Language]bool{}
	for _, l := range languageTable {
		enabled[l.language] = l.enabledByDefault
	}
	return Config{Enabled: enabled, MultiInstrumentation: true}
}

func (c Config) enabled(l Language) bool {
	// inject-sdk has no enable flag upstream: it is always honoured.
	return l == SDK || c.Enabled[l]
}
