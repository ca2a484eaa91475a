package controllers

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
)

// unrecordedIndex indexes, by namespace, the pods that show injection (its
// init containers or sidecar) but carry no status annotation: upstream-
// identical pods, the default without opt-ins.
const unrecordedIndex = "autotel.unrecorded"

// UnrecordedPods counts, for Instrumentation status, the injected pods that
// carry no status annotation, so `kubectl get instrumentations` shows PODS
// and OUTDATED without any opt-in. A pod is attributed to an
// Instrumentation by the rules injection used (the inject-<language> value
// on the pod or its namespace; "true": the namespace's only or default
// Instrumentation, else the cluster default), read from the operator's
// caches: no API call per pod. It is outdated when an agent image it runs
// differs from the Instrumentation's image for that language now. A change
// to the Instrumentation's environment (endpoint, sampler, env) alone is not
// visible on such pods — a container's own variable wins over the
// Instrumentation's, so a differing value does not prove the pod stale —
// it is counted with status annotations (rollout opt-in or
// --pod-status-annotations), which record the spec hash.
type UnrecordedPods struct {
	Client client.Reader // the manager's cache
}

// IndexUnrecorded is the index function (register on corev1.Pod).
func IndexUnrecorded(o client.Object) []string {
	pod, ok := o.(*corev1.Pod)
	if !ok || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	if _, recorded := pod.Annotations[instrumentation.StatusAnnotation]; recorded {
		return nil
	}
	if len(instrumentation.InjectedLanguages(pod)) == 0 {
		return nil
	}
	return []string{pod.Namespace, unrecordedAll}
}

// unrecordedAll is the index value every unrecorded injected pod has too
// (no namespace is named "*"): a count reads them all with one lookup
// instead of one per namespace of the cluster.
const unrecordedAll = "*"

// Count returns the unrecorded pods running inst and how many of them are
// outdated.
func (u *UnrecordedPods) Count(ctx context.Context, inst *v1alpha1.Instrumentation) (total, outdated int32, err error) {
	// Read-only walks over the cache: no deep copy of every namespace and
	// injected pod per count (a count runs on every pod event).
	var namespaces corev1.NamespaceList
	if err := u.Client.List(ctx, &namespaces, client.UnsafeDisableDeepCopy); err != nil {
		return 0, 0, err
	}
	byName := make(map[string]*corev1.Namespace, len(namespaces.Items))
	for i := range namespaces.Items {
		byName[namespaces.Items[i].Name] = &namespaces.Items[i]
	}
	var pods corev1.PodList
	if err := u.Client.List(ctx, &pods, client.MatchingFields{unrecordedIndex: unrecordedAll}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, 0, err
	}
	ref := inst.Namespace + "/" + inst.Name
	r := newResolver(ctx, u.Client)
	for j := range pods.Items {
		pod := &pods.Items[j]
		ns := byName[pod.Namespace]
		if ns == nil {
			continue // the namespace is going; so are its pods
		}
		counted, stale := false, false
		for _, l := range instrumentation.InjectedLanguages(pod) {
			if r.resolve(ns, pod, l) != ref {
				continue
			}
			counted = true
			// The agent container and its image come from the language
			// table, as the injector uses them.
			if a, ok := l.Agent(); ok {
				if img := runningImage(pod, a.Name, a.Init); img != "" && img != specImage(l, &inst.Spec) {
					stale = true
				}
			}
		}
		if counted {
			total++
			if stale {
				outdated++
			}
		}
	}
	return total, outdated, nil
}

// specImage is the agent image inst's spec names for l.
func specImage(l instrumentation.Language, spec *v1alpha1.InstrumentationSpec) string {
	sec, ok := l.Spec()
	if !ok {
		return ""
	}
	return *sec.Of(spec).Image
}

// Requests maps an unrecorded injected pod to the Instrumentations it runs,
// so a pod's start or end updates their counts.
func (u *UnrecordedPods) Requests(ctx context.Context, o client.Object) []reconcile.Request {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return nil
	}
	if _, recorded := pod.Annotations[instrumentation.StatusAnnotation]; recorded {
		return nil
	}
	langs := instrumentation.InjectedLanguages(pod)
	if len(langs) == 0 {
		return nil
	}
	var ns corev1.Namespace
	if err := u.Client.Get(ctx, types.NamespacedName{Name: pod.Namespace}, &ns); err != nil {
		return nil
	}
	r := newResolver(ctx, u.Client)
	var reqs []reconcile.Request
	for _, l := range langs {
		if ref := r.resolve(&ns, pod, l); ref != "" {
			nsName, name, _ := strings.Cut(ref, "/")
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: nsName, Name: name}})
		}
	}
	return reqs
}

func runningImage(pod *corev1.Pod, name string, init bool) string {
	list := pod.Spec.Containers
	if init {
		list = pod.Spec.InitContainers
	}
	for _, c := range list {
		if c.Name == name {
			return c.Image
		}
	}
	return ""
}

// resolver applies the Instrumentation selection rules (docs/upstream-
// behaviour.md §2.1–2.2, plus autotel's cluster default) from the cache.
type resolver struct {
	ctx context.Context
	c   client.Reader
	// defaults remembers defaultFor per namespace: one count walks every
	// unrecorded pod, and the answer is the same for all pods of a namespace.
	defaults map[string]string
}

func newResolver(ctx context.Context, c client.Reader) resolver {
	return resolver{ctx: ctx, c: c, defaults: map[string]string{}}
}

// resolve names (namespace/name) the Instrumentation that a pod's
// language was injected from, "" when it cannot tell.
func (r resolver) resolve(ns *corev1.Namespace, pod *corev1.Pod, l instrumentation.Language) string {
	key := l.InjectAnnotation()
	if l == instrumentation.SDK {
		// SDK-only injection adds no container; InjectedLanguages reports
		// SDK for pods instrumented some other way, by any annotation.
		for _, other := range instrumentation.Languages {
			if v := annotationValue(ns.ObjectMeta, pod.ObjectMeta, other.InjectAnnotation()); v != "" && !strings.EqualFold(v, "false") {
				key = other.InjectAnnotation()
				break
			}
		}
	}
	v := annotationValue(ns.ObjectMeta, pod.ObjectMeta, key)
	switch {
	case v == "" || strings.EqualFold(v, "false"):
		return ""
	case strings.EqualFold(v, "true"):
		return r.defaultFor(pod.Namespace)
	case strings.Contains(v, "/"):
		return v
	}
	return pod.Namespace + "/" + v
}

func (r resolver) defaultFor(namespace string) string {
	if ref, ok := r.defaults[namespace]; ok {
		return ref
	}
	ref := r.lookupDefault(namespace)
	r.defaults[namespace] = ref
	return ref
}

func (r resolver) lookupDefault(namespace string) string {
	var list v1alpha1.InstrumentationList
	if err := r.c.List(r.ctx, &list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return ""
	}
	pick := func(items []v1alpha1.Instrumentation) string {
		var found []string
		for _, i := range items {
			if len(items) == 1 || i.Labels[instrumentation.DefaultLabel] == "true" {
				found = append(found, i.Namespace+"/"+i.Name)
			}
		}
		if len(found) != 1 {
			return ""
		}
		return found[0]
	}
	if len(list.Items) > 0 {
		return pick(list.Items)
	}
	var defaults v1alpha1.InstrumentationList
	if err := r.c.List(r.ctx, &defaults, client.MatchingLabels{instrumentation.DefaultLabel: "true"}); err != nil {
		return ""
	}
	if len(defaults.Items) != 1 {
		return ""
	}
	return defaults.Items[0].Namespace + "/" + defaults.Items[0].Name
}

// annotationValue is injection's pod-against-namespace precedence (§2.1): a
// pod value other than "true" is final; a pod "true" defers to a namespace
// value naming an Instrumentation, not to a namespace "false".
func annotationValue(ns, pod metav1.ObjectMeta, key string) string {
	p, n := pod.Annotations[key], ns.Annotations[key]
	switch {
	case n == "":
		return p
	case p == "":
		return n
	case !strings.EqualFold(p, "true"), strings.EqualFold(n, "false"):
		return p
	}
	return n
}

// SlimPod is the pod cache's transform: the operator caches every pod (to
// count upstream-identical injected ones) but keeps only what it reads —
// metadata without managed fields, container names, images and env, and
// the phase — a small fraction of a full pod. Most pods of a cluster show
// no injection and carry no status annotation: nothing the operator does
// reads more of them than their identity (no index holds them, no watch
// maps them to an Instrumentation), so they keep only that — with 10,000
// pods, most of the operator's memory otherwise (see test/scale).
func SlimPod(o any) (any, error) {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return o, nil
	}
	// Identity only for pods no controller reads further: not injected by
	// language, no status annotation, no sidecar config to roll out.
	_, recorded := pod.Annotations[instrumentation.StatusAnnotation]
	_, sidecar := pod.Annotations[instrumentation.SidecarConfigAnnotation]
	if !recorded && !sidecar && len(instrumentation.InjectedLanguages(pod)) == 0 {
		return &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
			DeletionTimestamp: pod.DeletionTimestamp,
		}, Status: corev1.PodStatus{Phase: pod.Status.Phase}}, nil
	}
	slim := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: pod.ObjectMeta, Status: corev1.PodStatus{Phase: pod.Status.Phase}}
	slim.ManagedFields = nil
	slim.Spec.InitContainers = slimContainers(pod.Spec.InitContainers)
	slim.Spec.Containers = slimContainers(pod.Spec.Containers)
	return slim, nil
}

func slimContainers(in []corev1.Container) []corev1.Container {
	if in == nil {
		return nil
	}
	out := make([]corev1.Container, len(in))
	for i, c := range in {
		out[i] = corev1.Container{Name: c.Name, Image: c.Image, Env: c.Env}
	}
	return out
}
