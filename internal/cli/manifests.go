package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/operator"
)

// Manifests are the objects read from files, split into what the injector
// looks up and what it mutates.
type Manifests struct {
	Lookup     instrumentation.StaticLookup
	Namespaces map[string]*corev1.Namespace
	// Workloads keeps file order so the output mirrors the input.
	Workloads []runtime.Object
}

var codecs = serializer.NewCodecFactory(operator.Scheme(), serializer.EnableStrict)

// ReadManifests decodes a multi-document YAML or JSON stream. Unknown kinds
// are an error naming the document, so a typo does not silently drop an
// object from the preview.
func ReadManifests(r io.Reader, name string, into *Manifests) error {
	if into.Namespaces == nil {
		into.Namespaces = map[string]*corev1.Namespace{}
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || isOnlyComments(raw) {
			continue
		}
		obj, _, err := codecs.UniversalDeserializer().Decode(raw, nil, nil)
		if runtime.IsNotRegisteredError(err) {
			// Kinds autotel does not know (other CRDs) pass through as is.
			u := &unstructured.Unstructured{}
			if jerr := yaml.Unmarshal(raw, &u.Object); jerr != nil {
				return fmt.Errorf("%s: document %d: %w", name, doc, jerr)
			}
			into.Workloads = append(into.Workloads, u)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		switch o := obj.(type) {
		case *v1alpha1.Instrumentation:
			into.Lookup.Instrumentations = append(into.Lookup.Instrumentations, *o)
		case *v1beta1.OpenTelemetryCollector:
			// Resolves sidecar.opentelemetry.io/inject, as the webhook's lookup.
			into.Lookup.Collectors = append(into.Lookup.Collectors, *o)
		case *corev1.Namespace:
			into.Namespaces[o.Name] = o
		case *corev1.Secret:
			into.Lookup.Secrets = append(into.Lookup.Secrets, *o)
		case *corev1.ConfigMap:
			into.Lookup.ConfigMaps = append(into.Lookup.ConfigMaps, *o)
		case *appsv1.ReplicaSet:
			into.Lookup.ReplicaSets = append(into.Lookup.ReplicaSets, *o)
			into.Workloads = append(into.Workloads, o)
		case *batchv1.Job:
			into.Lookup.Jobs = append(into.Lookup.Jobs, *o)
			into.Workloads = append(into.Workloads, o)
		case *corev1.Pod, *appsv1.Deployment, *appsv1.StatefulSet, *appsv1.DaemonSet, *batchv1.CronJob:
			into.Workloads = append(into.Workloads, o)
		default:
			// Services and other objects pass through untouched.
			into.Workloads = append(into.Workloads, obj)
		}
	}
}

func isOnlyComments(raw []byte) bool {
	for _, line := range bytes.Split(raw, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}
