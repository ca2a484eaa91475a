package collectorbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1beta1"
)

// DefaultImage is autotel-collector's image, the same repository and tag the
// Helm chart installs; the operator's --collector-image overrides it.
const DefaultImage = "autotel/collector:0.1.0"

// Options are the operator-wide settings the build depends on.
type Options struct {
	// Image is used when spec.image is empty.
	Image string
}

// Default fills what upstream's defaulting webhook fills, on a copy the
// builder works from (the API server's CRD defaults cover most of these
// for stored objects; the builder must not depend on them).
func Default(c *v1beta1.OpenTelemetryCollector) {
	s := &c.Spec
	if s.Mode == "" {
		s.Mode = v1beta1.ModeDeployment
	}
	if s.ManagementState == "" {
		s.ManagementState = v1beta1.ManagementStateManaged
	}
	if s.UpgradeStrategy == "" {
		s.UpgradeStrategy = v1beta1.UpgradeStrategyAutomatic
	}
	if s.ConfigVersions < 1 {
		s.ConfigVersions = 3
	}
	if s.Replicas == nil {
		s.Replicas = ptr.To[int32](1)
	}
	if a := s.Autoscaler; a != nil && a.MaxReplicas != nil {
		if a.MinReplicas == nil {
			a.MinReplicas = ptr.To(*s.Replicas)
		}
		if a.TargetCPUUtilization == nil && a.TargetMemoryUtilization == nil && len(a.Metrics) == 0 {
			a.TargetCPUUtilization = ptr.To[int32](90)
		}
	}
	// maxUnavailable 1 never blocks a node drain, even with one replica,
	// and keeps drains from taking several replicas down at once.
	if s.PodDisruptionBudget == nil && (s.Mode == v1beta1.ModeDeployment || s.Mode == v1beta1.ModeStatefulSet) {
		one := intstr.FromInt32(1)
		s.PodDisruptionBudget = &v1beta1.PodDisruptionBudgetSpec{MaxUnavailable: &one}
	}
}

// ConfigHash is the hex sha256 of the config's JSON, as upstream computes it.
func ConfigHash(cfg v1beta1.Config) (string, error) {
	b, err := json.Marshal(&cfg)
	if err != nil {
		return "", fmt.Errorf("encoding spec.config: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Image is the collector image the resource runs.
func Image(c *v1beta1.OpenTelemetryCollector, o Options) string {
	if c.Spec.Image != "" {
		return c.Spec.Image
	}
	if o.Image != "" {
		return o.Image
	}
	return DefaultImage
}

// Version is the image's tag ("latest" without one), the version label and status.version.
func Version(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon <= slash {
		return "latest"
	}
	return image[colon+1:]
}

// SelectorLabels select the collector's pods (and match upstream's, so
// workloads it created keep their immutable selector).
func SelectorLabels(c *v1beta1.OpenTelemetryCollector) map[string]string {
	return map[string]string{
		LabelManagedBy: ManagedByValue,
		LabelInstance:  c.Namespace + "." + c.Name,
		LabelPartOf:    PartOfValue,
		LabelComponent: ComponentValue,
	}
}

// Labels of an owned object named name: the resource's own labels, then upstream's.
func Labels(c *v1beta1.OpenTelemetryCollector, name, image string) map[string]string {
	l := map[string]string{}
	for k, v := range c.Labels {
		// kubectl's last-applied bookkeeping is not the object's to copy.
		if k == "kubectl.kubernetes.io/last-applied-configuration" {
			continue
		}
		l[k] = v
	}
	maps.Copy(l, SelectorLabels(c))
	l[LabelName] = name
	l[LabelVersion] = labelValue(Version(image))
	return l
}

var invalidLabel = strings.NewReplacer("/", "-", "@", "-", "+", "-")

func labelValue(s string) string {
	s = invalidLabel.Replace(s)
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-_.")
}

// annotations of the ConfigMap and workload: Prometheus scrape hints (unless
// disabled), the resource's annotations, the config hash.
func annotations(c *v1beta1.OpenTelemetryCollector, hash string) map[string]string {
	a := map[string]string{}
	if !c.Spec.Observability.Metrics.DisablePrometheusAnnotations {
		a["prometheus.io/scrape"] = "true"
		a["prometheus.io/port"] = fmt.Sprint(metricsPort(c.Spec.Config))
		a["prometheus.io/path"] = "/metrics"
	}
	for k, v := range c.Annotations {
		if k == "kubectl.kubernetes.io/last-applied-configuration" {
			continue
		}
		a[k] = v
	}
	a[AnnotationConfigHash] = hash
	return a
}

// podAnnotations: spec.podAnnotations win over the resource's annotations; the hash always wins.
func podAnnotations(c *v1beta1.OpenTelemetryCollector, hash string) map[string]string {
	a := annotations(c, hash)
	maps.Copy(a, c.Spec.PodAnnotations)
	a[AnnotationConfigHash] = hash
	return a
}

// Build returns the objects that run the collector, in the order they
// should be applied (ConfigMap and ServiceAccount before the workload).
func Build(in *v1beta1.OpenTelemetryCollector, o Options) ([]client.Object, error) {
	c := in.DeepCopy()
	Default(c)
	hash, err := ConfigHash(c.Spec.Config)
	if err != nil {
		return nil, err
	}
	image := Image(c, o)
	var objs []client.Object

	cm, err := configMap(c, hash, image)
	if err != nil {
		return nil, err
	}
	objs = append(objs, cm)
	if c.Spec.ServiceAccount == "" {
		objs = append(objs, &corev1.ServiceAccount{ObjectMeta: meta(c, Collector(c.Name), image, maps.Clone(nonKubectl(c.Annotations)))})
	}
	if c.Spec.Mode == v1beta1.ModeSidecar {
		// The sidecar is injected into application pods; nothing else runs.
		return objs, nil
	}

	pod := podTemplate(c, hash, image, cm.Name)
	name := Collector(c.Name)
	sel := &metav1.LabelSelector{MatchLabels: SelectorLabels(c)}
	wmeta := meta(c, name, image, annotations(c, hash))
	switch c.Spec.Mode {
	case v1beta1.ModeDaemonSet:
		objs = append(objs, &appsv1.DaemonSet{ObjectMeta: wmeta, Spec: appsv1.DaemonSetSpec{
			Selector: sel, Template: pod, UpdateStrategy: c.Spec.DaemonSetUpdateStrategy,
		}})
	case v1beta1.ModeStatefulSet:
		objs = append(objs, &appsv1.StatefulSet{ObjectMeta: wmeta, Spec: appsv1.StatefulSetSpec{
			Replicas: c.Spec.Replicas, Selector: sel, Template: pod, ServiceName: name,
			PodManagementPolicy:                  appsv1.ParallelPodManagement,
			VolumeClaimTemplates:                 c.Spec.VolumeClaimTemplates,
			PersistentVolumeClaimRetentionPolicy: c.Spec.PersistentVolumeClaimRetentionPolicy,
		}})
	default:
		objs = append(objs, &appsv1.Deployment{ObjectMeta: wmeta, Spec: appsv1.DeploymentSpec{
			Replicas: c.Spec.Replicas, Selector: sel, Template: pod, Strategy: c.Spec.DeploymentUpdateStrategy,
		}})
	}
	objs = append(objs, services(c, image)...)
	if pdb := podDisruptionBudget(c, image); pdb != nil {
		objs = append(objs, pdb)
	}
	if hpa := autoscaler(c, image); hpa != nil {
		objs = append(objs, hpa)
	}
	return objs, nil
}

func nonKubectl(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if k != "kubectl.kubernetes.io/last-applied-configuration" {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func meta(c *v1beta1.OpenTelemetryCollector, name, image string, ann map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: Labels(c, name, image), Annotations: ann}
}

func configMap(c *v1beta1.OpenTelemetryCollector, hash, image string) (*corev1.ConfigMap, error) {
	b, err := ConfigYAML(c.Spec.Config)
	if err != nil {
		return nil, err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: meta(c, ConfigMapName(c.Name, hash), image, annotations(c, hash)),
		Data:       map[string]string{ConfigKey: b},
	}
	// The component label names the collector, not the ConfigMap, as upstream.
	cm.Labels[LabelName] = Collector(c.Name)
	return cm, nil
}

func podTemplate(c *v1beta1.OpenTelemetryCollector, hash, image, configMapName string) corev1.PodTemplateSpec {
	s := &c.Spec
	volumes := []corev1.Volume{{Name: ConfigVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: configMapName},
		Items:                []corev1.KeyToPath{{Key: ConfigKey, Path: ConfigKey}},
	}}}}
	volumes = append(volumes, Volumes(c)...)
	container := Container(c, image, true)

	sa := s.ServiceAccount
	if sa == "" {
		sa = Collector(c.Name)
	}
	dnsPolicy := corev1.DNSClusterFirst
	if s.HostNetwork {
		dnsPolicy = corev1.DNSClusterFirstWithHostNet
	}
	var dnsConfig *corev1.PodDNSConfig
	if len(s.PodDNSConfig.Nameservers)+len(s.PodDNSConfig.Searches)+len(s.PodDNSConfig.Options) > 0 {
		dnsConfig = s.PodDNSConfig.DeepCopy()
	}
	spec := corev1.PodSpec{
		ServiceAccountName:            sa,
		InitContainers:                s.InitContainers,
		Containers:                    append([]corev1.Container{container}, s.AdditionalContainers...),
		Volumes:                       volumes,
		DNSPolicy:                     dnsPolicy,
		DNSConfig:                     dnsConfig,
		HostNetwork:                   s.HostNetwork,
		Tolerations:                   s.Tolerations,
		NodeSelector:                  s.NodeSelector,
		SecurityContext:               s.PodSecurityContext,
		PriorityClassName:             s.PriorityClassName,
		Affinity:                      s.Affinity,
		TerminationGracePeriodSeconds: s.TerminationGracePeriodSeconds,
		TopologySpreadConstraints:     s.TopologySpreadConstraints,
	}
	if s.ShareProcessNamespace {
		spec.ShareProcessNamespace = ptr.To(true)
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: Labels(c, Collector(c.Name), image), Annotations: podAnnotations(c, hash)},
		Spec:       spec,
	}
}

// healthCheckEndpoint is where the health_check extension answers.
type healthCheckEndpoint struct {
	path string
	port int32
}

// healthCheck finds an enabled health_check extension: probes are made from it.
func healthCheck(cfg v1beta1.Config) *healthCheckEndpoint {
	if cfg.Extensions == nil {
		return nil
	}
	for _, id := range cfg.Service.Extensions {
		if componentType(id) != "health_check" {
			continue
		}
		settings := asMap(cfg.Extensions.Object[id])
		h := &healthCheckEndpoint{path: "/", port: 13133}
		if p := endpointPort(settings["endpoint"]); p != 0 {
			h.port = p
		}
		if p, ok := settings["path"].(string); ok && p != "" {
			h.path = p
		}
		return h
	}
	return nil
}

func probe(h *healthCheckEndpoint, tune *v1beta1.Probe) *corev1.Probe {
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: h.path, Port: intstr.FromInt32(h.port)}}}
	if tune != nil {
		if tune.InitialDelaySeconds != nil {
			p.InitialDelaySeconds = *tune.InitialDelaySeconds
		}
		if tune.TimeoutSeconds != nil {
			p.TimeoutSeconds = *tune.TimeoutSeconds
		}
		if tune.PeriodSeconds != nil {
			p.PeriodSeconds = *tune.PeriodSeconds
		}
		if tune.SuccessThreshold != nil {
			p.SuccessThreshold = *tune.SuccessThreshold
		}
		if tune.FailureThreshold != nil {
			p.FailureThreshold = *tune.FailureThreshold
		}
		p.TerminationGracePeriodSeconds = tune.TerminationGracePeriodSeconds
	}
	return p
}

func services(c *v1beta1.OpenTelemetryCollector, image string) []client.Object {
	var out []client.Object
	ports := servicePorts(c)
	policy := corev1.ServiceInternalTrafficPolicyCluster
	if c.Spec.Mode == v1beta1.ModeDaemonSet {
		// Each pod reaches the collector on its own node.
		policy = corev1.ServiceInternalTrafficPolicyLocal
	}
	if len(ports) > 0 {
		base := &corev1.Service{
			ObjectMeta: meta(c, Collector(c.Name), image, nil),
			Spec: corev1.ServiceSpec{
				Selector: SelectorLabels(c), Ports: ports, InternalTrafficPolicy: &policy,
				IPFamilies: c.Spec.IpFamilies, IPFamilyPolicy: c.Spec.IpFamilyPolicy,
			},
		}
		base.Labels[LabelServiceType] = "base"
		headless := base.DeepCopy()
		headless.Name = HeadlessService(c.Name)
		headless.Labels = Labels(c, headless.Name, image)
		headless.Labels[LabelServiceType] = "headless"
		headless.Labels[LabelHeadlessService] = "Exists"
		headless.Annotations = map[string]string{"service.beta.openshift.io/serving-cert-secret-name": headless.Name + "-tls"}
		headless.Spec.ClusterIP = corev1.ClusterIPNone
		out = append(out, base, headless)
	}
	mon := &corev1.Service{
		ObjectMeta: meta(c, MonitoringService(c.Name), image, nil),
		Spec: corev1.ServiceSpec{
			Selector:       SelectorLabels(c),
			Ports:          []corev1.ServicePort{{Name: "monitoring", Port: metricsPort(c.Spec.Config)}},
			IPFamilies:     c.Spec.IpFamilies,
			IPFamilyPolicy: c.Spec.IpFamilyPolicy,
		},
	}
	mon.Labels[LabelServiceType] = "monitoring"
	mon.Labels[LabelMonitoringService] = "Exists"
	return append(out, mon)
}

func podDisruptionBudget(c *v1beta1.OpenTelemetryCollector, image string) *policyv1.PodDisruptionBudget {
	if c.Spec.Mode != v1beta1.ModeDeployment && c.Spec.Mode != v1beta1.ModeStatefulSet {
		return nil
	}
	p := c.Spec.PodDisruptionBudget
	if p == nil {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: meta(c, Collector(c.Name), image, nil),
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:     &metav1.LabelSelector{MatchLabels: SelectorLabels(c)},
			MinAvailable: p.MinAvailable, MaxUnavailable: p.MaxUnavailable,
		},
	}
}

func autoscaler(c *v1beta1.OpenTelemetryCollector, image string) *autoscalingv2.HorizontalPodAutoscaler {
	a := c.Spec.Autoscaler
	if a == nil || a.MaxReplicas == nil {
		return nil
	}
	if c.Spec.Mode != v1beta1.ModeDeployment && c.Spec.Mode != v1beta1.ModeStatefulSet {
		return nil // a DaemonSet has no scale
	}
	var metrics []autoscalingv2.MetricSpec
	resourceMetric := func(name corev1.ResourceName, target int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: name, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(target)},
		}}
	}
	if a.TargetMemoryUtilization != nil {
		metrics = append(metrics, resourceMetric(corev1.ResourceMemory, *a.TargetMemoryUtilization))
	}
	if a.TargetCPUUtilization != nil {
		metrics = append(metrics, resourceMetric(corev1.ResourceCPU, *a.TargetCPUUtilization))
	}
	for _, m := range a.Metrics {
		if m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil {
			metrics = append(metrics, autoscalingv2.MetricSpec{Type: m.Type, Pods: m.Pods.DeepCopy()})
		}
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: meta(c, Collector(c.Name), image, nil),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			// The collector's scale subresource, as upstream: the HPA writes
			// spec.replicas of the resource and the workload follows.
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "opentelemetry.io/v1beta1", Kind: "OpenTelemetryCollector", Name: c.Name},
			MinReplicas:    a.MinReplicas, MaxReplicas: *a.MaxReplicas, Metrics: metrics, Behavior: a.Behavior,
		},
	}
}

// KindOf names a typed object's kind for messages and keys: typed objects
// read from the API server carry no TypeMeta, and the Go type of every
// Kubernetes API object is named as its kind (ConfigMap, Deployment, ...).
func KindOf(o client.Object) string {
	t := reflect.TypeOf(o)
	if t == nil {
		return "<nil>"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
