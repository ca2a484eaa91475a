package instrumentation

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/api/v1beta1"
)

// Lookup is everything injection needs to read from the cluster. The
// webhook backs it with the API server, the CLI with manifests on disk and
// the tests with fixtures, so all three run the same injection.
//
// Get methods return an error satisfying apierrors.IsNotFound when the
// object does not exist.
type Lookup interface {
	ListInstrumentations(ctx context.Context, namespace string) ([]v1alpha1.Instrumentation, error)
	GetInstrumentation(ctx context.Context, namespace, name string) (*v1alpha1.Instrumentation, error)
	// ListDefaultInstrumentations lists, across all namespaces, the
	// Instrumentations labelled DefaultLabel=true.
	ListDefaultInstrumentations(ctx context.Context) ([]v1alpha1.Instrumentation, error)
	GetReplicaSet(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error)
	GetJob(ctx context.Context, namespace, name string) (*batchv1.Job, error)
	// SecretExists and ConfigMapExists check the exporter TLS references;
	// an error means the answer is unknown, not that the object is missing.
	SecretExists(ctx context.Context, namespace, name string) (bool, error)
	ConfigMapExists(ctx context.Context, namespace, name string) (bool, error)
	// ListCollectors and GetCollector resolve sidecar.opentelemetry.io/inject.
	ListCollectors(ctx context.Context, namespace string) ([]v1beta1.OpenTelemetryCollector, error)
	GetCollector(ctx context.Context, namespace, name string) (*v1beta1.OpenTelemetryCollector, error)
}
