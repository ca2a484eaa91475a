package instrumentation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/api/v1alpha1"
)

// Environment variable names shared by every language.
const (
	envServiceName         = "OTEL_SERVICE_NAME"
	envExporterEndpoint    = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envExporterCertificate = "OTEL_EXPORTER_OTLP_CERTIFICATE"
	envExporterClientCert  = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
	envExporterClientKey   = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
	envResourceAttrs       = "OTEL_RESOURCE_ATTRIBUTES"
	envPropagators         = "OTEL_PROPAGATORS"
	envTracesSampler       = "OTEL_TRACES_SAMPLER"
	envTracesSamplerArg    = "OTEL_TRACES_SAMPLER_ARG"
	envPodName             = "OTEL_RESOURCE_ATTRIBUTES_POD_NAME"
	envPodUID              = "OTEL_RESOURCE_ATTRIBUTES_POD_UID"
	envNodeName            = "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME"
	envNodeIP              = "OTEL_NODE_IP"
	envPodIP               = "OTEL_POD_IP"
)

func envIndex(envs []corev1.EnvVar, name string) int {
	for i := range envs {
		if envs[i].Name == name {
			return i
		}
	}
	return -1
}

// appendIfAbsent adds each variable whose name the list does not hold yet:
// a variable the user set always wins over one we derive.
func appendIfAbsent(envs []corev1.EnvVar, add ...corev1.EnvVar) []corev1.EnvVar {
	for _, e := range add {
		if envIndex(envs, e.Name) == -1 {
			envs = append(envs, e)
		}
	}
	return envs
}

func fieldRefEnv(name, fieldPath string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: fieldPath},
	}}
}

// moveToEnd moves the variable at idx last. OTEL_RESOURCE_ATTRIBUTES refers
// to other variables with $(NAME), which the kubelet only expands for
// variables defined earlier in the list.
func moveToEnd(envs []corev1.EnvVar, idx int) []corev1.EnvVar {
	if idx < 0 || idx >= len(envs)-1 {
		return envs
	}
	moved := envs[idx]
	envs = append(envs[:idx], envs[idx+1:]...)
	return append(envs, moved)
}

// mergedEnv is the container's environment as it will be once the
// language's and the common spec env are merged in (without changing the
// container): checks of variables we extend must see those too, since a
// valueFrom from spec.env would be extended just the same.
func mergedEnv(c *corev1.Container, layers ...[]corev1.EnvVar) []corev1.EnvVar {
	env := append([]corev1.EnvVar(nil), c.Env...)
	for _, l := range layers {
		env = appendIfAbsent(env, l...)
	}
	return env
}

// literalOnly fails when the container sets one of the names through
// valueFrom: its value is unknown at admission, so it cannot be wrapped.
func literalOnly(envs []corev1.EnvVar, names ...string) error {
	for _, name := range names {
		if i := envIndex(envs, name); i >= 0 && envs[i].ValueFrom != nil {
			return fmt.Errorf("the container defines env var value via ValueFrom, envVar: %s", name)
		}
	}
	return nil
}

// prepareAgentContainer readies a container for an agent whose flags go
// into the variable guard: it refuses a guard that is not a plain value
// (the agent appends to it, which valueFrom cannot take), then adds the
// language's variables and the agent's mount.
func prepareAgentContainer(inst *v1alpha1.Instrumentation, c *corev1.Container, langEnv []corev1.EnvVar, guard string, mount corev1.VolumeMount) error {
	if err := literalOnly(mergedEnv(c, langEnv, inst.Spec.Env), guard); err != nil {
		return err
	}
	c.Env = appendIfAbsent(c.Env, langEnv...)
	c.VolumeMounts = append(c.VolumeMounts, mount)
	return nil
}

// appendEnvValue appends suffix to the container's variable name, or sets
// it to suffix when absent, so the user's own value stays first.
func appendEnvValue(c *corev1.Container, name, suffix string) {
	if i := envIndex(c.Env, name); i >= 0 {
		c.Env[i].Value += suffix
	} else {
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: suffix})
	}
}
