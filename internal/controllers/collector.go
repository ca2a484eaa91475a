package controllers

// +kubebuilder:rbac:groups=opentelemetry.io,resources=opentelemetrycollectors,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=opentelemetry.io,resources=opentelemetrycollectors/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps;serviceaccounts;services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments;daemonsets;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/collectorbuild"
)

// restartedAtAnnotation is what `kubectl rollout restart` writes into a pod
// template; the reconciler keeps it so a manual restart is not undone (and
// repeated) on the next reconcile.
const restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// configCreatedAnnotation records when the operator created a config
// ConfigMap, to the nanosecond: creationTimestamp has one-second
// resolution, too coarse to tell which configurations are the newest when
// several changes land within a second.
const configCreatedAnnotation = "autotel.io/config-created"

// Collector reconciles OpenTelemetryCollectors: it creates and updates the
// objects collectorbuild describes, deletes owned objects no longer
// described, and reports scale, version and image in the status.
type Collector struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder record.EventRecorder
	Log      logr.Logger
	Build    collectorbuild.Options
}

// collectorOwnedTypes are the kinds a collector owns, each with an empty list
// to find leftovers in.
func collectorOwnedTypes() []struct {
	obj  client.Object
	list client.ObjectList
} {
	return []struct {
		obj  client.Object
		list client.ObjectList
	}{
		{&corev1.ConfigMap{}, &corev1.ConfigMapList{}},
		{&corev1.ServiceAccount{}, &corev1.ServiceAccountList{}},
		{&corev1.Service{}, &corev1.ServiceList{}},
		{&appsv1.Deployment{}, &appsv1.DeploymentList{}},
		{&appsv1.DaemonSet{}, &appsv1.DaemonSetList{}},
		{&appsv1.StatefulSet{}, &appsv1.StatefulSetList{}},
		{&policyv1.PodDisruptionBudget{}, &policyv1.PodDisruptionBudgetList{}},
		{&autoscalingv2.HorizontalPodAutoscaler{}, &autoscalingv2.HorizontalPodAutoscalerList{}},
	}
}

// CollectorCacheByObject limits the operator's cache of the kinds collectors
// own to objects labelled managed-by opentelemetry-operator (ours and
// upstream's), so the operator does not hold every ConfigMap, Service and
// Deployment of the cluster in memory.
func CollectorCacheByObject() map[client.Object]cache.ByObject {
	sel := labels.SelectorFromSet(labels.Set{collectorbuild.LabelManagedBy: collectorbuild.ManagedByValue})
	out := map[client.Object]cache.ByObject{}
	for _, t := range collectorOwnedTypes() {
		out[t.obj] = cache.ByObject{Label: sel}
	}
	return out
}

// SetupWithManager watches collectors and the objects they own.
func (r *Collector) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).Named("opentelemetrycollector").For(&v1beta1.OpenTelemetryCollector{})
	for _, t := range collectorOwnedTypes() {
		b = b.Owns(t.obj)
	}
	return b.Complete(r)
}

// Reconcile brings one collector's objects to what its spec describes.
func (r *Collector) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := r.Log.WithValues("opentelemetrycollector", req.NamespacedName)
	var c v1beta1.OpenTelemetryCollector
	if err := r.Client.Get(ctx, req.NamespacedName, &c); err != nil {
		// Deleted: owner references let the garbage collector remove the rest.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if c.DeletionTimestamp != nil {
		return ctrl.Result{}, r.dropUpstreamFinalizer(ctx, &c)
	}
	if c.Spec.ManagementState == v1beta1.ManagementStateUnmanaged {
		log.V(1).Info("unmanaged: leaving the collector and its objects alone")
		return ctrl.Result{}, nil
	}

	desired, err := collectorbuild.Build(&c, r.Build)
	if err == nil {
		err = r.apply(ctx, &c, desired)
	}
	if err == nil {
		err = r.deleteUnwanted(ctx, &c, desired)
	}
	if statusErr := r.updateStatus(ctx, &c, desired, err); statusErr != nil && err == nil {
		err = statusErr
	}
	if err != nil {
		r.Recorder.Event(&c, corev1.EventTypeWarning, "ReconcileError", err.Error())
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// upstreamFinalizer is the finalizer upstream's operator puts on collectors
// when it manages cluster RBAC for them (docs/upstream-behaviour.md §6.3).
const upstreamFinalizer = "opentelemetrycollector.opentelemetry.io/finalizer"

// dropUpstreamFinalizer lets a collector adopted from upstream's operator be
// deleted: upstream's finalizer would otherwise keep it (and, through
// foreground deletion, its objects) forever once that operator is gone.
// autotel creates no cluster RBAC for collectors; a ClusterRole or binding
// upstream made for this one is left, and the Event says how to find it.
func (r *Collector) dropUpstreamFinalizer(ctx context.Context, c *v1beta1.OpenTelemetryCollector) error {
	if !controllerutil.ContainsFinalizer(c, upstreamFinalizer) {
		return nil
	}
	patch := client.MergeFrom(c.DeepCopy())
	controllerutil.RemoveFinalizer(c, upstreamFinalizer)
	if err := r.Client.Patch(ctx, c, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing upstream's finalizer %s from OpenTelemetryCollector %s/%s: %w", upstreamFinalizer, c.Namespace, c.Name, err)
	}
	r.Recorder.Eventf(c, corev1.EventTypeNormal, "UpstreamFinalizerRemoved",
		"removed %s; cluster RBAC upstream's operator created for this collector, if any, stays: kubectl get clusterroles,clusterrolebindings -l %s=%s.%s",
		upstreamFinalizer, collectorbuild.LabelInstance, c.Namespace, c.Name)
	return nil
}

// apply creates or updates each desired object in place. An object with
// the same name that upstream's operator created (same labels, owned by a
// collector of the same name) is taken over rather than recreated.
func (r *Collector) apply(ctx context.Context, c *v1beta1.OpenTelemetryCollector, desired []client.Object) error {
	for _, want := range desired {
		existing := want.DeepCopyObject().(client.Object)
		kind := collectorbuild.KindOf(want)
		op, err := controllerutil.CreateOrUpdate(ctx, r.Client, existing, func() error {
			if err := r.takeOwnership(c, existing); err != nil {
				return err
			}
			mutate(existing, want)
			if _, isCM := existing.(*corev1.ConfigMap); isCM && existing.GetCreationTimestamp().Time.IsZero() {
				ann := existing.GetAnnotations()
				if ann == nil {
					ann = map[string]string{}
				}
				ann[configCreatedAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
				existing.SetAnnotations(ann)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("applying %s %s/%s: %w", kind, want.GetNamespace(), want.GetName(), err)
		}
		if op != controllerutil.OperationResultNone {
			r.Log.V(1).Info("applied", "kind", kind, "name", want.GetName(), "operation", op)
		}
	}
	return nil
}

// takeOwnership makes c the controller of obj. A controller reference to an
// earlier OpenTelemetryCollector of the same name (the resource deleted and
// recreated, or written by another operator version) is replaced; any other
// controller is an error naming it.
func (r *Collector) takeOwnership(c *v1beta1.OpenTelemetryCollector, obj client.Object) error {
	if ref := metav1.GetControllerOf(obj); ref != nil && ref.UID != c.UID {
		if ref.Kind != "OpenTelemetryCollector" || !strings.HasPrefix(ref.APIVersion, v1beta1.GroupVersion.Group+"/") || ref.Name != c.Name {
			return fmt.Errorf("%s %s is controlled by %s %s, not by this collector: rename or delete it", collectorbuild.KindOf(obj), obj.GetName(), ref.Kind, ref.Name)
		}
		refs := obj.GetOwnerReferences()
		kept := refs[:0]
		for _, o := range refs {
			if o.UID != ref.UID {
				kept = append(kept, o)
			}
		}
		obj.SetOwnerReferences(kept)
	}
	return controllerutil.SetControllerReference(c, obj, r.Scheme)
}

// mutate copies what the operator manages from want into existing, keeping
// what the API server and other controllers own (a Service's cluster IPs,
// a ServiceAccount's secrets, status).
func mutate(existing, want client.Object) {
	lbl := existing.GetLabels()
	if lbl == nil {
		lbl = map[string]string{}
	}
	maps.Copy(lbl, want.GetLabels())
	existing.SetLabels(lbl)
	if len(want.GetAnnotations()) > 0 {
		ann := existing.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		maps.Copy(ann, want.GetAnnotations())
		existing.SetAnnotations(ann)
	}
	switch e := existing.(type) {
	case *corev1.ConfigMap:
		e.Data = want.(*corev1.ConfigMap).Data
	case *corev1.ServiceAccount:
	case *corev1.Service:
		w := want.(*corev1.Service)
		e.Spec.Ports = w.Spec.Ports
		e.Spec.Selector = w.Spec.Selector
		e.Spec.InternalTrafficPolicy = w.Spec.InternalTrafficPolicy
		if w.Spec.ClusterIP == corev1.ClusterIPNone {
			e.Spec.ClusterIP = corev1.ClusterIPNone
		}
		if len(w.Spec.IPFamilies) > 0 {
			e.Spec.IPFamilies = w.Spec.IPFamilies
		}
		if w.Spec.IPFamilyPolicy != nil {
			e.Spec.IPFamilyPolicy = w.Spec.IPFamilyPolicy
		}
	case *appsv1.Deployment:
		w := want.(*appsv1.Deployment)
		tmpl := keepRestartedAt(e.Spec.Template, w.Spec.Template)
		e.Spec = w.Spec
		e.Spec.Template = tmpl
	case *appsv1.DaemonSet:
		w := want.(*appsv1.DaemonSet)
		tmpl := keepRestartedAt(e.Spec.Template, w.Spec.Template)
		e.Spec = w.Spec
		e.Spec.Template = tmpl
	case *appsv1.StatefulSet:
		w := want.(*appsv1.StatefulSet)
		tmpl := keepRestartedAt(e.Spec.Template, w.Spec.Template)
		// volumeClaimTemplates cannot change after creation.
		claims := e.Spec.VolumeClaimTemplates
		e.Spec = w.Spec
		e.Spec.Template = tmpl
		if e.CreationTimestamp.Time.IsZero() {
			claims = w.Spec.VolumeClaimTemplates
		}
		e.Spec.VolumeClaimTemplates = claims
	case *policyv1.PodDisruptionBudget:
		e.Spec = want.(*policyv1.PodDisruptionBudget).Spec
	case *autoscalingv2.HorizontalPodAutoscaler:
		e.Spec = want.(*autoscalingv2.HorizontalPodAutoscaler).Spec
	}
}

// keepRestartedAt is want's pod template with what the existing one has
// that the operator must not undo: a `kubectl rollout restart` stamp, and
// the empty values upstream's builder writes where autotel's leaves the
// field out (dnsConfig: {}, shareProcessNamespace: false). Both mean the
// same pods; without them adopting upstream's workload would change its
// spec and roll every pod for nothing.
func keepRestartedAt(existing, want corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	out := *want.DeepCopy()
	if d := existing.Spec.DNSConfig; out.Spec.DNSConfig == nil && d != nil && equality.Semantic.DeepEqual(*d, corev1.PodDNSConfig{}) {
		out.Spec.DNSConfig = d.DeepCopy()
	}
	if p := existing.Spec.ShareProcessNamespace; out.Spec.ShareProcessNamespace == nil && p != nil && !*p {
		out.Spec.ShareProcessNamespace = ptr.To(false)
	}
	if v, ok := existing.Annotations[restartedAtAnnotation]; ok {
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[restartedAtAnnotation] = v
	}
	return out
}

// deleteUnwanted removes objects this collector controls that the build no
// longer describes (e.g. the Deployment after a switch to daemonset mode),
// keeping the newest spec.configVersions ConfigMaps.
func (r *Collector) deleteUnwanted(ctx context.Context, c *v1beta1.OpenTelemetryCollector, desired []client.Object) error {
	want := map[string]bool{}
	for _, o := range desired {
		want[collectorbuild.KindOf(o)+"/"+o.GetName()] = true
	}
	sel := client.MatchingLabels{
		collectorbuild.LabelManagedBy: collectorbuild.ManagedByValue,
		collectorbuild.LabelInstance:  c.Namespace + "." + c.Name,
	}
	keepConfigs := c.Spec.ConfigVersions
	if keepConfigs < 1 {
		keepConfigs = 3
	}
	var errs []error
	for _, t := range collectorOwnedTypes() {
		list := t.list.DeepCopyObject().(client.ObjectList)
		if err := r.Client.List(ctx, list, client.InNamespace(c.Namespace), sel); err != nil {
			errs = append(errs, fmt.Errorf("listing %T: %w", list, err))
			continue
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var owned []client.Object
		for _, it := range items {
			o := it.(client.Object)
			if ref := metav1.GetControllerOf(o); ref != nil && ref.UID == c.UID {
				owned = append(owned, o)
			}
		}
		if _, isCM := t.obj.(*corev1.ConfigMap); isCM {
			// Old configurations stay for rollback, newest first.
			sort.SliceStable(owned, func(i, j int) bool { return createdAt(owned[j]).Before(createdAt(owned[i])) })
			kept := 0
			for _, o := range owned {
				if want["ConfigMap/"+o.GetName()] {
					kept++
				}
			}
			for _, o := range owned {
				if want["ConfigMap/"+o.GetName()] {
					continue
				}
				if kept < keepConfigs {
					kept++
					continue
				}
				errs = append(errs, r.delete(ctx, o))
			}
			continue
		}
		for _, o := range owned {
			if !want[collectorbuild.KindOf(o)+"/"+o.GetName()] {
				errs = append(errs, r.delete(ctx, o))
			}
		}
	}
	return errors.Join(errs...)
}

// createdAt is when a ConfigMap was created: the operator's nanosecond
// record, else (made by upstream's operator) its creationTimestamp.
func createdAt(o client.Object) time.Time {
	if v, err := time.Parse(time.RFC3339Nano, o.GetAnnotations()[configCreatedAnnotation]); err == nil {
		return v
	}
	return o.GetCreationTimestamp().Time
}

func (r *Collector) delete(ctx context.Context, o client.Object) error {
	if err := r.Client.Delete(ctx, o, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s/%s: %w", collectorbuild.KindOf(o), o.GetNamespace(), o.GetName(), err)
	}
	r.Log.V(1).Info("deleted", "kind", collectorbuild.KindOf(o), "name", o.GetName())
	return nil
}

// updateStatus reports image, version, scale and the Ready condition.
func (r *Collector) updateStatus(ctx context.Context, c *v1beta1.OpenTelemetryCollector, desired []client.Object, reconcileErr error) error {
	st := c.Status.DeepCopy()
	image := collectorbuild.Image(c, r.Build)
	st.Image = image
	st.Version = collectorbuild.Version(image)
	st.ObservedGeneration = c.Generation
	st.Scale.Selector = labels.SelectorFromSet(collectorbuild.SelectorLabels(c)).String()
	for _, o := range desired {
		var cur client.Object // read fresh: the desired object's fields must not linger
		switch o.(type) {
		case *appsv1.Deployment:
			cur = &appsv1.Deployment{}
		case *appsv1.StatefulSet:
			cur = &appsv1.StatefulSet{}
		case *appsv1.DaemonSet:
			cur = &appsv1.DaemonSet{}
		default:
			continue
		}
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(o), cur); err != nil {
			continue
		}
		var ready, total int32
		switch w := cur.(type) {
		case *appsv1.Deployment:
			ready, total = w.Status.ReadyReplicas, w.Status.Replicas
			st.Scale.Replicas = ptrValue(w.Spec.Replicas)
		case *appsv1.StatefulSet:
			ready, total = w.Status.ReadyReplicas, w.Status.Replicas
			st.Scale.Replicas = ptrValue(w.Spec.Replicas)
		case *appsv1.DaemonSet:
			ready, total = w.Status.NumberReady, w.Status.DesiredNumberScheduled
			st.Scale.Replicas = total
		}
		st.Scale.StatusReplicas = fmt.Sprintf("%d/%d", ready, total)
	}
	cond := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Reconciled", Message: "", ObservedGeneration: c.Generation}
	if reconcileErr != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "ReconcileError", reconcileErr.Error()
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	if equalStatus(&c.Status, st) {
		return nil
	}
	patch := client.MergeFrom(c.DeepCopy())
	c.Status = *st
	if err := r.Client.Status().Patch(ctx, c, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating status of OpenTelemetryCollector %s/%s: %w", c.Namespace, c.Name, err)
	}
	return nil
}

func ptrValue(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func equalStatus(a, b *v1beta1.OpenTelemetryCollectorStatus) bool {
	x, y := a.DeepCopy(), b.DeepCopy()
	// LastTransitionTime only moves when the status does.
	for i := range x.Conditions {
		x.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	for i := range y.Conditions {
		y.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	return equality.Semantic.DeepEqual(x, y)
}
