package instrumentation

import (
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/autotel/autotel/api/v1alpha1"
)

// defaultVolumeSize bounds the emptyDir the agent files are copied into.
var defaultVolumeSize = resource.MustParse("200Mi")

// agentVolume is the shared volume an init container copies agent files
// into: an ephemeral claim when the Instrumentation gives one, otherwise a
// size-limited emptyDir.
func agentVolume(spec v1alpha1.VolumeSpec, name string) corev1.Volume {
	if !reflect.ValueOf(spec.VolumeClaimTemplate).IsZero() {
		claim := spec.VolumeClaimTemplate.DeepCopy()
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: claim},
		}}
	}
	size := defaultVolumeSize.DeepCopy()
	if spec.VolumeSizeLimit != nil {
		size = spec.VolumeSizeLimit.DeepCopy()
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &size},
	}}
}

func hasInitContainer(pod *corev1.Pod, name string) bool {
	return slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == name })
}

// insertInitContainer places the copying init container before the first
// targeted init container (which needs the files when it runs), or last.
func insertInitContainer(pod *corev1.Pod, add corev1.Container, target string) {
	if i := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == target }); i >= 0 {
		pod.Spec.InitContainers = slices.Insert(pod.Spec.InitContainers, i, add)
		return
	}
	pod.Spec.InitContainers = append(pod.Spec.InitContainers, add)
}

// initSecurityContext: the Instrumentation's choice, else the first target
// container's, so the init container passes the same admission policies
// and can write files the app can read.
func initSecurityContext(spec v1alpha1.InstrumentationSpec, first *corev1.Container) *corev1.SecurityContext {
	if spec.InitContainerSecurityContext != nil {
		return spec.InitContainerSecurityContext.DeepCopy()
	}
	if first.SecurityContext != nil {
		return first.SecurityContext.DeepCopy()
	}
	return nil
}
