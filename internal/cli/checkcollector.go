package cli

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/collectorbuild"
)

// checkCollectors checks every OpenTelemetryCollector: admission accepts
// its config now, the operator reconciled it, its workload is ready and its
// Service has ready endpoints. A collector that passes gets one ok line;
// each problem gets its own FAIL line saying what to do.
func checkCollectors(ctx context.Context, k *checker, c client.Client) {
	if _, err := c.RESTMapper().RESTMapping(schema.GroupKind{Group: v1beta1.GroupVersion.Group, Kind: "OpenTelemetryCollector"}, v1beta1.GroupVersion.Version); err != nil {
		k.warn("OpenTelemetryCollector CRD (opentelemetry.io/v1beta1) is not served: collectors not checked (the chart installs it with operator.collector.enabled)")
		return
	}
	var list v1beta1.OpenTelemetryCollectorList
	if err := c.List(ctx, &list); err != nil {
		k.fail("listing OpenTelemetryCollectors: %v", err)
		return
	}
	for i := range list.Items {
		checkCollector(ctx, k, c, &list.Items[i])
	}
}

func checkCollector(ctx context.Context, k *checker, c client.Client, col *v1beta1.OpenTelemetryCollector) {
	ref := "collector " + col.Namespace + "/" + col.Name
	if col.Spec.ManagementState == v1beta1.ManagementStateUnmanaged {
		k.warn("%s: managementState unmanaged, the operator leaves it and its objects alone; not checked", ref)
		return
	}
	before := k.failures
	// A server-side dry-run update runs the defaulting and validation
	// webhooks on the stored object without changing it: a config naming
	// a component the image lacks, or an unreachable webhook, shows here.
	switch err := c.Update(ctx, col.DeepCopy(), client.DryRunAll); {
	case err == nil, apierrors.IsConflict(err): // changed meanwhile: the next run checks the new spec
	case apierrors.IsForbidden(err) && !strings.Contains(err.Error(), "admission webhook"):
		k.warn("%s: admission not checked: you may not update OpenTelemetryCollectors (a dry-run update needs the permission)", ref)
	default:
		k.fail("%s: admission rejects its spec now: %v — fix spec.config (or set spec.image to a collector image that has the component)", ref, err)
	}
	if cond := meta.FindStatusCondition(col.Status.Conditions, "Ready"); cond != nil && cond.Status == "False" {
		k.fail("%s: the operator cannot reconcile it (%s): %s", ref, cond.Reason, cond.Message)
	} else if col.Status.ObservedGeneration < col.Generation {
		k.fail("%s: the operator has not reconciled generation %d (status has %d) — is the operator running with --enable-collector-controller (chart: operator.collector.enabled)?", ref, col.Generation, col.Status.ObservedGeneration)
	}
	if col.Spec.Mode == v1beta1.ModeSidecar {
		if k.failures == before {
			k.ok("%s: sidecar, added to pods annotated sidecar.opentelemetry.io/inject (no workload or Service of its own)", ref)
		}
		return
	}
	name := collectorbuild.Collector(col.Name)
	pods := fmt.Sprintf("kubectl -n %s describe pods -l %s=%s.%s", col.Namespace, collectorbuild.LabelInstance, col.Namespace, col.Name)
	wl := workloadReady(ctx, k, c, ref, col, name, pods)
	svc := serviceReady(ctx, k, c, ref, col, name, pods)
	if k.failures == before {
		k.ok("%s: %s%s", ref, wl, svc)
	}
}

// workloadReady checks the collector's Deployment, DaemonSet or
// StatefulSet and describes it for the ok line.
func workloadReady(ctx context.Context, k *checker, c client.Client, ref string, col *v1beta1.OpenTelemetryCollector, name, pods string) string {
	var obj client.Object
	switch col.Spec.Mode {
	case v1beta1.ModeDaemonSet:
		obj = &appsv1.DaemonSet{}
	case v1beta1.ModeStatefulSet:
		obj = &appsv1.StatefulSet{}
	default:
		obj = &appsv1.Deployment{}
	}
	kind := strings.TrimPrefix(fmt.Sprintf("%T", obj), "*v1.")
	if err := c.Get(ctx, client.ObjectKey{Namespace: col.Namespace, Name: name}, obj); err != nil {
		k.fail("%s: %s %s: %v — the operator makes it; is it running with --enable-collector-controller (chart: operator.collector.enabled)?", ref, kind, name, err)
		return ""
	}
	var ready, want int32
	switch w := obj.(type) {
	case *appsv1.Deployment:
		ready, want = w.Status.ReadyReplicas, ptrValue(w.Spec.Replicas)
	case *appsv1.StatefulSet:
		ready, want = w.Status.ReadyReplicas, ptrValue(w.Spec.Replicas)
	case *appsv1.DaemonSet:
		ready, want = w.Status.NumberReady, w.Status.DesiredNumberScheduled
		if want == 0 {
			k.fail("%s: DaemonSet %s is scheduled on no node — check spec.nodeSelector, spec.tolerations and spec.affinity", ref, name)
			return ""
		}
	}
	if ready < want {
		k.fail("%s: %s %s has %d/%d ready pods — %s, and kubectl -n %s logs %s/%s", ref, kind, name, ready, want, pods, col.Namespace, strings.ToLower(kind), name)
		return ""
	}
	return fmt.Sprintf("%s %s %d/%d ready", strings.ToLower(kind), name, ready, want)
}

// serviceReady checks the Service apps send to, when the config has ports
// for one (upstream makes no base Service without receiver ports).
func serviceReady(ctx context.Context, k *checker, c client.Client, ref string, col *v1beta1.OpenTelemetryCollector, name, pods string) string {
	objs, err := collectorbuild.Build(col, collectorbuild.Options{})
	if err != nil {
		k.fail("%s: its spec does not build: %v", ref, err)
		return ""
	}
	wanted := false
	for _, o := range objs {
		if _, ok := o.(*corev1.Service); ok && o.GetName() == name {
			wanted = true
		}
	}
	if !wanted {
		return ", no Service (the config has no receiver ports)"
	}
	var svc corev1.Service
	if err := c.Get(ctx, client.ObjectKey{Namespace: col.Namespace, Name: name}, &svc); err != nil {
		k.fail("%s: Service %s: %v — the operator makes it; see the collector's Events (kubectl -n %s describe opentelemetrycollector %s)", ref, name, err, col.Namespace, col.Name)
		return ""
	}
	ready, err := readyEndpoints(ctx, c, col.Namespace, name)
	if err != nil {
		k.fail("%s: %v", ref, err)
		return ""
	}
	if ready == 0 {
		k.fail("%s: Service %s has no ready endpoints: apps sending to it get connection errors — %s", ref, name, pods)
		return ""
	}
	return fmt.Sprintf(", Service %s with %d ready endpoint(s)", name, ready)
}

func ptrValue(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
