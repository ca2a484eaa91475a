package instrumentation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/api/v1alpha1"
)

const (
	javaInitContainerName = "opentelemetry-auto-instrumentation-java"
	javaVolumeName        = "opentelemetry-auto-instrumentation-java"
	javaMountPath         = "/otel-auto-instrumentation-java"
	envJavaToolOptions    = "JAVA_TOOL_OPTIONS"
)

// javaContainerMount is per container upstream (the agent is the same
// file; the path differs), so the JVM flags name the container's own path.
func javaContainerMount(c *corev1.Container) string { return javaMountPath + "-" + c.Name }

var javaInjector = copyAgent{
	language: Java,
	specEnv:  func(inst *v1alpha1.Instrumentation) []corev1.EnvVar { return inst.Spec.Java.Env },
	prepare: func(inst *v1alpha1.Instrumentation, _ request, c *corev1.Container) error {
		return prepareAgentContainer(inst, c, inst.Spec.Java.Env, envJavaToolOptions,
			corev1.VolumeMount{Name: javaVolumeName, MountPath: javaContainerMount(c)})
	},
	defaults: func(inst *v1alpha1.Instrumentation, _ request, c *corev1.Container) {
		// JAVA_TOOL_OPTIONS is read by every JVM, so the agent loads without
		// touching the app's command line; the user's options stay first.
		arg := fmt.Sprintf(" -javaagent:%s/javaagent.jar", javaContainerMount(c))
		if len(inst.Spec.Java.Extensions) > 0 {
			arg += fmt.Sprintf(" -Dotel.javaagent.extensions=%s/extensions", javaContainerMount(c))
		}
		appendEnvValue(c, envJavaToolOptions, arg)
	},
	podParts: func(inst *v1alpha1.Instrumentation, _ request, pod *corev1.Pod, first *corev1.Container) {
		spec := inst.Spec.Java
		if !addCopyAgent(inst, pod, first, javaInitContainerName, spec.Image, []string{"cp", "/javaagent.jar", javaMountPath + "/javaagent.jar"},
			spec.Resources, spec.VolumeSpec, javaVolumeName, javaMountPath) {
			return
		}
		// Extensions copy after the agent, each from its own image. Upstream
		// gives them neither the pull policy nor the security context; we
		// do, so restricted namespaces admit them like the agent's.
		for i, ext := range spec.Extensions {
			insertInitContainer(pod, copyInitContainer(inst, fmt.Sprintf("opentelemetry-auto-instrumentation-extension-%d", i), ext.Image,
				[]string{"cp", "-r", ext.Dir + "/.", javaMountPath + "/extensions"}, spec.Resources, javaVolumeName, javaMountPath, first), first.Name)
		}
	},
}

const (
	nodeJSInitContainerName = "opentelemetry-auto-instrumentation-nodejs"
	nodeJSVolumeName        = "opentelemetry-auto-instrumentation-nodejs"
	nodeJSMountPath         = "/otel-auto-instrumentation-nodejs"
	envNodeOptions          = "NODE_OPTIONS"
	// The image links the package's register.js here; --require loads it
	// before the app in every node process.
	nodeRequire = " --require " + nodeJSMountPath + "/autoinstrumentation.js"
)

var nodeJSInjector = copyAgent{
	language: NodeJS,
	specEnv:  func(inst *v1alpha1.Instrumentation) []corev1.EnvVar { return inst.Spec.NodeJS.Env },
	prepare: func(inst *v1alpha1.Instrumentation, _ request, c *corev1.Container) error {
		return prepareAgentContainer(inst, c, inst.Spec.NodeJS.Env, envNodeOptions,
			corev1.VolumeMount{Name: nodeJSVolumeName, MountPath: nodeJSMountPath})
	},
	defaults: func(_ *v1alpha1.Instrumentation, _ request, c *corev1.Container) {
		appendEnvValue(c, envNodeOptions, nodeRequire)
		// Upstream sets this (older Node.js SDKs exported no metrics by
		// default); sdk-node 0.220 already does, so it is harmless, and
		// kept for identical pods.
		c.Env = appendIfAbsent(c.Env, corev1.EnvVar{Name: "OTEL_METRICS_EXPORTER", Value: "otlp"})
	},
	podParts: func(inst *v1alpha1.Instrumentation, _ request, pod *corev1.Pod, first *corev1.Container) {
		spec := inst.Spec.NodeJS
		addCopyAgent(inst, pod, first, nodeJSInitContainerName, spec.Image, []string{"cp", "-r", "/autoinstrumentation/.", nodeJSMountPath},
			spec.Resources, spec.VolumeSpec, nodeJSVolumeName, nodeJSMountPath)
	},
}

const (
	dotNetInitContainerName = "opentelemetry-auto-instrumentation-dotnet"
	dotNetVolumeName        = "opentelemetry-auto-instrumentation-dotnet"
	dotNetMountPath         = "/otel-auto-instrumentation-dotnet"
	envDotNetAutoHome       = "OTEL_DOTNET_AUTO_HOME"
	envDotNetStartupHooks   = "DOTNET_STARTUP_HOOKS"
	envDotNetAdditionalDeps = "DOTNET_ADDITIONAL_DEPS"
	envDotNetSharedStore    = "DOTNET_SHARED_STORE"
)

// dotNetProfilerPath is the CoreCLR profiler for the app's libc.
func dotNetProfilerPath(runtime string) (string, error) {
	switch runtime {
	case "", "linux-x64":
		return dotNetMountPath + "/linux/OpenTelemetry.AutoInstrumentation.Native.so", nil
	case "linux-musl-x64":
		return dotNetMountPath + "/linux-musl/OpenTelemetry.AutoInstrumentation.Native.so", nil
	}
	// Upstream's message names the annotation "dotnet-runtime"; the real
	// one is otel-dotnet-auto-runtime. We name the real one.
	return "", fmt.Errorf("provided %s annotation value '%s' is not supported", AnnotationDotNetRuntime, runtime)
}

var dotNetInjector = copyAgent{
	language: DotNet,
	specEnv:  func(inst *v1alpha1.Instrumentation) []corev1.EnvVar { return inst.Spec.DotNet.Env },
	prepare: func(inst *v1alpha1.Instrumentation, req request, c *corev1.Container) error {
		if err := literalOnly(mergedEnv(c, inst.Spec.DotNet.Env, inst.Spec.Env), envDotNetStartupHooks, envDotNetAdditionalDeps, envDotNetSharedStore); err != nil {
			return err
		}
		// A set OTEL_DOTNET_AUTO_HOME means the app ships its own .NET
		// auto-instrumentation; a second profiler would break it.
		if envIndex(c.Env, envDotNetAutoHome) >= 0 {
			return fmt.Errorf("%s environment variable is already set in the container", envDotNetAutoHome)
		}
		if envIndex(inst.Spec.DotNet.Env, envDotNetAutoHome) >= 0 {
			return fmt.Errorf("%s environment variable is already set in the .NET instrumentation spec", envDotNetAutoHome)
		}
		if _, err := dotNetProfilerPath(req.annotations[AnnotationDotNetRuntime]); err != nil {
			return err
		}
		c.Env = appendIfAbsent(c.Env, inst.Spec.DotNet.Env...)
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: dotNetVolumeName, MountPath: dotNetMountPath})
		return nil
	},
	defaults: func(_ *v1alpha1.Instrumentation, req request, c *corev1.Container) {
		profiler, _ := dotNetProfilerPath(req.annotations[AnnotationDotNetRuntime])
		// Path lists are joined with the app's own values; single values
		// the app set are kept.
		for _, v := range []struct {
			name, value string
			join        bool
		}{
			{"CORECLR_ENABLE_PROFILING", "1", false},
			{"CORECLR_PROFILER", "{918728DD-259F-4A6A-AC2B-B85E1B658318}", false},
			{"CORECLR_PROFILER_PATH", profiler, false},
			{envDotNetStartupHooks, dotNetMountPath + "/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll", true},
			{envDotNetAdditionalDeps, dotNetMountPath + "/AdditionalDeps", true},
			{envDotNetAutoHome, dotNetMountPath, false},
			{envDotNetSharedStore, dotNetMountPath + "/store", true},
		} {
			switch i := envIndex(c.Env, v.name); {
			case i < 0:
				c.Env = append(c.Env, corev1.EnvVar{Name: v.name, Value: v.value})
			case v.join:
				c.Env[i].Value += ":" + v.value
			}
		}
	},
	podParts: func(inst *v1alpha1.Instrumentation, _ request, pod *corev1.Pod, first *corev1.Container) {
		spec := inst.Spec.DotNet
		addCopyAgent(inst, pod, first, dotNetInitContainerName, spec.Image, []string{"cp", "-r", "/autoinstrumentation/.", dotNetMountPath},
			spec.Resources, spec.VolumeSpec, dotNetVolumeName, dotNetMountPath)
	},
}
