// Package controllers holds autotel's reconcilers: Instrumentation status
// (how many pods use it, how many are outdated) and rollout on change.
package controllers

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/collectorbuild"
	"github.com/autotel/autotel/internal/instrumentation"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;patch
// +kubebuilder:rbac:groups=opentelemetry.io,resources=instrumentations/status,verbs=get;update;patch

const (
	// instrumentationIndex indexes instrumented pods by the
	// Instrumentations (namespace/name) their status annotation names.
	instrumentationIndex = "autotel.instrumentations"
	// RestartedAtAnnotation is what `kubectl rollout restart` sets on a
	// pod template; setting it rolls the workload the same way.
	RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	// RolledOutAnnotation on a workload records the spec hash it was last
	// restarted for, so one change never restarts it twice.
	RolledOutAnnotation = "autotel.io/rolled-out-for"
	// SidecarRolledOutAnnotation is RolledOutAnnotation for collector
	// sidecar config changes (SidecarRollout). A marker of its own: with
	// one shared marker, an Instrumentation change and a sidecar change
	// during one rolling update would each see the other's key, take the
	// still-running old pods for unrestarted, and restart the workload
	// again and again until the old pods are gone.
	SidecarRolledOutAnnotation = "autotel.io/sidecar-rolled-out-for"
)

// Rollout keeps Instrumentation status current and, for Instrumentations
// or namespaces annotated autotel.io/rollout=true, restarts the workloads
// whose pods run an outdated injection. Upstream never touches running
// pods (its issue #553, open since 2021).
type Rollout struct {
	// Client reads the cached (instrumented) pods and writes patches.
	Client client.Client
	// Reader reads workloads directly: caching every ReplicaSet and
	// Deployment in the cluster for an occasional restart is not worth it.
	Reader   client.Reader
	Recorder record.EventRecorder
	Log      logr.Logger
	// Limiter bounds restarts across the cluster, so one change to a shared
	// Instrumentation does not restart every workload at once.
	Limiter *rate.Limiter
	// Resync re-checks even without events (pods that got outdated while
	// the operator was down).
	Resync time.Duration
	// Clock stamps restarts and paces the Limiter (nil: the real clock).
	// The limiter is asked with the clock's time, so a fake clock decides
	// both what restartedAt says and when a deferred restart is due.
	Clock clock.PassiveClock
	// Unrecorded adds injected pods without a status annotation to the
	// counts (podcounts.go); nil counts only recorded pods.
	Unrecorded *UnrecordedPods
}

// SetupWithManager registers the reconciler, the pod index and the watches.
func (r *Rollout) SetupWithManager(mgr ctrl.Manager) error {
	if r.Limiter == nil {
		r.Limiter = rate.NewLimiter(rate.Every(10*time.Second), 3)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, instrumentationIndex, podInstrumentations); err != nil {
		return fmt.Errorf("indexing pods by Instrumentation: %w", err)
	}
	if r.Unrecorded != nil {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, unrecordedIndex, IndexUnrecorded); err != nil {
			return fmt.Errorf("indexing unrecorded injected pods: %w", err)
		}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("instrumentation-rollout").
		For(&v1alpha1.Instrumentation{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var reqs []reconcile.Request
			if r.Unrecorded != nil {
				reqs = r.Unrecorded.Requests(ctx, o)
			}
			return append(reqs, requestsFor(podInstrumentations(o))...)
		})).
		Complete(r)
}

func podInstrumentations(o client.Object) []string {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return nil
	}
	st, ok, err := instrumentation.ReadStatus(pod)
	if !ok || err != nil {
		return nil
	}
	var refs []string
	for _, l := range st.Languages {
		if l.Instrumentation != "" && len(l.Injected) > 0 {
			refs = append(refs, l.Instrumentation)
		}
	}
	return refs
}

// Reconcile counts the Instrumentation's pods and rolls outdated workloads.
func (r *Rollout) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var inst v1alpha1.Instrumentation
	if err := r.Client.Get(ctx, req.NamespacedName, &inst); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	hash := instrumentation.SpecHash(&inst)
	var pods corev1.PodList
	// Read only (counted, and owners looked up): no deep copy of each pod.
	if err := r.Client.List(ctx, &pods, client.MatchingFields{instrumentationIndex: req.Namespace + "/" + req.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing pods of %s: %w", req, err)
	}
	var total, outdated int32
	var stale []*corev1.Pod
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		total++
		if podHash(pod, req.Namespace+"/"+req.Name) != hash {
			outdated++
			stale = append(stale, pod)
		}
	}
	if r.Unrecorded != nil {
		t, o, err := r.Unrecorded.Count(ctx, &inst)
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("counting unrecorded pods of %s: %w", req, err)
		}
		total, outdated = total+t, outdated+o
	}
	if inst.Status.SpecHash != hash || inst.Status.Pods != total || inst.Status.OutdatedPods != outdated {
		// A merge patch, not an update: the counts are recomputed whole by
		// every reconcile, so the last writer is right, and a replica or a
		// cache one event behind must not turn into a conflict error.
		patch := client.MergeFrom(inst.DeepCopy())
		inst.Status.SpecHash, inst.Status.Pods, inst.Status.OutdatedPods = hash, total, outdated
		if err := r.Client.Status().Patch(ctx, &inst, patch); err != nil {
			return reconcile.Result{}, fmt.Errorf("updating status of %s: %w", req, err)
		}
	}

	return r.restartStale(ctx, stale, func(pod *corev1.Pod) bool { return r.optedIn(ctx, &inst, pod.Namespace) },
		RolledOutAnnotation, hash, fmt.Sprintf("Instrumentation %s changed (spec hash %s)", req, hash))
}

// restartStale restarts the workloads of the stale pods that opted in,
// once per key (recorded in the workload's marker annotation), and says
// when to reconcile again: soon when the rate limit deferred a restart,
// else at the next resync.
func (r *Rollout) restartStale(ctx context.Context, stale []*corev1.Pod, optedIn func(*corev1.Pod) bool, marker, key, why string) (reconcile.Result, error) {
	var retry time.Duration
	// One restart decision per owner: its pods share it, and each costs
	// API reads (ReplicaSet, workload) that a Deployment of many pods
	// would otherwise repeat per pod on every reconcile.
	owners := map[string]bool{}
	for _, pod := range stale {
		if owner := metav1.GetControllerOf(pod); owner != nil {
			ownerKey := pod.Namespace + "/" + owner.Kind + "/" + owner.Name
			if owners[ownerKey] {
				continue
			}
			owners[ownerKey] = true
		}
		if !optedIn(pod) {
			continue
		}
		wait, err := r.restartOwnerMarked(ctx, pod, marker, key, why)
		if err != nil {
			return reconcile.Result{}, err
		}
		if wait > 0 && (retry == 0 || wait < retry) {
			retry = wait
		}
	}
	if retry > 0 {
		return reconcile.Result{RequeueAfter: retry}, nil
	}
	return reconcile.Result{RequeueAfter: r.Resync}, nil
}

func podHash(pod *corev1.Pod, ref string) string {
	st, _, _ := instrumentation.ReadStatus(pod)
	for _, l := range st.Languages {
		if l.Instrumentation == ref {
			return l.Hash
		}
	}
	return ""
}

func (r *Rollout) optedIn(ctx context.Context, inst *v1alpha1.Instrumentation, namespace string) bool {
	if inst.Annotations[instrumentation.RolloutAnnotation] == "true" {
		return true
	}
	var ns corev1.Namespace
	if err := r.Client.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
		return false
	}
	return ns.Annotations[instrumentation.RolloutAnnotation] == "true"
}

// restartOwner restarts the workload that owns pod, once per key. It
// returns how long to wait when the rate limit defers the restart.
func (r *Rollout) restartOwner(ctx context.Context, pod *corev1.Pod, key, why string) (time.Duration, error) {
	return r.restartOwnerMarked(ctx, pod, RolledOutAnnotation, key, why)
}

// restartOwnerMarked is restartOwner recording key in the marker annotation.
func (r *Rollout) restartOwnerMarked(ctx context.Context, pod *corev1.Pod, marker, key, why string) (time.Duration, error) {
	obj, err := r.workloadOf(ctx, pod)
	if err != nil || obj == nil {
		return 0, err
	}
	return r.restartWorkload(ctx, obj, marker, key, nil, corev1.EventTypeNormal, "InstrumentationRollout", "restarted to apply instrumentation: "+why)
}

// restartWorkload restarts obj like `kubectl rollout restart`, once per
// key recorded in the workload's annotation onceKey, with edit applied to
// it in the same patch (rollback marks the template there), and records an
// Event. It returns how long to wait when the rate limit defers it.
func (r *Rollout) restartWorkload(ctx context.Context, obj client.Object, onceKey, key string, edit func(client.Object), eventType, reason, msg string) (time.Duration, error) {
	if obj.GetAnnotations()[onceKey] == key {
		return 0, nil // already restarted for this change; never twice
	}
	now := r.clock().Now()
	if res := r.Limiter.ReserveN(now, 1); !res.OK() || res.DelayFrom(now) > 0 {
		d := res.DelayFrom(now)
		res.CancelAt(now)
		return max(d, time.Second), nil
	}
	// A JSON merge patch computed from the change: only the annotations
	// are sent, and client-side encoding handles any key.
	orig := obj.DeepCopyObject().(client.Object)
	setAnnotation(obj, onceKey, key)
	setAnnotation(podTemplate(obj), RestartedAtAnnotation, now.UTC().Format(time.RFC3339))
	if edit != nil {
		edit(obj)
	}
	if err := r.Client.Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("restarting %s %s/%s: %w", collectorbuild.KindOf(obj), obj.GetNamespace(), obj.GetName(), err)
	}
	r.Recorder.Event(obj, eventType, reason, msg)
	r.Log.Info("restarted workload", "namespace", obj.GetNamespace(), "name", obj.GetName(), "why", msg)
	return 0, nil
}

func (r *Rollout) clock() clock.PassiveClock {
	if r.Clock == nil {
		return clock.RealClock{}
	}
	return r.Clock
}

func setAnnotation(o metav1.Object, k, v string) {
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[k] = v
	o.SetAnnotations(a)
}

// podTemplate is the template of a workload workloadOf returns.
func podTemplate(obj client.Object) *metav1.ObjectMeta {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template.ObjectMeta
	case *appsv1.StatefulSet:
		return &o.Spec.Template.ObjectMeta
	case *appsv1.DaemonSet:
		return &o.Spec.Template.ObjectMeta
	}
	panic(fmt.Sprintf("podTemplate: unexpected workload %T", obj)) // workloadOf returns only these
}

// workloadOf finds the Deployment, StatefulSet or DaemonSet behind a pod;
// nil for pods nothing would recreate (bare pods, Jobs).
func (r *Rollout) workloadOf(ctx context.Context, pod *corev1.Pod) (client.Object, error) {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return nil, nil
	}
	key := types.NamespacedName{Namespace: pod.Namespace, Name: owner.Name}
	var obj client.Object
	switch owner.Kind {
	case "ReplicaSet":
		var rs appsv1.ReplicaSet
		if err := r.Reader.Get(ctx, key, &rs); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		dep := metav1.GetControllerOf(&rs)
		if dep == nil || dep.Kind != "Deployment" {
			return nil, nil
		}
		key.Name, obj = dep.Name, &appsv1.Deployment{}
	case "StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "DaemonSet":
		obj = &appsv1.DaemonSet{}
	default:
		return nil, nil
	}
	if err := r.Reader.Get(ctx, key, obj); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return obj, nil
}
