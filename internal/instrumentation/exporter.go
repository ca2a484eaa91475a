package instrumentation

import (
	"fmt"
	"path/filepath"
	"regexp"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/api/v1alpha1"
)

// configureExporter sets the endpoint and, for TLS, mounts the secret and
// config map and points the certificate variables at them.
func configureExporter(exporter v1alpha1.Exporter, pod *corev1.Pod, c *corev1.Container) {
	if exporter.Endpoint != "" {
		c.Env = appendIfAbsent(c.Env, corev1.EnvVar{Name: envExporterEndpoint, Value: exporter.Endpoint})
	}
	tls := exporter.TLS
	if tls == nil {
		return
	}
	secretVolume := truncateName(63, "otel-auto-secret-%s", tls.SecretName)
	secretPath := "/otel-auto-instrumentation-secret-" + tls.SecretName
	configMapVolume := truncateName(63, "otel-auto-configmap-%s", tls.ConfigMapName)
	configMapPath := "/otel-auto-instrumentation-configmap-" + tls.ConfigMapName

	// A file is a key of the mounted object unless it is already an
	// absolute path inside the container.
	file := func(dir, name string) string {
		if filepath.IsAbs(name) {
			return name
		}
		return dir + "/" + name
	}
	if tls.CA != "" {
		dir := secretPath
		if tls.ConfigMapName != "" {
			dir = configMapPath
		}
		c.Env = appendIfAbsent(c.Env, corev1.EnvVar{Name: envExporterCertificate, Value: file(dir, tls.CA)})
	}
	if tls.Cert != "" {
		c.Env = appendIfAbsent(c.Env, corev1.EnvVar{Name: envExporterClientCert, Value: file(secretPath, tls.Cert)})
	}
	if tls.Key != "" {
		c.Env = appendIfAbsent(c.Env, corev1.EnvVar{Name: envExporterClientKey, Value: file(secretPath, tls.Key)})
	}
	if tls.SecretName != "" {
		addVolume(pod, corev1.Volume{Name: secretVolume, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: tls.SecretName},
		}})
		addMount(c, corev1.VolumeMount{Name: secretVolume, MountPath: secretPath, ReadOnly: true})
	}
	if tls.ConfigMapName != "" {
		addVolume(pod, corev1.Volume{Name: configMapVolume, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: tls.ConfigMapName}},
		}})
		addMount(c, corev1.VolumeMount{Name: configMapVolume, MountPath: configMapPath, ReadOnly: true})
	}
}

func addVolume(pod *corev1.Pod, v corev1.Volume) {
	for _, existing := range pod.Spec.Volumes {
		if existing.Name == v.Name {
			return
		}
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, v)
}

func addMount(c *corev1.Container, m corev1.VolumeMount) {
	for _, existing := range c.VolumeMounts {
		if existing.Name == m.Name {
			return
		}
	}
	c.VolumeMounts = append(c.VolumeMounts, m)
}

var edgeNonAlnum = regexp.MustCompile(`^[^a-zA-Z0-9]+|[^a-zA-Z0-9]+$`)

// truncateName formats a Kubernetes name and fits it into max characters
// by shortening the value (not the fixed part), then trims punctuation from
// the ends so the result is still a valid name. Same names as upstream's.
func truncateName(max int, format, value string) string {
	name := fmt.Sprintf(format, value)
	if excess := len(name) - max; excess > 0 {
		if excess < len(value) {
			value = value[:len(value)-excess]
		} else {
			value = ""
		}
		name = fmt.Sprintf(format, value)
	}
	if len(name) > max {
		return name[:max]
	}
	return edgeNonAlnum.ReplaceAllString(name, "")
}
