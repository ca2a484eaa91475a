package integration

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/autotel/autotel/api/v1alpha1"
)

// TestEveryLanguageThroughAPI creates, through the API server, a pod per
// injection kind and checks what was stored: the kind's init containers
// (or sidecar), its loader variable and the common SDK configuration.
// Go and Nginx are off by default, as upstream; the operator under test
// runs with the defaults, so their requests must leave the pod untouched.
func TestEveryLanguageThroughAPI(t *testing.T) {
	ns := newNamespace(t, nil)
	inst := seedInstrumentation(t, "instrumentation-otlp.yaml")
	inst.Spec.Java.Extensions = []v1alpha1.Extensions{{Image: "ext:1", Dir: "/ext"}}
	inst.Spec.Go.Env = []corev1.EnvVar{{Name: "OTEL_GO_AUTO_TARGET_EXE", Value: "/app/server"}}
	createInstrumentation(t, ns, inst)

	cases := []struct {
		lang      string
		init      []string // init container names, in order
		sidecar   string
		env       map[string]string // variable → substring of its value
		untouched bool
	}{
		{lang: "java", init: []string{"opentelemetry-auto-instrumentation-java", "opentelemetry-auto-instrumentation-extension-0"},
			env: map[string]string{"JAVA_TOOL_OPTIONS": " -javaagent:/otel-auto-instrumentation-java-app/javaagent.jar -Dotel.javaagent.extensions=/otel-auto-instrumentation-java-app/extensions"}},
		{lang: "nodejs", init: []string{"opentelemetry-auto-instrumentation-nodejs"},
			env: map[string]string{"NODE_OPTIONS": " --require /otel-auto-instrumentation-nodejs/autoinstrumentation.js", "OTEL_METRICS_EXPORTER": "otlp"}},
		{lang: "python", init: []string{"opentelemetry-auto-instrumentation-python"},
			env: map[string]string{"PYTHONPATH": "/otel-auto-instrumentation-python/opentelemetry/instrumentation/auto_instrumentation:/otel-auto-instrumentation-python"}},
		{lang: "dotnet", init: []string{"opentelemetry-auto-instrumentation-dotnet"},
			env: map[string]string{"CORECLR_PROFILER": "{918728DD-259F-4A6A-AC2B-B85E1B658318}", "OTEL_DOTNET_AUTO_HOME": "/otel-auto-instrumentation-dotnet"}},
		{lang: "apache-httpd", init: []string{"otel-agent-source-container-clone", "otel-agent-attach-apache"},
			env: map[string]string{"OTEL_SERVICE_NAME": "app"}},
		{lang: "sdk", env: map[string]string{"OTEL_SERVICE_NAME": "app", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"}},
		{lang: "go", untouched: true},
		{lang: "nginx", untouched: true},
	}
	for _, tc := range cases {
		t.Run(tc.lang, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app-" + tc.lang, Namespace: ns,
				Annotations: map[string]string{"instrumentation.opentelemetry.io/inject-" + tc.lang: "true"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
			stored := createPod(t, pod)
			if tc.untouched {
				if len(stored.Spec.InitContainers)+len(stored.Spec.Containers[0].Env) != 0 || len(stored.Spec.Containers) != 1 {
					t.Fatalf("%s is disabled by default and must not be injected", tc.lang)
				}
				return
			}
			var names []string
			for _, c := range stored.Spec.InitContainers {
				names = append(names, c.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.init, ",") {
				t.Errorf("init containers %v, want %v", names, tc.init)
			}
			app := stored.Spec.Containers[0]
			for name, want := range tc.env {
				if got := envValue(t, app, name); !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to contain %q", name, got, want)
				}
			}
			if got := envNames(app); got[len(got)-1] != "OTEL_RESOURCE_ATTRIBUTES" || got[0] != "OTEL_NODE_IP" {
				t.Errorf("env order: %v", got)
			}
		})
	}
}

// TestExporterTLSThroughAPI: TLS secrets and config maps are mounted and
// referenced; a missing secret leaves the pod uninstrumented, not blocked.
func TestExporterTLSThroughAPI(t *testing.T) {
	ns := newNamespace(t, nil)
	inst := seedInstrumentation(t, "instrumentation-otlp.yaml")
	inst.Spec.Exporter = v1alpha1.Exporter{Endpoint: "https://otel-collector:4318",
		TLS: &v1alpha1.TLS{SecretName: "client-certs", ConfigMapName: "ca", CA: "ca.crt", Cert: "tls.crt", Key: "tls.key"}}
	createInstrumentation(t, ns, inst)

	missing := createPod(t, samplePod(ns, map[string]string{injectPython: "true"}))
	if len(missing.Spec.InitContainers) != 0 {
		t.Fatalf("pod injected although its TLS secret does not exist")
	}
	c := k8sClient()
	if err := c.Create(ctx(t), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "client-certs", Namespace: ns}, StringData: map[string]string{"tls.crt": "x", "tls.key": "y"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: ns}, Data: map[string]string{"ca.crt": "z"}}); err != nil {
		t.Fatal(err)
	}
	pod := samplePod(ns, map[string]string{injectPython: "true"})
	pod.Name = "with-tls"
	stored := createPod(t, pod)
	app := stored.Spec.Containers[0]
	for name, want := range map[string]string{
		"OTEL_EXPORTER_OTLP_CERTIFICATE":        "/otel-auto-instrumentation-configmap-ca/ca.crt",
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/otel-auto-instrumentation-secret-client-certs/tls.crt",
		"OTEL_EXPORTER_OTLP_CLIENT_KEY":         "/otel-auto-instrumentation-secret-client-certs/tls.key",
	} {
		if got := envValue(t, app, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	vols := map[string]bool{}
	for _, v := range stored.Spec.Volumes {
		vols[v.Name] = true
	}
	if !vols["otel-auto-secret-client-certs"] || !vols["otel-auto-configmap-ca"] {
		t.Errorf("TLS volumes missing: %v", vols)
	}
}
