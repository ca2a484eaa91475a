// Package v1beta1 holds the OpenTelemetryCollector API at
// opentelemetry.io/v1beta1, the storage version, wire-compatible with the
// OpenTelemetry Operator's so existing manifests apply unchanged.
// +kubebuilder:object:generate=true
// +groupName=opentelemetry.io
package v1beta1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "opentelemetry.io", Version: "v1beta1"}

	// SchemeBuilder registers this package's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
