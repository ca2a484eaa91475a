package cli

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/webhook/instrumentationwebhook"
)

// checkSettings warns about what is known to break or mislead (issue 16,
// docs/rollback.md): Instrumentation settings (the validating webhook's
// warnings), Python pods whose platform annotation contradicts their image,
// and workloads whose instrumentation autotel rolled back.
func checkSettings(ctx context.Context, k *checker, c client.Client, insts []v1alpha1.Instrumentation) {
	for i := range insts {
		for _, w := range instrumentationwebhook.SettingWarnings(&insts[i], instrumentationwebhook.DefaultImages()) {
			k.warn("Instrumentation %s/%s: %s", insts[i].Namespace, insts[i].Name, w)
		}
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods); err != nil {
		k.warn("listing pods for the Python platform check: %v", err)
	} else {
		for i := range pods.Items {
			p := &pods.Items[i]
			if _, asks := p.Annotations[instrumentation.Python.InjectAnnotation()]; !asks {
				continue
			}
			var images []string
			for _, ctr := range p.Spec.Containers {
				images = append(images, ctr.Image)
			}
			if w := instrumentationwebhook.PlatformWarning(p.Annotations[instrumentation.AnnotationPythonPlatform], images); w != "" {
				k.warn("pod %s/%s: %s", p.Namespace, p.Name, w)
			}
		}
	}
	var deps appsv1.DeploymentList
	var sts appsv1.StatefulSetList
	var dss appsv1.DaemonSetList
	for _, l := range []client.ObjectList{&deps, &sts, &dss} {
		if err := c.List(ctx, l); err != nil {
			k.warn("listing workloads for rolled-back instrumentation: %v", err)
			return
		}
	}
	report := func(kind string, obj client.Object, tmpl map[string]string) {
		if why, ok := tmpl[instrumentation.InjectionDisabledAnnotation]; ok {
			k.warn("%s %s/%s: injection disabled (%s): %s", kind, obj.GetNamespace(), obj.GetName(), instrumentation.InjectionDisabledAnnotation, why)
		}
	}
	for i := range deps.Items {
		report("Deployment", &deps.Items[i], deps.Items[i].Spec.Template.Annotations)
	}
	for i := range sts.Items {
		report("StatefulSet", &sts.Items[i], sts.Items[i].Spec.Template.Annotations)
	}
	for i := range dss.Items {
		report("DaemonSet", &dss.Items[i], dss.Items[i].Spec.Template.Annotations)
	}
}
