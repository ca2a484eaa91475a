package v1alpha1

// Propagator is an OTEL_PROPAGATORS entry.
// +kubebuilder:validation:Enum=tracecontext;baggage;b3;b3multi;jaeger;xray;ottrace;none
type Propagator string

// The propagators the OpenTelemetry SDKs understand.
const (
	TraceContext Propagator = "tracecontext"
	Baggage      Propagator = "baggage"
	B3           Propagator = "b3"
	B3Multi      Propagator = "b3multi"
	Jaeger       Propagator = "jaeger"
	XRay         Propagator = "xray"
	OTTrace      Propagator = "ottrace"
	None         Propagator = "none"
)

// SamplerType is an OTEL_TRACES_SAMPLER value.
// +kubebuilder:validation:Enum=always_on;always_off;traceidratio;parentbased_always_on;parentbased_always_off;parentbased_traceidratio;jaeger_remote;xray
type SamplerType string

// The samplers the OpenTelemetry SDKs understand. ParentBasedJaegerRemote is
// accepted by the validator but, as upstream, absent from the CRD enum.
const (
	AlwaysOn                SamplerType = "always_on"
	AlwaysOff               SamplerType = "always_off"
	TraceIDRatio            SamplerType = "traceidratio"
	ParentBasedAlwaysOn     SamplerType = "parentbased_always_on"
	ParentBasedAlwaysOff    SamplerType = "parentbased_always_off"
	ParentBasedTraceIDRatio SamplerType = "parentbased_traceidratio"
	JaegerRemote            SamplerType = "jaeger_remote"
	ParentBasedJaegerRemote SamplerType = "parentbased_jaeger_remote"
	XRaySampler             SamplerType = "xray"
)
