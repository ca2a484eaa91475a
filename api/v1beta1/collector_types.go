package v1beta1

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Mode is how the collector runs.
// +kubebuilder:validation:Enum=daemonset;deployment;sidecar;statefulset
type Mode string

const (
	ModeDaemonSet   Mode = "daemonset"
	ModeDeployment  Mode = "deployment"
	ModeSidecar     Mode = "sidecar"
	ModeStatefulSet Mode = "statefulset"
)

// UpgradeStrategy says whether the operator migrates the resource when it upgrades.
// +kubebuilder:validation:Enum=automatic;none
type UpgradeStrategy string

const (
	UpgradeStrategyAutomatic UpgradeStrategy = "automatic"
	UpgradeStrategyNone      UpgradeStrategy = "none"
)

// ManagementStateType says whether the operator reconciles the resource.
// +kubebuilder:validation:Enum=managed;unmanaged
type ManagementStateType string

const (
	// ManagementStateManaged: the operator creates and updates the collector's objects.
	ManagementStateManaged ManagementStateType = "managed"
	// ManagementStateUnmanaged: the operator leaves the resource and its objects alone.
	ManagementStateUnmanaged ManagementStateType = "unmanaged"
)

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=otelcol;otelcols
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.scale.replicas,selectorpath=.status.scale.selector
// +kubebuilder:printcolumn:name="Mode",type="string",JSONPath=".spec.mode",description="Deployment Mode"
// +kubebuilder:printcolumn:name="Version",type="string",JSONPath=".status.version",description="OpenTelemetry Version"
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.scale.statusReplicas"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="Image",type="string",JSONPath=".status.image"
// +kubebuilder:printcolumn:name="Management",type="string",JSONPath=".spec.managementState",description="Management State"

// OpenTelemetryCollector runs an OpenTelemetry Collector as a Deployment,
// DaemonSet, StatefulSet or pod sidecar with the given configuration.
type OpenTelemetryCollector struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   OpenTelemetryCollectorSpec   `json:"spec,omitempty"`
	Status OpenTelemetryCollectorStatus `json:"status,omitempty"`
}

// Hub marks v1beta1 as the version every other version converts through.
func (*OpenTelemetryCollector) Hub() {}

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

// OpenTelemetryCollectorSpec is the desired collector.
type OpenTelemetryCollectorSpec struct {
	OpenTelemetryCommonFields `json:",inline"`
	StatefulSetCommonFields   `json:",inline"`
	// Autoscaler makes a HorizontalPodAutoscaler for the workload when maxReplicas is set.
	// +optional
	Autoscaler *AutoscalerSpec `json:"autoscaler,omitempty"`
	// TargetAllocator configures upstream's Prometheus target allocator. Accepted and
	// stored for compatibility; autotel does not run a target allocator.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	TargetAllocator *runtime.RawExtension `json:"targetAllocator,omitempty"`
	// Mode is how the collector is deployed: deployment, daemonset, statefulset or sidecar.
	// +optional
	// +kubebuilder:default:=deployment
	Mode Mode `json:"mode,omitempty"`
	// UpgradeStrategy is how the operator handles the resource when a newer operator is installed.
	// +optional
	// +kubebuilder:default:=automatic
	UpgradeStrategy UpgradeStrategy `json:"upgradeStrategy"`
	// Config is the collector's configuration, kept verbatim. Write empty
	// components as `batch: {}` so kubectl edit and kustomize keep them.
	// +required
	// +kubebuilder:pruning:PreserveUnknownFields
	Config Config `json:"config"`
	// ConfigVersions is how many versions of the configuration are kept, one ConfigMap each.
	// +optional
	// +kubebuilder:default:=3
	// +kubebuilder:validation:Minimum:=1
	ConfigVersions int `json:"configVersions,omitempty"`
	// Ingress exposes the collector (upstream feature; stored, not acted on by autotel yet).
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Ingress *runtime.RawExtension `json:"ingress,omitempty"`
	// HttpRoute exposes the collector through a Gateway API HTTPRoute (stored, not acted on by autotel yet).
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	HttpRoute *runtime.RawExtension `json:"httpRoute,omitempty"`
	// NetworkPolicy for the collector pods (stored, not acted on by autotel yet).
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	NetworkPolicy *runtime.RawExtension `json:"networkPolicy,omitempty"`
	// LivenessProbe tunes the liveness probe made from the health_check extension.
	// +optional
	LivenessProbe *Probe `json:"livenessProbe,omitempty"`
	// ReadinessProbe tunes the readiness probe made from the health_check extension.
	// +optional
	ReadinessProbe *Probe `json:"readinessProbe,omitempty"`
	// StartupProbe tunes the startup probe made from the health_check extension.
	// +optional
	StartupProbe *Probe `json:"startupProbe,omitempty"`
	// Observability says how the collector's own telemetry is exposed.
	// +optional
	Observability ObservabilitySpec `json:"observability,omitempty"`
	// ConfigMaps in the collector's namespace mounted into its pods as volumes `configmap-<name>`.
	// +listType=atomic
	// +optional
	ConfigMaps []ConfigMapsSpec `json:"configmaps,omitempty"`
	// DaemonSetUpdateStrategy is the DaemonSet's update strategy (daemonset mode).
	// +optional
	DaemonSetUpdateStrategy appsv1.DaemonSetUpdateStrategy `json:"daemonSetUpdateStrategy,omitempty"`
	// DeploymentUpdateStrategy is the Deployment's update strategy (deployment mode).
	// +optional
	DeploymentUpdateStrategy appsv1.DeploymentStrategy `json:"deploymentUpdateStrategy,omitempty"`
	// Command replaces the container's entrypoint; the image's is used when empty.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	Command []string `json:"command,omitempty"`
}

// OpenTelemetryCommonFields are the pod and workload settings.
type OpenTelemetryCommonFields struct {
	// ManagementState: managed (the operator reconciles) or unmanaged (left alone).
	// +required
	// +kubebuilder:validation:Required
	// +kubebuilder:default:=managed
	ManagementState ManagementStateType `json:"managementState,omitempty"`
	// Resources of the collector container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// NodeSelector of the collector pods (not sidecar mode).
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Args are extra collector arguments, each given as --key=value.
	// +optional
	Args map[string]string `json:"args,omitempty"`
	// Replicas of the Deployment or StatefulSet when not autoscaled.
	// +optional
	// +kubebuilder:default:=1
	Replicas *int32 `json:"replicas,omitempty"`
	// PodDisruptionBudget of the workload; deployment and statefulset modes
	// get maxUnavailable 1 when unset.
	// +optional
	PodDisruptionBudget *PodDisruptionBudgetSpec `json:"podDisruptionBudget,omitempty"`
	// SecurityContext of the collector container.
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
	// PodSecurityContext of the collector pods (ignored in sidecar mode).
	// +optional
	PodSecurityContext *corev1.PodSecurityContext `json:"podSecurityContext,omitempty"`
	// PodAnnotations are added to the collector pods.
	// +optional
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`
	// ServiceAccount names an existing ServiceAccount; none is created when set.
	// +optional
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// Image of the collector container; the operator's --collector-image when empty.
	// +optional
	Image string `json:"image,omitempty"`
	// ImagePullPolicy of the collector container.
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// VolumeMounts of the collector container.
	// +optional
	// +listType=atomic
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
	// Ports are added to the container and Services on top of those inferred
	// from the receivers; on a clash these win.
	// +optional
	// +listType=atomic
	Ports []PortsSpec `json:"ports,omitempty"`
	// Env of the collector container.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// EnvFrom of the collector container.
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
	// Tolerations of the collector pods (not sidecar mode).
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Volumes of the collector pods.
	// +optional
	// +listType=atomic
	Volumes []corev1.Volume `json:"volumes,omitempty"`
	// Affinity of the collector pods (not sidecar mode).
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// Lifecycle hooks of the collector container.
	// +optional
	Lifecycle *corev1.Lifecycle `json:"lifecycle,omitempty"`
	// TerminationGracePeriodSeconds of the collector pods.
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
	// TopologySpreadConstraints of the collector pods (deployment and statefulset modes).
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// HostNetwork runs the pods in the node's network namespace.
	// +optional
	HostNetwork bool `json:"hostNetwork,omitempty"`
	// ShareProcessNamespace shares one process namespace among the pod's containers.
	// +optional
	ShareProcessNamespace bool `json:"shareProcessNamespace,omitempty"`
	// PriorityClassName of the collector pods (not sidecar mode).
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// InitContainers added to the collector pods.
	// +optional
	InitContainers []corev1.Container `json:"initContainers,omitempty"`
	// AdditionalContainers added to the collector pods (not sidecar mode);
	// the operator's own container is named otc-container.
	// +optional
	AdditionalContainers []corev1.Container `json:"additionalContainers,omitempty"`
	// PodDNSConfig of the collector pods.
	// +optional
	PodDNSConfig corev1.PodDNSConfig `json:"podDnsConfig,omitempty"`
	// IpFamilies of the Services.
	// +optional
	IpFamilies []corev1.IPFamily `json:"ipFamilies,omitempty"`
	// IpFamilyPolicy of the Services.
	// +kubebuilder:default:=SingleStack
	// +optional
	IpFamilyPolicy *corev1.IPFamilyPolicy `json:"ipFamilyPolicy,omitempty"`
}

// StatefulSetCommonFields apply in statefulset mode.
type StatefulSetCommonFields struct {
	// VolumeClaimTemplates of the StatefulSet.
	// +optional
	// +listType=atomic
	VolumeClaimTemplates []corev1.PersistentVolumeClaim `json:"volumeClaimTemplates,omitempty"`
	// PersistentVolumeClaimRetentionPolicy of the StatefulSet.
	// +optional
	PersistentVolumeClaimRetentionPolicy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitempty"`
}

// AutoscalerSpec is the HorizontalPodAutoscaler made for the workload.
type AutoscalerSpec struct {
	// MinReplicas is the lower bound; defaults to spec.replicas.
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// MaxReplicas is the upper bound; setting it turns autoscaling on.
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
	// Behavior of the HorizontalPodAutoscaler.
	// +optional
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	// Metrics are extra Pods metrics to scale on.
	// +optional
	Metrics []MetricSpec `json:"metrics,omitempty"`
	// TargetCPUUtilization is the average CPU percentage to scale at (default 90).
	// +optional
	TargetCPUUtilization *int32 `json:"targetCPUUtilization,omitempty"`
	// TargetMemoryUtilization is the average memory percentage to scale at.
	// +optional
	TargetMemoryUtilization *int32 `json:"targetMemoryUtilization,omitempty"`
}

// MetricSpec is a Pods metric for the HorizontalPodAutoscaler.
type MetricSpec struct {
	// Type of the metric source (Pods).
	Type autoscalingv2.MetricSourceType `json:"type"`
	// Pods is the per-pod metric.
	// +optional
	Pods *autoscalingv2.PodsMetricSource `json:"pods,omitempty"`
}

// PodDisruptionBudgetSpec is the workload's PodDisruptionBudget.
type PodDisruptionBudgetSpec struct {
	// MinAvailable pods after an eviction.
	// +optional
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`
	// MaxUnavailable pods after an eviction.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// PortsSpec is a Service port with an optional host port on the container.
type PortsSpec struct {
	// HostPort binds the container port on the node.
	// +optional
	HostPort int32 `json:"hostPort,omitempty"`

	corev1.ServicePort `json:",inline"`
}

// Probe tunes a probe; the handler comes from the health_check extension.
type Probe struct {
	// InitialDelaySeconds before the first probe.
	// +optional
	InitialDelaySeconds *int32 `json:"initialDelaySeconds,omitempty"`
	// TimeoutSeconds of one probe.
	// +optional
	TimeoutSeconds *int32 `json:"timeoutSeconds,omitempty"`
	// PeriodSeconds between probes.
	// +optional
	PeriodSeconds *int32 `json:"periodSeconds,omitempty"`
	// SuccessThreshold of consecutive successes.
	// +optional
	SuccessThreshold *int32 `json:"successThreshold,omitempty"`
	// FailureThreshold of consecutive failures.
	// +optional
	FailureThreshold *int32 `json:"failureThreshold,omitempty"`
	// TerminationGracePeriodSeconds after a failed probe.
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// ObservabilitySpec is how the collector's own telemetry is exposed.
type ObservabilitySpec struct {
	// Metrics settings.
	// +optional
	Metrics MetricsConfigSpec `json:"metrics,omitempty"`
}

// MetricsConfigSpec configures the collector's own metrics.
type MetricsConfigSpec struct {
	// EnableMetrics creates ServiceMonitors/PodMonitors when the Prometheus operator is installed.
	// +optional
	EnableMetrics bool `json:"enableMetrics,omitempty"`
	// DisablePrometheusAnnotations leaves out the prometheus.io/* annotations.
	// +optional
	DisablePrometheusAnnotations bool `json:"disablePrometheusAnnotations,omitempty"`
	// ExtraLabels are added to the ServiceMonitor/PodMonitor.
	// +optional
	ExtraLabels map[string]string `json:"extraLabels,omitempty"`
}

// ConfigMapsSpec mounts a ConfigMap into the collector pods.
type ConfigMapsSpec struct {
	// Name of the ConfigMap.
	Name string `json:"name"`
	// MountPath under /var/conf.
	MountPath string `json:"mountpath"`
}

// ScaleSubresourceStatus is the scale subresource's status.
type ScaleSubresourceStatus struct {
	// Selector of the collector pods, as a label selector string.
	// +optional
	Selector string `json:"selector,omitempty"`
	// Replicas is the number of collector pods.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// StatusReplicas is "ready/total".
	// +optional
	StatusReplicas string `json:"statusReplicas,omitempty"`
}

// OpenTelemetryCollectorStatus is the observed collector.
type OpenTelemetryCollectorStatus struct {
	// Scale is the scale subresource's status.
	// +optional
	Scale ScaleSubresourceStatus `json:"scale,omitempty"`
	// Version of the collector the image runs (its tag).
	// +optional
	Version string `json:"version,omitempty"`
	// Image the collector runs.
	// +optional
	Image string `json:"image,omitempty"`
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready with reason Reconciled or ReconcileError.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

func init() {
	SchemeBuilder.Register(&OpenTelemetryCollector{}, &OpenTelemetryCollectorList{})
}
