package collectorbuild

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1beta1"
)

// Container is the collector container (otc-container) of a collector's
// workload, or, with configFile false, of the sidecar the pod webhook
// injects (which gets its config from an env variable instead of the
// ConfigMap volume, as upstream's). c must be defaulted (Default).
func Container(c *v1beta1.OpenTelemetryCollector, image string, configFile bool) corev1.Container {
	s := &c.Spec
	var args []string
	var mounts []corev1.VolumeMount
	if configFile {
		args = append(args, "--config="+ConfigDir+"/"+ConfigKey)
		mounts = append(mounts, corev1.VolumeMount{Name: ConfigVolume, MountPath: ConfigDir})
	}
	keys := make([]string, 0, len(s.Args))
	for k := range s.Args {
		// The operator owns --config, as upstream (which drops it with a log line).
		if k != "config" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, fmt.Sprintf("--%s=%s", k, s.Args[k]))
	}
	for _, cm := range s.ConfigMaps {
		vol := "configmap-" + cm.Name
		mounts = append(mounts, corev1.VolumeMount{Name: vol, MountPath: strings.TrimSuffix(ConfigMapsRoot+"/"+strings.Trim(cm.MountPath, "/"), "/") + "/" + vol})
	}
	mounts = append(mounts, s.VolumeMounts...)

	env := append([]corev1.EnvVar(nil), s.Env...)
	env = append(env, corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})

	container := corev1.Container{
		Name: ContainerName, Image: image, ImagePullPolicy: s.ImagePullPolicy,
		Command: s.Command, Args: args, Env: env, EnvFrom: s.EnvFrom,
		Ports: containerPorts(c), VolumeMounts: mounts, Resources: s.Resources,
		SecurityContext: s.SecurityContext, Lifecycle: s.Lifecycle,
	}
	if h := healthCheck(c.Spec.Config); h != nil {
		container.LivenessProbe = probe(h, s.LivenessProbe)
		container.ReadinessProbe = probe(h, s.ReadinessProbe)
		if s.StartupProbe != nil {
			container.StartupProbe = probe(h, s.StartupProbe)
		}
	}
	return container
}

// Volumes are the volumes Container mounts besides the config volume:
// spec.configmaps, then spec.volumes.
func Volumes(c *v1beta1.OpenTelemetryCollector) []corev1.Volume {
	var volumes []corev1.Volume
	for _, cm := range c.Spec.ConfigMaps {
		volumes = append(volumes, corev1.Volume{Name: "configmap-" + cm.Name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name},
		}}})
	}
	return append(volumes, c.Spec.Volumes...)
}

// ConfigYAML is the collector's config as the YAML the collector reads
// (the ConfigMap's collector.yaml, the sidecar's OTEL_CONFIG).
func ConfigYAML(cfg v1beta1.Config) (string, error) {
	b, err := yaml.Marshal(&cfg)
	if err != nil {
		return "", fmt.Errorf("writing spec.config as YAML: %w", err)
	}
	return string(b), nil
}

// SidecarLabelValue is the value of sidecar.opentelemetry.io/injected on
// pods the collector's sidecar was injected into: <namespace>.<name>, cut
// to a label's 63 characters as upstream.
func SidecarLabelValue(c *v1beta1.OpenTelemetryCollector) string {
	return truncate("%s.%s", 63, c.Namespace, c.Name)
}
