package v1alpha1

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/autotel/autotel/api/v1beta1"
)

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=otelcol;otelcols
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.scale.replicas,selectorpath=.status.scale.selector
// +kubebuilder:printcolumn:name="Mode",type="string",JSONPath=".spec.mode",description="Deployment Mode"
// +kubebuilder:printcolumn:name="Version",type="string",JSONPath=".status.version",description="OpenTelemetry Version"
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.scale.statusReplicas"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="Image",type="string",JSONPath=".status.image"
// +kubebuilder:printcolumn:name="Management",type="string",JSONPath=".spec.managementState",description="Management State"

// OpenTelemetryCollector at v1alpha1: the configuration is one YAML string.
// Served and converted to and from v1beta1, the stored version.
type OpenTelemetryCollector struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   OpenTelemetryCollectorSpec           `json:"spec,omitempty"`
	Status v1beta1.OpenTelemetryCollectorStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// OpenTelemetryCollectorList is a list of OpenTelemetryCollectors.
type OpenTelemetryCollectorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OpenTelemetryCollector `json:"items"`
}

// +kubebuilder:validation:XValidation:rule="!(self.mode == 'sidecar' && size(self.tolerations) > 0) || !has(self.tolerations)",message="the OpenTelemetry Collector mode is set to sidecar, which does not support the attribute 'tolerations'"
// +kubebuilder:validation:XValidation:rule="!(self.mode == 'sidecar' && self.priorityClassName != '') || !has(self.priorityClassName)",message="the OpenTelemetry Collector mode is set to sidecar, which does not support the attribute 'priorityClassName'"
// +kubebuilder:validation:XValidation:rule="!(self.mode == 'sidecar' && self.affinity != null) || !has(self.affinity)",message="the OpenTelemetry Collector mode is set to sidecar, which does not support the attribute 'affinity'"
// +kubebuilder:validation:XValidation:rule="!(self.mode == 'sidecar' && size(self.additionalContainers) > 0) || !has(self.additionalContainers)",message="the OpenTelemetry Collector mode is set to sidecar, which does not support the attribute 'additionalContainers'"

// OpenTelemetryCollectorSpec is the desired collector at v1alpha1.
type OpenTelemetryCollectorSpec struct {
	v1beta1.OpenTelemetryCommonFields `json:",inline"`
	v1beta1.StatefulSetCommonFields   `json:",inline"`
	// Config is the collector's configuration as a YAML document.
	// +required
	Config string `json:"config,omitempty"`
	// Mode is how the collector is deployed: deployment, daemonset, statefulset or sidecar.
	// +optional
	// +kubebuilder:default:=deployment
	Mode v1beta1.Mode `json:"mode,omitempty"`
	// UpgradeStrategy is how the operator handles the resource when a newer operator is installed.
	// +optional
	// +kubebuilder:default:=automatic
	UpgradeStrategy v1beta1.UpgradeStrategy `json:"upgradeStrategy"`
	// ConfigVersions is how many versions of the configuration are kept, one ConfigMap each.
	// +optional
	// +kubebuilder:default:=3
	// +kubebuilder:validation:Minimum:=1
	ConfigVersions int `json:"configVersions,omitempty"`
	// MaxReplicas is deprecated: use autoscaler.maxReplicas.
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
	// MinReplicas is deprecated: use autoscaler.minReplicas.
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// Autoscaler makes a HorizontalPodAutoscaler for the workload when maxReplicas is set.
	// +optional
	Autoscaler *v1beta1.AutoscalerSpec `json:"autoscaler,omitempty"`
	// TargetAllocator configures upstream's Prometheus target allocator (stored, not run by autotel).
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	TargetAllocator *runtime.RawExtension `json:"targetAllocator,omitempty"`
	// Ingress exposes the collector (stored, not acted on by autotel yet).
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Ingress *runtime.RawExtension `json:"ingress,omitempty"`
	// LivenessProbe tunes the liveness probe made from the health_check extension.
	// +optional
	LivenessProbe *v1beta1.Probe `json:"livenessProbe,omitempty"`
	// Observability says how the collector's own telemetry is exposed.
	// +optional
	Observability v1beta1.ObservabilitySpec `json:"observability,omitempty"`
	// ConfigMaps in the collector's namespace mounted into its pods.
	// +listType=atomic
	// +optional
	ConfigMaps []v1beta1.ConfigMapsSpec `json:"configmaps,omitempty"`
	// UpdateStrategy is the DaemonSet's update strategy (daemonset mode).
	// +optional
	UpdateStrategy appsv1.DaemonSetUpdateStrategy `json:"updateStrategy,omitempty"`
	// DeploymentUpdateStrategy is the Deployment's update strategy (deployment mode).
	// +optional
	DeploymentUpdateStrategy appsv1.DeploymentStrategy `json:"deploymentUpdateStrategy,omitempty"`
}

func init() {
	SchemeBuilder.Register(&OpenTelemetryCollector{}, &OpenTelemetryCollectorList{})
}
