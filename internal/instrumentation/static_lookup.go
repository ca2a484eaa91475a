package instrumentation

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/api/v1beta1"
)

// StaticLookup answers Lookup from objects held in memory: manifests for
// the CLI preview, fixtures for tests.
type StaticLookup struct {
	Instrumentations []v1alpha1.Instrumentation
	ReplicaSets      []appsv1.ReplicaSet
	Jobs             []batchv1.Job
	Secrets          []corev1.Secret
	ConfigMaps       []corev1.ConfigMap
	Collectors       []v1beta1.OpenTelemetryCollector
}

var _ Lookup = (*StaticLookup)(nil)

func notFound(resource, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
}

// ListInstrumentations returns the Instrumentations of one namespace.
func (s *StaticLookup) ListInstrumentations(_ context.Context, namespace string) ([]v1alpha1.Instrumentation, error) {
	var out []v1alpha1.Instrumentation
	for _, i := range s.Instrumentations {
		if i.Namespace == namespace {
			out = append(out, *i.DeepCopy())
		}
	}
	return out, nil
}

// ListDefaultInstrumentations returns the Instrumentations labelled default.
func (s *StaticLookup) ListDefaultInstrumentations(_ context.Context) ([]v1alpha1.Instrumentation, error) {
	var out []v1alpha1.Instrumentation
	for i := range s.Instrumentations {
		if isDefault(&s.Instrumentations[i]) {
			out = append(out, *s.Instrumentations[i].DeepCopy())
		}
	}
	return out, nil
}

// GetInstrumentation returns one Instrumentation or a NotFound error.
func (s *StaticLookup) GetInstrumentation(_ context.Context, namespace, name string) (*v1alpha1.Instrumentation, error) {
	for _, i := range s.Instrumentations {
		if i.Namespace == namespace && i.Name == name {
			return i.DeepCopy(), nil
		}
	}
	return nil, notFound("instrumentations", name)
}

// GetReplicaSet returns one ReplicaSet or a NotFound error.
func (s *StaticLookup) GetReplicaSet(_ context.Context, namespace, name string) (*appsv1.ReplicaSet, error) {
	for _, r := range s.ReplicaSets {
		if r.Namespace == namespace && r.Name == name {
			return r.DeepCopy(), nil
		}
	}
	return nil, notFound("replicasets", name)
}

// GetJob returns one Job or a NotFound error.
func (s *StaticLookup) GetJob(_ context.Context, namespace, name string) (*batchv1.Job, error) {
	for _, j := range s.Jobs {
		if j.Namespace == namespace && j.Name == name {
			return j.DeepCopy(), nil
		}
	}
	return nil, notFound("jobs", name)
}

// SecretExists reports whether the Secret is held.
func (s *StaticLookup) SecretExists(_ context.Context, namespace, name string) (bool, error) {
	for _, o := range s.Secrets {
		if o.Namespace == namespace && o.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// ConfigMapExists reports whether the ConfigMap is held.
func (s *StaticLookup) ConfigMapExists(_ context.Context, namespace, name string) (bool, error) {
	for _, o := range s.ConfigMaps {
		if o.Namespace == namespace && o.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// ListCollectors returns the OpenTelemetryCollectors of one namespace.
func (s *StaticLookup) ListCollectors(_ context.Context, namespace string) ([]v1beta1.OpenTelemetryCollector, error) {
	var out []v1beta1.OpenTelemetryCollector
	for _, c := range s.Collectors {
		if c.Namespace == namespace {
			out = append(out, *c.DeepCopy())
		}
	}
	return out, nil
}

// GetCollector returns one OpenTelemetryCollector or a NotFound error.
func (s *StaticLookup) GetCollector(_ context.Context, namespace, name string) (*v1beta1.OpenTelemetryCollector, error) {
	for _, c := range s.Collectors {
		if c.Namespace == namespace && c.Name == name {
			return c.DeepCopy(), nil
		}
	}
	return nil, notFound("opentelemetrycollectors", name)
}
