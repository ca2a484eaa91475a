package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/collectorbuild"
	"github.com/autotel/autotel/internal/instrumentation"
)

// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=list
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get

const (
	// RollbackAnnotation ("true") on an Instrumentation or a namespace opts
	// its workloads into rollback alone; RolloutAnnotation opts into both.
	RollbackAnnotation = "autotel.io/rollback"
	// RolledBackAnnotation on a workload records the Instrumentation
	// (namespace/name) and spec hash it was rolled back for, as
	// "namespace/name@hash": one rollback per workload per spec hash.
	RolledBackAnnotation = "autotel.io/rolled-back-for"
)

var (
	rollbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "autotel_instrumentation_rollbacks_total",
		Help: "Workloads whose instrumentation autotel rolled back because their injected pods failed, by failure kind.",
	}, []string{"failure"})
	failingWorkloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "autotel_instrumentation_failures_total",
		Help: "Workloads with failing injected pods, by decision: rolled-back, app (the app's own failure), unsure, not-opted-in, already-rolled-back.",
	}, []string{"decision"})
)

func init() {
	metrics.Registry.MustRegister(rollbacks, failingWorkloads)
}

// Rollback finds workloads whose injected pods fail where their previous,
// uninstrumented pods did not, and (opted in) marks their template
// autotel.io/injection-disabled and restarts them once through Rollout's
// restart. See docs/rollback.md.
type Rollback struct {
	Rollout    *Rollout
	Thresholds Thresholds

	mu sync.Mutex
	// told remembers the Events already sent (workload UID, hash,
	// decision), so a crash loop gives one Event, not one per restart.
	told map[string]bool
	// gone remembers, for rememberGone, uninstrumented pods that were
	// ready, or had crashed, when they were deleted (by UID). A rollout scales the previous
	// template down as soon as a new pod is ready for an instant (no
	// readiness probe: the moment its process starts, before an agent
	// kills it), and a StatefulSet or DaemonSet deletes the old pod before
	// it creates the new one: without this there would be nothing left to
	// compare with.
	gone map[types.UID]*corev1.Pod
}

// rememberGone is how long a deleted healthy pod counts as the previous
// template's evidence.
const rememberGone = 10 * time.Minute

// SetupWithManager registers the pod watch (the slim pod cache: status is
// kept by SlimPodWithStatus) and the retry on Instrumentation change.
func (b *Rollback) SetupWithManager(mgr ctrl.Manager) error {
	if b.Thresholds == (Thresholds{}) {
		b.Thresholds = DefaultThresholds
	}
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("instrumentation-rollback").
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			pod, ok := o.(*corev1.Pod)
			if !ok || metav1.GetControllerOf(pod) == nil {
				return nil
			}
			if pod.DeletionTimestamp != nil {
				b.noteGone(pod)
				return nil
			}
			if podReady(pod) || !injectedPod(pod) {
				return nil
			}
			return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(pod)}}
		})).
		Complete(reconcile.Func(b.reconcilePod)); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("instrumentation-rollback-retry").
		For(&v1alpha1.Instrumentation{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(reconcile.Func(b.retry))
}

// reconcilePod looks at one not-ready injected pod's workload.
func (b *Rollback) reconcilePod(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r := b.Rollout
	var pod corev1.Pod
	if err := r.Client.Get(ctx, req.NamespacedName, &pod); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if pod.DeletionTimestamp != nil || podReady(&pod) || !injectedPod(&pod) {
		return reconcile.Result{}, nil
	}
	now := r.clock().Now()
	_, failing, flapping := podFailure(&pod, b.Thresholds, now)
	if !failing && !flapping && !b.mayFail(&pod, now) {
		return reconcile.Result{}, nil
	}
	inst, err := b.instrumentationOf(ctx, &pod)
	if err != nil || inst == nil {
		return reconcile.Result{}, err
	}
	obj, err := r.workloadOf(ctx, &pod)
	if err != nil || obj == nil {
		return reconcile.Result{}, err
	}
	if _, marked := podTemplate(obj).Annotations[instrumentation.InjectionDisabledAnnotation]; marked {
		return reconcile.Result{}, nil // rolled back (or by hand): pods are coming back uninstrumented
	}
	current, previous, err := b.workloadPods(ctx, obj, &pod)
	if err != nil {
		return reconcile.Result{}, err
	}
	d := Decide(current, previous, progressDeadlineExceeded(obj), b.Thresholds, now)
	hash := instrumentation.SpecHash(inst)
	key := inst.Namespace + "/" + inst.Name + "@" + hash
	switch d.Verdict {
	case VerdictHealthy:
		if !failing && !flapping {
			// Not failing yet (a pull within its grace, a deadline not yet
			// passed): look again then.
			return reconcile.Result{RequeueAfter: b.Thresholds.ImagePullGrace}, nil
		}
		return reconcile.Result{}, nil
	case VerdictApp:
		b.tell(obj, key, "app", corev1.EventTypeWarning, "InstrumentationNotRolledBack", "not rolled back: "+d.Why)
		return reconcile.Result{}, nil
	case VerdictUnsure:
		b.tell(obj, key, "unsure", corev1.EventTypeWarning, "InstrumentationNotRolledBack", "not rolled back, unsure: "+d.Why)
		return reconcile.Result{}, nil
	}
	if obj.GetAnnotations()[RolledBackAnnotation] == key {
		b.tell(obj, key, "already-rolled-back", corev1.EventTypeWarning, "InstrumentationNotRolledBack",
			fmt.Sprintf("not rolled back again: %s; it was rolled back once for Instrumentation %s (spec hash %s) and is never rolled back twice for the same spec: fix the Instrumentation or set %s again", d.Why, inst.Namespace+"/"+inst.Name, hash, instrumentation.InjectionDisabledAnnotation))
		return reconcile.Result{}, nil
	}
	if !b.optedIn(ctx, inst, pod.Namespace) {
		b.tell(obj, key, "not-opted-in", corev1.EventTypeWarning, "InstrumentationFailing",
			fmt.Sprintf("%s; autotel would roll it back: annotate the Instrumentation or namespace %s=true (or %s=true)", d.Why, RollbackAnnotation, instrumentation.RolloutAnnotation))
		return reconcile.Result{}, nil
	}
	reason := fmt.Sprintf("rolled back by autotel: %s (Instrumentation %s/%s, spec hash %s)", d.Failure, inst.Namespace, inst.Name, hash)
	msg := "instrumentation rolled back, pods restart without it: " + d.Why + fmt.Sprintf("; remove the pod template annotation %s to try again (it is removed when Instrumentation %s/%s changes)", instrumentation.InjectionDisabledAnnotation, inst.Namespace, inst.Name)
	wait, err := r.restartWorkload(ctx, obj, RolledBackAnnotation, key, func(o client.Object) {
		setAnnotation(podTemplate(o), instrumentation.InjectionDisabledAnnotation, reason)
	}, corev1.EventTypeWarning, "InstrumentationRolledBack", msg)
	if err != nil || wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, err
	}
	r.Recorder.Event(inst, corev1.EventTypeWarning, "InstrumentationRolledBack",
		fmt.Sprintf("%s %s/%s rolled back: %s", collectorbuild.KindOf(obj), obj.GetNamespace(), obj.GetName(), d.Why))
	rollbacks.WithLabelValues(string(d.Failure.Kind)).Inc()
	failingWorkloads.WithLabelValues("rolled-back").Inc()
	b.markTold(obj, key, "rolled-back")
	return reconcile.Result{}, nil
}

// mayFail: a pod whose agent image pull is within its grace, or that is
// past its workload's progress deadline, is looked at (again) later.
func (b *Rollback) mayFail(pod *corev1.Pod, now time.Time) bool {
	for _, cs := range pod.Status.InitContainerStatuses {
		if w := cs.State.Waiting; w != nil && imagePullReasons[w.Reason] && agentInitContainer(cs.Name) {
			return true
		}
	}
	// Running but never ready: only the workload's progress deadline
	// (checked by Decide) can make it a failure.
	return pod.Status.Phase == corev1.PodRunning && now.Sub(pod.CreationTimestamp.Time) > 0
}

func progressDeadlineExceeded(obj client.Object) bool {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return true
		}
	}
	return false
}

// noteGone remembers a deleted pod without instrumentation that ran ready
// or crashed: evidence either way (a rollout deletes unhealthy old pods
// first).
func (b *Rollback) noteGone(pod *corev1.Pod) {
	if injectedPod(pod) || (!podReady(pod) && podRestarts(pod) == 0) {
		return
	}
	now := b.Rollout.clock().Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gone == nil {
		b.gone = map[types.UID]*corev1.Pod{}
	}
	for uid, p := range b.gone {
		if now.Sub(p.DeletionTimestamp.Time) > rememberGone {
			delete(b.gone, uid)
		}
	}
	p := pod.DeepCopy()
	p.DeletionTimestamp = &metav1.Time{Time: now}
	b.gone[pod.UID] = p
}

// goneLike lists the remembered deleted pods of namespace whose labels
// match sel.
func (b *Rollback) goneLike(namespace string, sel labels.Selector) []*corev1.Pod {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*corev1.Pod
	for _, p := range b.gone {
		if p.Namespace == namespace && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// tell records a Warning once per workload, spec and decision.
func (b *Rollback) tell(obj client.Object, key, decision, eventType, reason, msg string) {
	if !b.markTold(obj, key, decision) {
		return
	}
	failingWorkloads.WithLabelValues(decision).Inc()
	b.Rollout.Recorder.Event(obj, eventType, reason, msg)
	b.Rollout.Log.Info("instrumented workload fails", "namespace", obj.GetNamespace(), "name", obj.GetName(), "decision", decision, "why", msg)
}

func (b *Rollback) markTold(obj client.Object, key, decision string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.told == nil {
		b.told = map[string]bool{}
	}
	k := string(obj.GetUID()) + "|" + key + "|" + decision
	if b.told[k] {
		return false
	}
	b.told[k] = true
	return true
}

func (b *Rollback) optedIn(ctx context.Context, inst *v1alpha1.Instrumentation, namespace string) bool {
	// Either switch, on the Instrumentation or the namespace: one read of
	// the namespace answers both.
	for _, key := range []string{RollbackAnnotation, instrumentation.RolloutAnnotation} {
		if inst.Annotations[key] == "true" {
			return true
		}
	}
	var ns corev1.Namespace
	if err := b.Rollout.Client.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
		return false
	}
	return ns.Annotations[RollbackAnnotation] == "true" || ns.Annotations[instrumentation.RolloutAnnotation] == "true"
}

// instrumentationOf finds the Instrumentation the pod was injected from:
// its status annotation, else the selection rules (podcounts.go).
func (b *Rollback) instrumentationOf(ctx context.Context, pod *corev1.Pod) (*v1alpha1.Instrumentation, error) {
	c := b.Rollout.Client
	ref := ""
	if refs := podInstrumentations(pod); len(refs) > 0 {
		ref = refs[0]
	} else {
		var ns corev1.Namespace
		if err := c.Get(ctx, types.NamespacedName{Name: pod.Namespace}, &ns); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		res := newResolver(ctx, c)
		for _, l := range instrumentation.InjectedLanguages(pod) {
			if ref = res.resolve(&ns, pod, l); ref != "" {
				break
			}
		}
	}
	nsName, name, ok := strings.Cut(ref, "/")
	if !ok {
		return nil, nil
	}
	var inst v1alpha1.Instrumentation
	if err := c.Get(ctx, types.NamespacedName{Namespace: nsName, Name: name}, &inst); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return &inst, nil
}

// templateLabel tells a workload's templates apart on its pods.
func templateLabel(obj client.Object) string {
	if _, ok := obj.(*appsv1.Deployment); ok {
		return appsv1.DefaultDeploymentUniqueLabelKey
	}
	return appsv1.ControllerRevisionHashLabelKey
}

// workloadPods splits the workload's pods (from the slim cache, by its
// selector) into the injected ones of pod's template and the uninjected
// ones of other templates.
func (b *Rollback) workloadPods(ctx context.Context, obj client.Object, pod *corev1.Pod) (current, previous []*corev1.Pod, err error) {
	// The three kinds keep their selector at spec.selector.
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the selector of %s %s/%s: %w", collectorbuild.KindOf(obj), obj.GetNamespace(), obj.GetName(), err)
	}
	raw, _, _ := unstructured.NestedMap(u, "spec", "selector")
	var sel metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &sel); err != nil {
		return nil, nil, fmt.Errorf("reading the selector of %s %s/%s: %w", collectorbuild.KindOf(obj), obj.GetNamespace(), obj.GetName(), err)
	}
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil || s.Empty() {
		return nil, nil, err
	}
	var pods corev1.PodList
	if err := b.Rollout.Client.List(ctx, &pods, client.InNamespace(pod.Namespace), client.MatchingLabelsSelector{Selector: s}); err != nil {
		return nil, nil, fmt.Errorf("listing pods of %s %s/%s: %w", collectorbuild.KindOf(obj), obj.GetNamespace(), obj.GetName(), err)
	}
	tl := templateLabel(obj)
	tmpl := pod.Labels[tl]
	all := make([]*corev1.Pod, 0, len(pods.Items))
	live := map[types.UID]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		all, live[p.UID] = append(all, p), true
	}
	for _, p := range b.goneLike(pod.Namespace, s) {
		if !live[p.UID] {
			all = append(all, p)
		}
	}
	for _, p := range all {
		switch {
		case p.Labels[tl] == tmpl && injectedPod(p):
			current = append(current, p)
		case p.Labels[tl] != tmpl && !injectedPod(p):
			previous = append(previous, p)
		}
	}
	return current, previous, nil
}

// retry removes the rollback mark from the workloads rolled back for an
// older spec of inst: the Instrumentation changed, so injection gets one
// more try (and one more rollback, for the new spec hash).
func (b *Rollback) retry(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r := b.Rollout
	var inst v1alpha1.Instrumentation
	if err := r.Client.Get(ctx, req.NamespacedName, &inst); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	ref := req.Namespace + "/" + req.Name + "@"
	hash := instrumentation.SpecHash(&inst)
	lists := []client.ObjectList{&appsv1.DeploymentList{}, &appsv1.StatefulSetList{}, &appsv1.DaemonSetList{}}
	for _, l := range lists {
		if err := r.Reader.List(ctx, l); err != nil {
			return reconcile.Result{}, fmt.Errorf("listing workloads rolled back for %s: %w", req, err)
		}
		var objs []client.Object
		if err := apimeta.EachListItem(l, func(o runtime.Object) error {
			objs = append(objs, o.(client.Object))
			return nil
		}); err != nil {
			return reconcile.Result{}, fmt.Errorf("reading workloads rolled back for %s: %w", req, err)
		}
		for _, obj := range objs {
			done := obj.GetAnnotations()[RolledBackAnnotation]
			tmpl := podTemplate(obj)
			_, marked := tmpl.Annotations[instrumentation.InjectionDisabledAnnotation]
			if !marked || !strings.HasPrefix(done, ref) || done == ref+hash ||
				!strings.HasPrefix(tmpl.Annotations[instrumentation.InjectionDisabledAnnotation], "rolled back by autotel") {
				continue
			}
			orig := obj.DeepCopyObject().(client.Object)
			delete(podTemplate(obj).Annotations, instrumentation.InjectionDisabledAnnotation)
			if err := r.Client.Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
				return reconcile.Result{}, fmt.Errorf("removing %s from %s %s/%s: %w", instrumentation.InjectionDisabledAnnotation, collectorbuild.KindOf(obj), obj.GetNamespace(), obj.GetName(), err)
			}
			r.Recorder.Event(obj, corev1.EventTypeNormal, "InstrumentationRetry",
				fmt.Sprintf("Instrumentation %s changed (spec hash %s): instrumentation is tried again after its rollback", req, hash))
		}
	}
	return reconcile.Result{}, nil
}

// SlimPodWithStatus is SlimPod plus what the rollback detector reads: the
// Ready condition and the containers' states, restart counts and images.
// It replaces SlimPod as the pod cache's transform when rollback runs.
func SlimPodWithStatus(o any) (any, error) {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return o, nil
	}
	out, err := SlimPod(o)
	if err != nil {
		return out, err
	}
	slim := out.(*corev1.Pod)
	// The detector compares a workload's injected pods with its plain pods
	// of the previous template: it finds those by the workload's selector
	// and template label, so plain pods keep their labels and owner here.
	if slim.Labels == nil {
		slim.Labels, slim.OwnerReferences = pod.Labels, pod.OwnerReferences
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			slim.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	slim.Status.InitContainerStatuses = slimStatuses(pod.Status.InitContainerStatuses)
	slim.Status.ContainerStatuses = slimStatuses(pod.Status.ContainerStatuses)
	return slim, nil
}

func slimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if in == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, cs := range in {
		out[i] = corev1.ContainerStatus{Name: cs.Name, Image: cs.Image, Ready: cs.Ready, RestartCount: cs.RestartCount,
			State: slimState(cs.State), LastTerminationState: slimState(cs.LastTerminationState)}
	}
	return out
}

func slimState(s corev1.ContainerState) corev1.ContainerState {
	var out corev1.ContainerState
	if s.Waiting != nil {
		out.Waiting = &corev1.ContainerStateWaiting{Reason: s.Waiting.Reason}
	}
	if s.Running != nil {
		out.Running = &corev1.ContainerStateRunning{StartedAt: s.Running.StartedAt}
	}
	if t := s.Terminated; t != nil {
		out.Terminated = &corev1.ContainerStateTerminated{ExitCode: t.ExitCode, Reason: t.Reason, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt}
	}
	return out
}
