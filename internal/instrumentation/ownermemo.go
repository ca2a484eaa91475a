package instrumentation

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
)

// ownerMemo answers GetReplicaSet and GetJob once per object for one
// Mutate call: the collector sidecar's resource attributes and every
// injected container's owner chain read the same ReplicaSet or Job, and
// the webhook's lookup reads them from the API server (retrying a
// NotFound for up to seconds), so each repeat would cost a round trip, or
// the whole retry again. The objects are only read, never changed.
type ownerMemo struct {
	Lookup
	replicaSets map[string]memoResult[*appsv1.ReplicaSet]
	jobs        map[string]memoResult[*batchv1.Job]
}

type memoResult[T any] struct {
	obj T
	err error
}

func newOwnerMemo(l Lookup) *ownerMemo {
	return &ownerMemo{Lookup: l, replicaSets: map[string]memoResult[*appsv1.ReplicaSet]{}, jobs: map[string]memoResult[*batchv1.Job]{}}
}

func (m *ownerMemo) GetReplicaSet(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error) {
	return memoized(m.replicaSets, namespace+"/"+name, func() (*appsv1.ReplicaSet, error) { return m.Lookup.GetReplicaSet(ctx, namespace, name) })
}

func (m *ownerMemo) GetJob(ctx context.Context, namespace, name string) (*batchv1.Job, error) {
	return memoized(m.jobs, namespace+"/"+name, func() (*batchv1.Job, error) { return m.Lookup.GetJob(ctx, namespace, name) })
}

func memoized[T any](seen map[string]memoResult[T], key string, read func() (T, error)) (T, error) {
	if r, ok := seen[key]; ok {
		return r.obj, r.err
	}
	obj, err := read()
	seen[key] = memoResult[T]{obj, err}
	return obj, err
}
