package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The JSON names below are the OpenTelemetry Operator's, including its
// inconsistencies (Java's `resources` vs everyone else's
// `resourceRequirements`, snake_case TLS keys): drop-in compatibility means
// the same manifests must decode to the same meaning.

// InstrumentationSpec configures the OpenTelemetry SDKs and agents that the
// pod webhook injects into workloads that ask for them by annotation.
type InstrumentationSpec struct {
	// Exporter is where the injected SDKs send telemetry.
	// +optional
	Exporter `json:"exporter,omitempty"`

	// Resource configures the resource attributes added to all telemetry.
	// +optional
	Resource Resource `json:"resource,omitempty"`

	// Propagators become OTEL_PROPAGATORS, comma-joined in this order.
	// +optional
	Propagators []Propagator `json:"propagators,omitempty"`

	// Sampler becomes OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
	// +optional
	Sampler `json:"sampler,omitempty"`

	// Defaults tunes how resource attributes are derived.
	// +optional
	Defaults Defaults `json:"defaults,omitempty"`

	// Env is added to every instrumented container of every language.
	// Precedence, highest first: the container's own env, the language's
	// env, this list, values derived from this spec. A variable already
	// set by a higher layer is never overwritten.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Java configures the Java agent.
	// +optional
	Java Java `json:"java,omitempty"`

	// NodeJS configures Node.js auto-instrumentation.
	// +optional
	NodeJS NodeJS `json:"nodejs,omitempty"`

	// Python configures Python auto-instrumentation.
	// +optional
	Python Python `json:"python,omitempty"`

	// DotNet configures .NET auto-instrumentation.
	// +optional
	DotNet DotNet `json:"dotnet,omitempty"`

	// Go configures the eBPF-based Go auto-instrumentation sidecar. It needs
	// OTEL_GO_AUTO_TARGET_EXE, from env or the
	// instrumentation.opentelemetry.io/otel-go-auto-target-exe annotation;
	// without it the pod is left unchanged.
	// +optional
	Go Go `json:"go,omitempty"`

	// ApacheHttpd configures the Apache HTTPD web server module.
	// +optional
	ApacheHttpd ApacheHttpd `json:"apacheHttpd,omitempty"`

	// Nginx configures the Nginx web server module.
	// +optional
	Nginx Nginx `json:"nginx,omitempty"`

	// ImagePullPolicy applies to every injected init container and sidecar.
	// +optional
	// +kubebuilder:validation:Enum=Always;Never;IfNotPresent
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// InitContainerSecurityContext is set on every injected init container.
	// When empty, each init container copies the securityContext of the
	// first container it instruments, so restricted namespaces admit it.
	// +optional
	InitContainerSecurityContext *corev1.SecurityContext `json:"initContainerSecurityContext,omitempty"`
}

// Resource configures resource attributes.
type Resource struct {
	// Attributes are added to the resource of every injected SDK, with the
	// lowest precedence (Kubernetes-derived values and pod annotations win).
	// +optional
	Attributes map[string]string `json:"resourceAttributes,omitempty"`

	// AddK8sUIDAttributes adds k8s.pod.uid and the owners' *.uid attributes.
	// +optional
	AddK8sUIDAttributes bool `json:"addK8sUIDAttributes,omitempty"`
}

// Exporter configures the OTLP exporter of injected SDKs.
type Exporter struct {
	// Endpoint becomes OTEL_EXPORTER_OTLP_ENDPOINT, verbatim. Python, Node.js,
	// .NET, Go and Java 2.x speak OTLP/HTTP, so this is usually port 4318.
	// An https:// endpoint needs tls.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// TLS configures certificates for an https:// endpoint.
	// +optional
	TLS *TLS `json:"tls,omitempty"`
}

// TLS names the certificates the exporter uses. Each file is a key in the
// secret or config map, or an absolute path already inside the container.
type TLS struct {
	// SecretName is a Secret in the workload's namespace holding the client
	// certificate and key, and the CA when configMapName is empty.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// ConfigMapName is a ConfigMap in the workload's namespace holding the CA.
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`

	// CA is the CA certificate's key (e.g. ca.crt) or an absolute path.
	// +optional
	CA string `json:"ca_file,omitempty"`

	// Cert is the client certificate's key (e.g. tls.crt) or an absolute path.
	// +optional
	Cert string `json:"cert_file,omitempty"`

	// Key is the client private key's key (e.g. tls.key) or an absolute path.
	// +optional
	Key string `json:"key_file,omitempty"`
}

// Sampler configures trace sampling.
type Sampler struct {
	// Type becomes OTEL_TRACES_SAMPLER.
	// +optional
	Type SamplerType `json:"type,omitempty"`

	// Argument becomes OTEL_TRACES_SAMPLER_ARG. For the ratio samplers it is a
	// number in [0,1]; for jaeger_remote a comma list of
	// endpoint=...,pollingIntervalMs=...,initialSamplingRate=....
	// +optional
	Argument string `json:"argument,omitempty"`
}

// Defaults tunes attribute derivation.
type Defaults struct {
	// UseLabelsForResourceAttributes derives service.name from the pod label
	// app.kubernetes.io/instance or app.kubernetes.io/name, and
	// service.version from app.kubernetes.io/version.
	// +optional
	UseLabelsForResourceAttributes bool `json:"useLabelsForResourceAttributes,omitempty"`
}

// VolumeSpec is shared by every language that copies files into the pod.
type VolumeSpec struct {
	// VolumeClaimTemplate makes the shared volume an ephemeral volume built
	// from this claim instead of an emptyDir. Exclusive with volumeLimitSize.
	// +optional
	VolumeClaimTemplate corev1.PersistentVolumeClaimTemplate `json:"volumeClaimTemplate,omitempty"`

	// VolumeSizeLimit is the emptyDir sizeLimit of the shared volume
	// (default 200Mi). Deprecated upstream; kept for compatibility.
	// +optional
	VolumeSizeLimit *resource.Quantity `json:"volumeLimitSize,omitempty"`
}

// Java configures the Java agent.
type Java struct {
	// Image holds /javaagent.jar.
	// +optional
	Image string `json:"image,omitempty"`

	VolumeSpec `json:",inline"`

	// Env is added to instrumented Java containers.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Resources of the init container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Extensions are copied, each by its own init container, into one
	// extensions folder passed to the agent.
	// +optional
	Extensions []Extensions `json:"extensions,omitempty"`
}

// Extensions is a Java agent extension image.
type Extensions struct {
	// Image holds the extension JARs.
	Image string `json:"image"`

	// Dir is the folder in Image holding the JARs.
	Dir string `json:"dir"`
}

// NodeJS configures Node.js auto-instrumentation.
type NodeJS struct {
	// Image holds the packages under /autoinstrumentation.
	// +optional
	Image string `json:"image,omitempty"`

	VolumeSpec `json:",inline"`

	// Env is added to instrumented Node.js containers.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Resources of the init container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resourceRequirements,omitempty"`
}

// Python configures Python auto-instrumentation.
type Python struct {
	// Image holds the packages under /autoinstrumentation (glibc) and
	// /autoinstrumentation-musl. The init container runs `cp` in it.
	// +optional
	Image string `json:"image,omitempty"`

	VolumeSpec `json:",inline"`

	// Env is added to instrumented Python containers.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Resources of the init container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resourceRequirements,omitempty"`
}

// DotNet configures .NET auto-instrumentation.
type DotNet struct {
	// Image holds the CoreCLR profiler and startup hook.
	// +optional
	Image string `json:"image,omitempty"`

	VolumeSpec `json:",inline"`

	// Env is added to instrumented .NET containers.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Resources of the init container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resourceRequirements,omitempty"`
}

// Go configures the eBPF Go auto-instrumentation sidecar.
type Go struct {
	// Image of the sidecar.
	// +optional
	Image string `json:"image,omitempty"`

	VolumeSpec `json:",inline"`

	// Env is added to the sidecar.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Resources of the sidecar.
	// +optional
	Resources corev1.ResourceRequirements `json:"resourceRequirements,omitempty"`

	// SecurityContext of the sidecar; default privileged, runAsUser 0, as
	// eBPF needs.
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
}

// ApacheHttpd configures the Apache HTTPD module.
type ApacheHttpd struct {
	// Image holds the web server agent.
	// +optional
	Image string `json:"image,omitempty"`

	VolumeSpec `json:",inline"`

	// Env is added to instrumented containers.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Attrs override the agent's generated configuration keys.
	// +optional
	Attrs []corev1.EnvVar `json:"attrs,omitempty"`

	// Version of Apache HTTPD: 2.4 (default) or 2.2.
	// +optional
	Version string `json:"version,omitempty"`

	// ConfigPath is the server's configuration folder
	// (default /usr/local/apache2/conf).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._/-]*$`
	ConfigPath string `json:"configPath,omitempty"`

	// Resources of the init containers.
	// +optional
	Resources corev1.ResourceRequirements `json:"resourceRequirements,omitempty"`
}

// Nginx configures the Nginx module.
type Nginx struct {
	// Image holds the web server agent.
	// +optional
	Image string `json:"image,omitempty"`

	VolumeSpec `json:",inline"`

	// Env is added to instrumented containers.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Attrs override the agent's generated configuration keys.
	// +optional
	Attrs []corev1.EnvVar `json:"attrs,omitempty"`

	// ConfigFile is the server's configuration file
	// (default /etc/nginx/nginx.conf).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._/-]*$`
	ConfigFile string `json:"configFile,omitempty"`

	// Resources of the init containers.
	// +optional
	Resources corev1.ResourceRequirements `json:"resourceRequirements,omitempty"`
}

// InstrumentationStatus is the observed state of an Instrumentation.
type InstrumentationStatus struct {
	// UpgradeBlockedVersions lists, per language, a default image the
	// operator did not move to because the jump breaks telemetry.
	// +optional
	UpgradeBlockedVersions map[string]string `json:"upgradeBlockedVersions,omitempty"`

	// SpecHash identifies the current spec; pods injected from another
	// hash are outdated. (autotel; absent upstream.)
	// +optional
	SpecHash string `json:"specHash,omitempty"`

	// Pods counts the pods instrumented from this Instrumentation that
	// carry autotel's status annotation. (autotel)
	// +optional
	Pods int32 `json:"pods,omitempty"`

	// OutdatedPods counts those of them injected from an older spec. (autotel)
	// +optional
	OutdatedPods int32 `json:"outdatedPods,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=otelinst;otelinsts
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="Endpoint",type="string",JSONPath=".spec.exporter.endpoint"
// +kubebuilder:printcolumn:name="Sampler",type="string",JSONPath=".spec.sampler.type"
// +kubebuilder:printcolumn:name="Sampler Arg",type="string",JSONPath=".spec.sampler.argument"
// +kubebuilder:printcolumn:name="Pods",type="integer",JSONPath=".status.pods",priority=1
// +kubebuilder:printcolumn:name="Outdated",type="integer",JSONPath=".status.outdatedPods",priority=1

// Instrumentation tells the pod webhook which SDK configuration and agent
// images to inject into pods annotated instrumentation.opentelemetry.io/inject-<language>.
type Instrumentation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   InstrumentationSpec   `json:"spec,omitempty"`
	Status InstrumentationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// InstrumentationList is a list of Instrumentations.
type InstrumentationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Instrumentation `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Instrumentation{}, &InstrumentationList{})
}
