package v1alpha1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/autotel/autotel/api/v1beta1"
)

// Configurations in the form ConvertFrom writes (sorted keys, two-space
// indent), so a round trip must give the same bytes back.
const (
	cfgOTLP = `exporters:
  debug: {}
processors:
  batch: {}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
      http: {}
service:
  pipelines:
    traces:
      exporters:
      - debug
      processors:
      - batch
      receivers:
      - otlp
`
	cfgFull = `connectors:
  count: {}
exporters:
  loki:
    endpoint: http://loki:3100/loki/api/v1/push
  otlphttp/2:
    endpoint: http://x:4318
    headers:
      a: b
    timeout: 1.5
extensions:
  health_check:
    endpoint: 0.0.0.0:13133
receivers:
  filelog:
    include:
    - /var/log/pods/*/*/*.log
    start_at: end
  otlp:
    protocols:
      http:
        endpoint: 0.0.0.0:4318
service:
  extensions:
  - health_check
  pipelines:
    logs:
      exporters:
      - loki
      - count
      receivers:
      - filelog
    metrics/count:
      exporters:
      - otlphttp/2
      receivers:
      - count
  telemetry:
    metrics:
      address: 0.0.0.0:8888
`
)

func roundTripCases() []OpenTelemetryCollector {
	meta := metav1.ObjectMeta{Name: "c", Namespace: "ns", Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"x": "y"}, Generation: 3}
	maxU := intstr.FromInt32(1)
	return []OpenTelemetryCollector{
		{ObjectMeta: meta, Spec: OpenTelemetryCollectorSpec{Config: cfgOTLP}},
		{ObjectMeta: meta, Spec: OpenTelemetryCollectorSpec{
			Config: cfgFull, Mode: v1beta1.ModeDaemonSet, UpgradeStrategy: v1beta1.UpgradeStrategyNone, ConfigVersions: 5,
			OpenTelemetryCommonFields: v1beta1.OpenTelemetryCommonFields{
				ManagementState: v1beta1.ManagementStateUnmanaged,
				Image:           "otel/opentelemetry-collector-contrib:0.120.0",
				Args:            map[string]string{"feature-gates": "-a"},
				Replicas:        ptr.To[int32](2),
				Env:             []corev1.EnvVar{{Name: "K8S_NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
				Volumes:         []corev1.Volume{{Name: "varlog", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}}},
				VolumeMounts:    []corev1.VolumeMount{{Name: "varlog", MountPath: "/var/log", ReadOnly: true}},
				Ports:           []v1beta1.PortsSpec{{HostPort: 4318, ServicePort: corev1.ServicePort{Name: "custom", Port: 9999, Protocol: corev1.ProtocolUDP}}},
				Resources:       corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}},
				NodeSelector:    map[string]string{"kubernetes.io/os": "linux"},
				Tolerations:     []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
				ServiceAccount:  "sa",
				PodAnnotations:  map[string]string{"p": "q"},
				HostNetwork:     true,
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
			Observability:  v1beta1.ObservabilitySpec{Metrics: v1beta1.MetricsConfigSpec{EnableMetrics: true}},
		}},
		{ObjectMeta: meta, Spec: OpenTelemetryCollectorSpec{
			Config: cfgOTLP, Mode: v1beta1.ModeStatefulSet,
			OpenTelemetryCommonFields: v1beta1.OpenTelemetryCommonFields{PodDisruptionBudget: &v1beta1.PodDisruptionBudgetSpec{MaxUnavailable: &maxU}},
			StatefulSetCommonFields: v1beta1.StatefulSetCommonFields{VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec:       corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}},
			}}},
			Autoscaler:               &v1beta1.AutoscalerSpec{MinReplicas: ptr.To[int32](1), MaxReplicas: ptr.To[int32](4), TargetCPUUtilization: ptr.To[int32](70)},
			TargetAllocator:          &runtime.RawExtension{Raw: []byte(`{"enabled":true,"prometheusCR":{"enabled":true}}`)},
			Ingress:                  &runtime.RawExtension{Raw: []byte(`{"type":"ingress","hostname":"x.example"}`)},
			LivenessProbe:            &v1beta1.Probe{PeriodSeconds: ptr.To[int32](7)},
			ConfigMaps:               []v1beta1.ConfigMapsSpec{{Name: "extra", MountPath: "/x"}},
			DeploymentUpdateStrategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
		}, Status: v1beta1.OpenTelemetryCollectorStatus{Version: "0.148.0", Image: "i", Scale: v1beta1.ScaleSubresourceStatus{Replicas: 2, StatusReplicas: "1/2", Selector: "a=b"}}},
		{ObjectMeta: meta, Spec: OpenTelemetryCollectorSpec{Config: cfgOTLP, Mode: v1beta1.ModeSidecar,
			OpenTelemetryCommonFields: v1beta1.OpenTelemetryCommonFields{SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}}}},
	}
}

func TestCollectorConversionRoundTrip(t *testing.T) {
	for i, in := range roundTripCases() {
		var hub v1beta1.OpenTelemetryCollector
		if err := in.DeepCopy().ConvertTo(&hub); err != nil {
			t.Fatalf("case %d: ConvertTo: %v", i, err)
		}
		var out OpenTelemetryCollector
		if err := out.ConvertFrom(&hub); err != nil {
			t.Fatalf("case %d: ConvertFrom: %v", i, err)
		}
		if d := cmp.Diff(in, out); d != "" {
			t.Errorf("case %d: v1alpha1 -> v1beta1 -> v1alpha1 changed the object (-in +out):\n%s", i, d)
		}
	}
}

func TestCollectorConversionStructuresConfig(t *testing.T) {
	in := roundTripCases()[1]
	var hub v1beta1.OpenTelemetryCollector
	if err := in.ConvertTo(&hub); err != nil {
		t.Fatal(err)
	}
	if _, ok := hub.Spec.Config.Receivers.Object["filelog"]; !ok {
		t.Errorf("receivers lack filelog: %v", hub.Spec.Config.Receivers.Object)
	}
	if got := hub.Spec.Config.Service.Pipelines["logs"].Exporters; !cmp.Equal(got, []string{"loki", "count"}) {
		t.Errorf("logs exporters = %v", got)
	}
	if hub.Spec.DaemonSetUpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
		t.Errorf("updateStrategy not carried to daemonSetUpdateStrategy: %+v", hub.Spec.DaemonSetUpdateStrategy)
	}
}

func TestCollectorConversionDeprecatedReplicas(t *testing.T) {
	in := OpenTelemetryCollector{Spec: OpenTelemetryCollectorSpec{Config: cfgOTLP, MaxReplicas: ptr.To[int32](5), MinReplicas: ptr.To[int32](2)}}
	var hub v1beta1.OpenTelemetryCollector
	if err := in.ConvertTo(&hub); err != nil {
		t.Fatal(err)
	}
	if a := hub.Spec.Autoscaler; a == nil || *a.MaxReplicas != 5 || *a.MinReplicas != 2 {
		t.Errorf("maxReplicas/minReplicas not moved into autoscaler: %+v", a)
	}
}

func TestCollectorConversionRejectsBadConfig(t *testing.T) {
	for _, c := range []string{"receivers: [", "receivers: {}\nunknownsection: {}\n", "- a\n"} {
		in := OpenTelemetryCollector{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "ns"}, Spec: OpenTelemetryCollectorSpec{Config: c}}
		var hub v1beta1.OpenTelemetryCollector
		if err := in.ConvertTo(&hub); err == nil {
			t.Errorf("config %q converted without error", c)
		}
	}
}
