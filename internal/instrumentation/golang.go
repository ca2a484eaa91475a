package instrumentation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

const (
	envGoTargetExe        = "OTEL_GO_AUTO_TARGET_EXE"
	kernelDebugVolumeName = "kernel-debug"
	kernelDebugPath       = "/sys/kernel/debug"
)

// goInjector adds the eBPF agent as a sidecar: Go binaries are statically
// linked, so nothing can be loaded into them; the agent attaches to the
// target process, which it must see (shared process namespace).
type goInjector struct{}

func (goInjector) inject(sdk sdkEnv, req request, pod *corev1.Pod, targets []*corev1.Container) []ContainerReport {
	if len(targets) == 0 {
		return nil // every named container is missing; already reported
	}
	// One process only: the first target.
	app := targets[0]
	skip := func(why string) []ContainerReport {
		return []ContainerReport{{Name: app.Name, Reason: "Skipping Go SDK injection: " + why}}
	}
	if slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == app.Name }) {
		return skip("is init container")
	}
	if pod.Spec.ShareProcessNamespace != nil && !*pod.Spec.ShareProcessNamespace {
		return skip("shared process namespace has been explicitly disabled")
	}
	// Upstream reads only the pod's own annotation here, not the namespace's.
	namesAnnotation := AnnotationContainerNames
	if sdk.multiInstrumentation {
		namesAnnotation = Go.ContainerNamesAnnotation()
	}
	if names, ok := pod.Annotations[namesAnnotation]; ok && len(strings.Split(names, ",")) > 1 {
		return skip("go instrumentation cannot be injected into a pod, multiple containers configured")
	}

	spec := req.inst.Spec.Go
	sidecar := corev1.Container{
		Name:            goSidecarName,
		Image:           spec.Image,
		Resources:       *spec.Resources.DeepCopy(),
		SecurityContext: spec.SecurityContext.DeepCopy(),
		VolumeMounts:    []corev1.VolumeMount{{Name: kernelDebugVolumeName, MountPath: kernelDebugPath}},
		ImagePullPolicy: req.inst.Spec.ImagePullPolicy,
	}
	if sidecar.SecurityContext == nil {
		sidecar.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](0), Privileged: ptr.To(true)}
	}
	if exe, ok := pod.Annotations[AnnotationGoTargetExe]; ok {
		sidecar.Env = append(sidecar.Env, corev1.EnvVar{Name: envGoTargetExe, Value: exe})
	}
	sidecar.Env = appendIfAbsent(sidecar.Env, spec.Env...)
	injectCommonEnv(req.inst, &sidecar)
	// The agent reports for the app, so attributes describe the app
	// container. Work on a copy: without a target executable the pod must
	// come back untouched (exporter TLS volumes included).
	work := pod.DeepCopy()
	sdk.injectCommonSDKConfig(req.inst, work, &sidecar, app)
	if envIndex(sidecar.Env, envGoTargetExe) == -1 {
		return skip(fmt.Sprintf("%s not set (annotation %s or spec.go.env)", envGoTargetExe, AnnotationGoTargetExe))
	}

	work.Spec.ShareProcessNamespace = ptr.To(true)
	work.Spec.Containers = append(work.Spec.Containers, sidecar)
	work.Spec.Volumes = append(work.Spec.Volumes, corev1.Volume{Name: kernelDebugVolumeName, VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: kernelDebugPath},
	}})
	*pod = *work
	return []ContainerReport{{Name: app.Name, Injected: true}}
}
