package integration

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1alpha1"
)

const injectApache = "instrumentation.opentelemetry.io/inject-apache-httpd"

func apachePod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{injectApache: "true"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "httpd", Image: "registry.example.com/shop/httpd:2.4.62"}}},
	}
}

func initContainer(t *testing.T, pod *corev1.Pod, name string) corev1.Container {
	t.Helper()
	i := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("stored pod has no init container %s", name)
	}
	return pod.Spec.InitContainers[i]
}

// Upstream's CRD (controller-gen generateEmbeddedObjectMeta) lets
// volumeClaimTemplate.metadata carry labels and annotations, and the pod's
// ephemeral agent volume gets them. Before, our CRD had an empty object
// there: a strict create (kubectl apply's default) failed with "unknown
// field", and other clients silently lost the labels to pruning.
func TestVolumeClaimTemplateMetadataThroughAPI(t *testing.T) {
	ns := newNamespace(t, nil)
	labels := map[string]string{"team": "shop", "backup.example.com/skip": "true"}
	annotations := map[string]string{"example.com/owner": "web-team"}
	inst := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Name: "apache", Namespace: ns}}
	inst.Spec.Exporter.Endpoint = "http://otel-collector.observability:4317"
	inst.Spec.ApacheHttpd.VolumeClaimTemplate = corev1.PersistentVolumeClaimTemplate{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	// Strict field validation: an unknown field is an error, not a warning.
	if err := k8sClient().Create(ctx(t), inst, client.FieldValidation(metav1.FieldValidationStrict)); err != nil {
		t.Fatalf("strict create of an Instrumentation with volumeClaimTemplate.metadata labels: %v", err)
	}
	var stored v1alpha1.Instrumentation
	if err := k8sClient().Get(ctx(t), client.ObjectKeyFromObject(inst), &stored); err != nil {
		t.Fatal(err)
	}
	meta := stored.Spec.ApacheHttpd.VolumeClaimTemplate.ObjectMeta
	if !mapsEqual(meta.Labels, labels) || !mapsEqual(meta.Annotations, annotations) {
		t.Fatalf("stored volumeClaimTemplate.metadata = labels %v annotations %v; want %v %v (pruned by the CRD schema?)",
			meta.Labels, meta.Annotations, labels, annotations)
	}
	waitCached(t, ns, inst.Name)

	pod := createPod(t, apachePod(ns, "web"))
	i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "otel-apache-agent" })
	if i < 0 || pod.Spec.Volumes[i].Ephemeral == nil || pod.Spec.Volumes[i].Ephemeral.VolumeClaimTemplate == nil {
		t.Fatalf("stored pod has no ephemeral otel-apache-agent volume: %+v", pod.Spec.Volumes)
	}
	got := pod.Spec.Volumes[i].Ephemeral.VolumeClaimTemplate.ObjectMeta
	if !mapsEqual(got.Labels, labels) || !mapsEqual(got.Annotations, annotations) {
		t.Errorf("pod's volume claim template metadata = labels %v annotations %v, want %v %v", got.Labels, got.Annotations, labels, annotations)
	}
}

// Upstream v0.158 (#5333): the agent init container lists the
// Instrumentation's env, OTEL_POD_IP and OTEL_NODE_IP before
// OTEL_APACHE_AGENT_CONF, so the kubelet expands $(OTEL_NODE_IP) in the
// rendered configuration (test/clients/webserver runs it that way); and
// (#4925) configPath is the script's $1, after "--".
func TestApacheAgentEnvAndArgsThroughAPI(t *testing.T) {
	ns := newNamespace(t, nil)
	inst := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Name: "apache"}}
	inst.Spec.Env = []corev1.EnvVar{
		{Name: "OTEL_NODE_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://$(OTEL_NODE_IP):4317"},
	}
	inst.Spec.Exporter.Endpoint = "http://$(OTEL_NODE_IP):4317"
	inst.Spec.ApacheHttpd.ConfigPath = "/etc/httpd/conf"
	inst.Spec.ApacheHttpd.Attrs = []corev1.EnvVar{{Name: "ApacheModuleOtelMaxQueueSize", Value: "4096"}}
	createInstrumentation(t, ns, inst)

	pod := createPod(t, apachePod(ns, "web"))
	attach := initContainer(t, pod, "otel-agent-attach-apache")
	names := envNames(attach)
	want := []string{"OTEL_NODE_IP", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_POD_IP", "OTEL_APACHE_AGENT_CONF", "APACHE_SERVICE_INSTANCE_ID"}
	if !slices.Equal(names, want) {
		t.Errorf("agent init container env = %v, want %v", names, want)
	}
	conf := envValue(t, attach, "OTEL_APACHE_AGENT_CONF")
	for _, line := range []string{"ApacheModuleOtelExporterEndpoint http://$(OTEL_NODE_IP):4317\n", "ApacheModuleOtelMaxQueueSize 4096\n"} {
		if !strings.Contains(conf, line) {
			t.Errorf("OTEL_APACHE_AGENT_CONF lacks %q", line)
		}
	}
	if !slices.Equal(attach.Command, []string{"/bin/sh", "-c"}) || len(attach.Args) != 3 || attach.Args[1] != "--" || attach.Args[2] != "/etc/httpd/conf" {
		t.Errorf("agent init container command %q args[1:] %q, want /bin/sh -c SCRIPT -- /etc/httpd/conf", attach.Command, attach.Args[min(1, len(attach.Args)):])
	}
	if strings.Contains(attach.Args[0], "/etc/httpd/conf") {
		t.Errorf("the script text contains configPath; it must only arrive as $1")
	}
	clone := initContainer(t, pod, "otel-agent-source-container-clone")
	if !slices.Equal(clone.Command, []string{"cp", "-r", "/etc/httpd/conf/.", "/opt/opentelemetry-webserver/source-conf"}) {
		t.Errorf("clone command = %q", clone.Command)
	}
	// The app itself gets the IPs first, as for every language.
	if got := envNames(pod.Spec.Containers[0]); len(got) < 2 || got[0] != "OTEL_NODE_IP" || got[1] != "OTEL_POD_IP" {
		t.Errorf("app env order: %v", got)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
