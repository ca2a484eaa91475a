package instrumentation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/api/v1alpha1"
)

// copyAgent is the pattern Java, Node.js, Python and .NET share: an init
// container copies the agent from its image into a shared volume, each
// target container mounts it and gets environment that loads it.
type copyAgent struct {
	language Language
	// specEnv is spec.<language>.env.
	specEnv func(inst *v1alpha1.Instrumentation) []corev1.EnvVar
	// prepare checks the container can be instrumented, then adds the
	// language's spec env and the volume mount.
	prepare func(inst *v1alpha1.Instrumentation, req request, c *corev1.Container) error
	// defaults adds the language's loader variables after spec.env.
	defaults func(inst *v1alpha1.Instrumentation, req request, c *corev1.Container)
	// podParts adds the volume and init container(s) once per pod.
	podParts func(inst *v1alpha1.Instrumentation, req request, pod *corev1.Pod, first *corev1.Container)
}

func (a copyAgent) inject(sdk sdkEnv, req request, pod *corev1.Pod, targets []*corev1.Container) []ContainerReport {
	var reports []ContainerReport
	injected := false
	for _, c := range targets {
		err := checkCommon(req.inst, c, a.specEnv(req.inst))
		if err == nil {
			applyLogPath(req, c)
			err = a.prepare(req.inst, req, c)
		}
		if err != nil {
			reports = append(reports, ContainerReport{Name: c.Name, Reason: fmt.Sprintf("Skipping %s SDK injection: %v", a.language.displayName(), err)})
			continue
		}
		injectCommonEnv(req.inst, c)
		a.defaults(req.inst, req, c)
		sdk.injectCommonSDKConfig(req.inst, pod, c, c)
		reports = append(reports, ContainerReport{Name: c.Name, Injected: true})
		injected = true
	}
	// Upstream adds the init container even when every target was skipped,
	// which leaves e.g. `cp -r "" ...` for an unknown platform and a pod
	// stuck in Init:Error. We add it only when a container will use it.
	if injected {
		a.podParts(req.inst, req, pod, targets[0])
	}
	return reports
}

// addCopyAgent adds, once per pod, the agent's volume and the init
// container (named name) that copies the agent image's files into it; the
// first targeted container brings them and later ones share them. It
// reports whether it added them.
func addCopyAgent(inst *v1alpha1.Instrumentation, pod *corev1.Pod, first *corev1.Container, name, image string, command []string,
	resources corev1.ResourceRequirements, volume v1alpha1.VolumeSpec, volumeName, mountPath string) bool {
	if hasInitContainer(pod, name) {
		return false
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, agentVolume(volume, volumeName))
	insertInitContainer(pod, copyInitContainer(inst, name, image, command, resources, volumeName, mountPath, first), first.Name)
	return true
}

// copyInitContainer is the init container that copies an agent image's
// files into the shared volume.
func copyInitContainer(inst *v1alpha1.Instrumentation, name, image string, command []string, resources corev1.ResourceRequirements, volume, mountPath string, first *corev1.Container) corev1.Container {
	return corev1.Container{
		Name:            name,
		Image:           image,
		Command:         command,
		Resources:       *resources.DeepCopy(),
		VolumeMounts:    []corev1.VolumeMount{{Name: volume, MountPath: mountPath}},
		ImagePullPolicy: inst.Spec.ImagePullPolicy,
		SecurityContext: initSecurityContext(inst.Spec, first),
	}
}

// sdkOnlyInjector serves inject-sdk: configuration for an SDK the app
// already bundles, no agent.
type sdkOnlyInjector struct{}

func (sdkOnlyInjector) inject(sdk sdkEnv, req request, pod *corev1.Pod, targets []*corev1.Container) []ContainerReport {
	var reports []ContainerReport
	for _, c := range targets {
		if err := checkCommon(req.inst, c, nil); err != nil {
			reports = append(reports, ContainerReport{Name: c.Name, Reason: "Skipping SDK injection: " + err.Error()})
			continue
		}
		applyLogPath(req, c)
		injectCommonEnv(req.inst, c)
		sdk.injectCommonSDKConfig(req.inst, pod, c, c)
		reports = append(reports, ContainerReport{Name: c.Name, Injected: true})
	}
	return reports
}

// checkCommon refuses containers the common SDK configuration cannot
// handle. Upstream appends to a valueFrom OTEL_RESOURCE_ATTRIBUTES, giving
// a variable with both value and valueFrom that the API server rejects —
// the pod would not be created at all. Skipping the container instead
// keeps the pod, and the report says why.
func checkCommon(inst *v1alpha1.Instrumentation, c *corev1.Container, langEnv []corev1.EnvVar) error {
	return literalOnly(mergedEnv(c, langEnv, inst.Spec.Env), envResourceAttrs)
}
