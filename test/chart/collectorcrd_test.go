package chart

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const collectorCRD = "opentelemetrycollectors.opentelemetry.io"

// The chart's OpenTelemetryCollector CRD is controller-gen's (config/crd/bases)
// plus the conversion webhook controller-gen cannot generate: v1alpha1 is
// converted by the operator's /convert, through the webhook Service or the
// webhooks.url base, with the CA injected by the operator or cert-manager.
func TestCollectorCRD(t *testing.T) {
	genObjs, err := parseObjects(mustRead(t, path(t, "config", "crd", "bases", "opentelemetry.io_opentelemetrycollectors.yaml")))
	if err != nil || len(genObjs) != 1 {
		t.Fatalf("generated CRD: %v (%d objects)", err, len(genObjs))
	}
	gen := genObjs[0]
	if _, found, _ := unstructured.NestedMap(gen.Object, "spec", "conversion"); found {
		t.Fatalf("config/crd/bases now has spec.conversion: drop the chart's own")
	}
	for _, tc := range []struct {
		name       string
		args       []string
		service    map[string]any
		url        string
		injectFrom string
	}{
		{name: "service", service: map[string]any{"name": "autotel-webhook", "namespace": namespace, "port": int64(443), "path": "/convert"}},
		{name: "url", args: []string{"--set", "webhooks.url=https://localhost:9443/"}, url: "https://localhost:9443/convert"},
		{name: "cert-manager", args: scenarioByName(t, "cert-manager").args(), injectFrom: namespace + "/autotel-webhook",
			service: map[string]any{"name": "autotel-webhook", "namespace": namespace, "port": int64(443), "path": "/convert"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crd := template(t, tc.args...).find("CustomResourceDefinition", collectorCRD)
			if crd == nil {
				t.Fatalf("the chart renders no %s", collectorCRD)
			}
			conv, _, _ := unstructured.NestedMap(crd.Object, "spec", "conversion")
			cc := map[string]any{}
			if tc.url != "" {
				cc["url"] = tc.url
			} else {
				cc["service"] = tc.service
			}
			want := map[string]any{"strategy": "Webhook", "webhook": map[string]any{"conversionReviewVersions": []any{"v1"}, "clientConfig": cc}}
			if !reflect.DeepEqual(conv, want) {
				t.Errorf("spec.conversion\n got %s\nwant %s", toYAML(t, conv), toYAML(t, want))
			}
			ann := crd.GetAnnotations()
			if ann["helm.sh/resource-policy"] != "keep" {
				t.Errorf("annotations %v: uninstalling the chart would delete every collector", ann)
			}
			if ann["cert-manager.io/inject-ca-from"] != tc.injectFrom {
				t.Errorf("inject-ca-from %q, want %q", ann["cert-manager.io/inject-ca-from"], tc.injectFrom)
			}
			// Everything else is the generated CRD, unchanged.
			rest := crd.DeepCopy()
			unstructured.RemoveNestedField(rest.Object, "spec", "conversion")
			delete(ann, "helm.sh/resource-policy")
			delete(ann, "cert-manager.io/inject-ca-from")
			rest.SetAnnotations(ann)
			if !reflect.DeepEqual(rest.Object, gen.Object) {
				t.Errorf("the chart's CRD differs from config/crd/bases beyond spec.conversion and annotations")
			}
		})
	}
}
