package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/instrumentation"
)

// sidecarIndex indexes pods by the collector (namespace/name) whose sidecar
// they run, from instrumentation.SidecarConfigAnnotation.
const sidecarIndex = "autotel.sidecar-collector"

// SidecarRollout restarts, when a sidecar-mode OpenTelemetryCollector's
// config changes, the workloads whose pods run its old config — where the
// pod, its namespace or the collector is annotated autotel.io/rollout=true.
// Pods record the config they got (SidecarConfigAnnotation) only with such
// an opt-in. Restarts go through Rollout's: once per change, rate-limited,
// with an Event. Upstream never restarts sidecar pods (its issue #2078).
type SidecarRollout struct {
	Rollout *Rollout
}

// SetupWithManager registers the pod index and the watches.
func (s *SidecarRollout) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, sidecarIndex, podSidecarCollector); err != nil {
		return fmt.Errorf("indexing pods by sidecar collector: %w", err)
	}
	sidecarMode := predicate.NewPredicateFuncs(func(o client.Object) bool {
		c, ok := o.(*v1beta1.OpenTelemetryCollector)
		return ok && c.Spec.Mode == v1beta1.ModeSidecar
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("sidecar-rollout").
		For(&v1beta1.OpenTelemetryCollector{}, builder.WithPredicates(sidecarMode)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return requestsFor(podSidecarCollector(o))
		})).
		Complete(s)
}

func podSidecarCollector(o client.Object) []string {
	ref, _, ok := instrumentation.ParseSidecarConfig(o.GetAnnotations()[instrumentation.SidecarConfigAnnotation])
	if !ok {
		return nil
	}
	return []string{ref}
}

// Reconcile restarts the opted-in workloads of the collector's outdated pods.
func (s *SidecarRollout) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r := s.Rollout
	var col v1beta1.OpenTelemetryCollector
	if err := r.Client.Get(ctx, req.NamespacedName, &col); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if col.Spec.Mode != v1beta1.ModeSidecar {
		return reconcile.Result{}, nil
	}
	hash := instrumentation.SidecarConfigHash(&col)
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.MatchingFields{sidecarIndex: req.Namespace + "/" + req.Name}); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing sidecar pods of %s: %w", req, err)
	}
	var stale []*corev1.Pod
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if _, podHash, _ := instrumentation.ParseSidecarConfig(pod.Annotations[instrumentation.SidecarConfigAnnotation]); podHash != hash {
			stale = append(stale, pod)
		}
	}
	return r.restartStale(ctx, stale, func(pod *corev1.Pod) bool { return s.optedIn(ctx, &col, pod) },
		SidecarRolledOutAnnotation, "sidecar:"+req.Namespace+"/"+req.Name+"@"+hash,
		fmt.Sprintf("the config of OpenTelemetryCollector %s, whose sidecar the pods run, changed (config hash %s)", req, hash))
}

// optedIn: the collector, the pod (its workload's template) or its
// namespace carries autotel.io/rollout=true.
func (s *SidecarRollout) optedIn(ctx context.Context, col *v1beta1.OpenTelemetryCollector, pod *corev1.Pod) bool {
	if col.Annotations[instrumentation.RolloutAnnotation] == "true" || pod.Annotations[instrumentation.RolloutAnnotation] == "true" {
		return true
	}
	var ns corev1.Namespace
	if err := s.Rollout.Client.Get(ctx, types.NamespacedName{Name: pod.Namespace}, &ns); err != nil {
		return false
	}
	return ns.Annotations[instrumentation.RolloutAnnotation] == "true"
}

// requestsFor turns namespace/name references into reconcile requests.
func requestsFor(refs []string) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(refs))
	for _, ref := range refs {
		ns, name, _ := strings.Cut(ref, "/")
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
	}
	return reqs
}
