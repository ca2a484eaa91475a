package podwebhook

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/instrumentation"
)

// ClientLookup answers the injector's questions from the API server.
//
// Instrumentations come from the manager's cache (few objects, read on
// every admission). ReplicaSets, Jobs, Secrets and ConfigMaps are read
// directly: caching them would mean watching every such object in the
// cluster, including secret contents, to serve one read per pod.
type ClientLookup struct {
	Cached client.Reader
	Direct client.Reader
}

var _ instrumentation.Lookup = ClientLookup{}

// ownerBackoff: a ReplicaSet can create its pod before the RS is visible to
// a read that follows; retry NotFound briefly, as upstream does.
var ownerBackoff = wait.Backoff{Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 0.1, Steps: 20, Cap: 2 * time.Second}

// ListInstrumentations lists the Instrumentations of one namespace.
func (l ClientLookup) ListInstrumentations(ctx context.Context, namespace string) ([]v1alpha1.Instrumentation, error) {
	var list v1alpha1.InstrumentationList
	if err := l.Cached.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// ListDefaultInstrumentations lists the cluster's default-labelled
// Instrumentations from the cache, which already holds them all.
func (l ClientLookup) ListDefaultInstrumentations(ctx context.Context) ([]v1alpha1.Instrumentation, error) {
	var list v1alpha1.InstrumentationList
	if err := l.Cached.List(ctx, &list, client.MatchingLabels{instrumentation.DefaultLabel: "true"}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// GetInstrumentation reads one Instrumentation.
func (l ClientLookup) GetInstrumentation(ctx context.Context, namespace, name string) (*v1alpha1.Instrumentation, error) {
	var inst v1alpha1.Instrumentation
	if err := l.Cached.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &inst); err != nil {
		return nil, err
	}
	return &inst, nil
}

// ListCollectors lists the OpenTelemetryCollectors of one namespace from
// the cache (the collector controller watches them all anyway).
func (l ClientLookup) ListCollectors(ctx context.Context, namespace string) ([]v1beta1.OpenTelemetryCollector, error) {
	var list v1beta1.OpenTelemetryCollectorList
	if err := l.Cached.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// GetCollector reads one OpenTelemetryCollector.
func (l ClientLookup) GetCollector(ctx context.Context, namespace, name string) (*v1beta1.OpenTelemetryCollector, error) {
	var c v1beta1.OpenTelemetryCollector
	if err := l.Cached.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// GetReplicaSet reads a pod's owning ReplicaSet.
func (l ClientLookup) GetReplicaSet(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error) {
	var rs appsv1.ReplicaSet
	err := retry.OnError(ownerBackoff, apierrors.IsNotFound, func() error {
		return l.Direct.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &rs)
	})
	return &rs, err
}

// GetJob reads a pod's owning Job.
func (l ClientLookup) GetJob(ctx context.Context, namespace, name string) (*batchv1.Job, error) {
	var job batchv1.Job
	err := retry.OnError(ownerBackoff, apierrors.IsNotFound, func() error {
		return l.Direct.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &job)
	})
	return &job, err
}

// SecretExists checks a Secret by its metadata only, never its data.
func (l ClientLookup) SecretExists(ctx context.Context, namespace, name string) (bool, error) {
	return l.exists(ctx, "Secret", namespace, name)
}

// ConfigMapExists checks a ConfigMap by its metadata only.
func (l ClientLookup) ConfigMapExists(ctx context.Context, namespace, name string) (bool, error) {
	return l.exists(ctx, "ConfigMap", namespace, name)
}

func (l ClientLookup) exists(ctx context.Context, kind, namespace, name string) (bool, error) {
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	err := l.Direct.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, err
	}
}
