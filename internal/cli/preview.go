// Package cli implements the autotel command: a preview of what the pod
// webhook does to manifests (the same injector the webhook runs), an
// explanation of a live pod's injection, and an installation check.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/webhook/instrumentationwebhook"
)

// Preview is one workload after injection.
type Preview struct {
	Object runtime.Object
	Kind   string
	Name   string
	Report *instrumentation.Report // nil for objects that hold no pod
}

// InjectOptions are the settings a preview is made with: the installed
// operator's (read from the cluster) or, offline, the built-in defaults.
type InjectOptions struct {
	// Mutator carries the operator's injection settings.
	Mutator instrumentation.Mutator
	// Images default the Instrumentations read from files, as the
	// operator's Instrumentation webhook would when they are applied.
	Images instrumentationwebhook.Images
	// Live, when set, answers lookups from the cluster instead of the files.
	Live instrumentation.Lookup
	// Namespace, when set, reads a namespace the files do not hold (its
	// annotations can request injection or opt into rollout); nil or a nil
	// result means a namespace without annotations.
	Namespace func(ctx context.Context, name string) (*corev1.Namespace, error)
}

// InjectManifests runs the admission on every pod and pod template in m, as
// the webhook would when the controllers create the pods. Owners are
// simulated the way the controllers build them (Deployment → ReplicaSet →
// Pod, CronJob → Job → Pod), so service.name and k8s.* attributes match.
func InjectManifests(ctx context.Context, m *Manifests, defaultNamespace string, o InjectOptions) ([]Preview, error) {
	defaultNamespaces(m, defaultNamespace, o.Images)
	var base instrumentation.Lookup = &m.Lookup
	if o.Live != nil {
		base = o.Live
	}
	mut := o.Mutator
	namespaceFor := func(name string) (*corev1.Namespace, error) {
		if ns := m.Namespaces[name]; ns != nil {
			return ns, nil
		}
		if o.Namespace != nil {
			ns, err := o.Namespace(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("reading namespace %s: %w", name, err)
			}
			if ns != nil {
				return ns, nil
			}
		}
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, nil
	}
	var out []Preview
	for _, obj := range m.Workloads {
		p := Preview{Object: obj.DeepCopyObject()}
		l := base
		p.Kind, p.Name = kindName(p.Object)
		if pod, ok := p.Object.(*corev1.Pod); ok {
			// A bare pod is admitted as written.
			if pod.Namespace == "" {
				pod.Namespace = defaultNamespace
			}
			ns, err := namespaceFor(pod.Namespace)
			if err != nil {
				return nil, err
			}
			mutated, report := mut.Admit(ctx, ns, pod, l)
			p.Object = mutated
			p.Report = &report
			out = append(out, p)
			continue
		}
		meta, template, owner := podSource(p.Object)
		if meta == nil {
			out = append(out, p)
			continue
		}
		if meta.Namespace == "" {
			meta.Namespace = defaultNamespace
		}
		pod := &corev1.Pod{ObjectMeta: *template.ObjectMeta.DeepCopy(), Spec: *template.Spec.DeepCopy()}
		pod.Namespace = meta.Namespace
		l = simulateOwners(l, p.Object, meta, pod, owner)
		ns, err := namespaceFor(meta.Namespace)
		if err != nil {
			return nil, err
		}
		mutated, report := mut.Admit(ctx, ns, pod, l)
		// What admission changes: annotations, labels (the status label)
		// and the spec.
		template.ObjectMeta.Annotations = mutated.Annotations
		template.ObjectMeta.Labels = mutated.Labels
		template.Spec = mutated.Spec
		p.Report = &report
		out = append(out, p)
	}
	return out, nil
}

// defaultNamespaces puts objects written without a namespace into the
// target namespace, as `kubectl apply -n` would, and defaults
// Instrumentations as the operator's defaulting webhook would on apply.
func defaultNamespaces(m *Manifests, namespace string, images instrumentationwebhook.Images) {
	set := func(meta *metav1.ObjectMeta) {
		if meta.Namespace == "" {
			meta.Namespace = namespace
		}
	}
	for i := range m.Lookup.Instrumentations {
		set(&m.Lookup.Instrumentations[i].ObjectMeta)
		_ = (&instrumentationwebhook.Webhook{Images: images}).Default(context.Background(), &m.Lookup.Instrumentations[i])
	}
	for i := range m.Lookup.Collectors {
		set(&m.Lookup.Collectors[i].ObjectMeta)
	}
	for i := range m.Lookup.ReplicaSets {
		set(&m.Lookup.ReplicaSets[i].ObjectMeta)
	}
	for i := range m.Lookup.Jobs {
		set(&m.Lookup.Jobs[i].ObjectMeta)
	}
	for i := range m.Lookup.Secrets {
		set(&m.Lookup.Secrets[i].ObjectMeta)
	}
	for i := range m.Lookup.ConfigMaps {
		set(&m.Lookup.ConfigMaps[i].ObjectMeta)
	}
}

// podSource returns the object's metadata and the pod (template) inside it.
func podSource(obj runtime.Object) (*metav1.ObjectMeta, *corev1.PodTemplateSpec, string) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.ObjectMeta, &o.Spec.Template, "Deployment"
	case *appsv1.StatefulSet:
		return &o.ObjectMeta, &o.Spec.Template, "StatefulSet"
	case *appsv1.DaemonSet:
		return &o.ObjectMeta, &o.Spec.Template, "DaemonSet"
	case *appsv1.ReplicaSet:
		return &o.ObjectMeta, &o.Spec.Template, "ReplicaSet"
	case *batchv1.Job:
		return &o.ObjectMeta, &o.Spec.Template, "Job"
	case *batchv1.CronJob:
		return &o.ObjectMeta, &o.Spec.JobTemplate.Spec.Template, "CronJob"
	}
	return nil, nil, ""
}

func kindName(obj runtime.Object) (string, string) {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if m, ok := obj.(metav1.Object); ok {
		return kind, m.GetName()
	}
	return kind, ""
}

// simulateOwners gives the pod the owner references its controller would
// set, adding the intermediate objects (a Deployment's ReplicaSet, a
// CronJob's Job) to the lookup.
func simulateOwners(base instrumentation.Lookup, obj runtime.Object, meta *metav1.ObjectMeta, pod *corev1.Pod, kind string) instrumentation.Lookup {
	ref := func(apiVersion, kind, name string, uid types.UID) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}
	}
	extra := &withOwners{Lookup: base}
	switch kind {
	case "Deployment":
		d := obj.(*appsv1.Deployment)
		rs := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
			Name: meta.Name + "-" + templateHash(&d.Spec.Template), Namespace: meta.Namespace,
			OwnerReferences: []metav1.OwnerReference{ref("apps/v1", "Deployment", meta.Name, meta.UID)},
		}}
		extra.replicaSets = append(extra.replicaSets, rs)
		pod.OwnerReferences = []metav1.OwnerReference{ref("apps/v1", "ReplicaSet", rs.Name, "")}
		pod.GenerateName = rs.Name + "-"
	case "ReplicaSet", "StatefulSet", "DaemonSet":
		pod.OwnerReferences = []metav1.OwnerReference{ref("apps/v1", kind, meta.Name, meta.UID)}
		pod.GenerateName = meta.Name + "-"
	case "Job":
		pod.OwnerReferences = []metav1.OwnerReference{ref("batch/v1", "Job", meta.Name, meta.UID)}
		pod.GenerateName = meta.Name + "-"
	case "CronJob":
		job := batchv1.Job{ObjectMeta: metav1.ObjectMeta{
			Name: meta.Name + "-29000000", Namespace: meta.Namespace,
			OwnerReferences: []metav1.OwnerReference{ref("batch/v1", "CronJob", meta.Name, meta.UID)},
		}}
		extra.jobs = append(extra.jobs, job)
		pod.OwnerReferences = []metav1.OwnerReference{ref("batch/v1", "Job", job.Name, "")}
		pod.GenerateName = job.Name + "-"
	}
	return extra
}

// templateHash stands in for the Deployment controller's pod-template-hash
// (a different hash function, but the same shape: stable per template).
func templateHash(t *corev1.PodTemplateSpec) string {
	raw, _ := json.Marshal(t)
	h := fnv.New32a()
	_, _ = h.Write(raw)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// withOwners adds simulated owners to a lookup.
type withOwners struct {
	instrumentation.Lookup
	replicaSets []appsv1.ReplicaSet
	jobs        []batchv1.Job
}

func (w *withOwners) GetReplicaSet(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error) {
	for i := range w.replicaSets {
		if w.replicaSets[i].Namespace == namespace && w.replicaSets[i].Name == name {
			return w.replicaSets[i].DeepCopy(), nil
		}
	}
	return w.Lookup.GetReplicaSet(ctx, namespace, name)
}

func (w *withOwners) GetJob(ctx context.Context, namespace, name string) (*batchv1.Job, error) {
	for i := range w.jobs {
		if w.jobs[i].Namespace == namespace && w.jobs[i].Name == name {
			return w.jobs[i].DeepCopy(), nil
		}
	}
	return w.Lookup.GetJob(ctx, namespace, name)
}
