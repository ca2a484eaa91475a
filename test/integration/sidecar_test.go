package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/collectorbuild"
	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/instrumentation"
)

const sidecarInject = "sidecar.opentelemetry.io/inject"

// createSidecarCollector creates a sidecar-mode collector and waits until
// the operator's cache (which the pod webhook reads) holds it: its
// ServiceAccount exists once the controller, fed by that cache, saw it.
func createSidecarCollector(t *testing.T, ns, name string) *v1beta1.OpenTelemetryCollector {
	t.Helper()
	col := newCollector(t, ns, name, v1beta1.ModeSidecar, otlpToDebug)
	if err := k8sClient().Create(ctx(t), col); err != nil {
		t.Fatalf("creating the sidecar collector: %v", err)
	}
	eventually(t, "the collector's ServiceAccount", func() error {
		return get(t, ns, collectorbuild.Collector(name), &corev1.ServiceAccount{})
	})
	return col
}

func sidecarOf(t *testing.T, pod *corev1.Pod) *corev1.Container {
	t.Helper()
	if len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != "otc-container" {
		t.Fatalf("pod %s: otc-container is not the first init container: %v", pod.Name, pod.Spec.InitContainers)
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "otc-container" {
			t.Fatalf("pod %s: otc-container is also a regular container", pod.Name)
		}
	}
	return &pod.Spec.InitContainers[0]
}

// TestSidecarThroughAPI: a Deployment's pod asking for the collector
// sidecar gets it from the real API server (through the webhook's match
// conditions, in a namespace the conditions exclude); a config change
// restarts the opted-in Deployment once and leaves the other alone.
func TestSidecarThroughAPI(t *testing.T) {
	ns := newNamespace(t, nil)
	// The namespace asks for nothing: only the pod's sidecar annotation can
	// bring its pods to the webhook.
	waitExcluded(t, ns, true)
	if expr := podWebhookCondition(t); !strings.Contains(expr, "'"+sidecarInject+"'") {
		t.Fatalf("the pod webhook's condition does not let %s pods through: %s", sidecarInject, expr)
	}
	createSidecarCollector(t, ns, "agent")

	_, opted := workload(t, ns, "opted", map[string]string{sidecarInject: "true", instrumentation.RolloutAnnotation: "true"})
	_, plain := workload(t, ns, "plain", map[string]string{sidecarInject: "agent"})
	for _, pod := range []*corev1.Pod{opted, plain} {
		c := sidecarOf(t, pod)
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("pod %s: otc-container restartPolicy %v, want Always", pod.Name, c.RestartPolicy)
		}
		if c.Image != collectorbuild.DefaultImage || strings.Join(c.Args, " ") != "--config=env:OTEL_CONFIG" {
			t.Errorf("pod %s: otc-container image %s args %v", pod.Name, c.Image, c.Args)
		}
		if pod.Labels["sidecar.opentelemetry.io/injected"] != ns+".agent" {
			t.Errorf("pod %s: labels %v lack sidecar.opentelemetry.io/injected=%s.agent", pod.Name, pod.Labels, ns)
		}
		var attrs string
		for _, e := range c.Env {
			if e.Name == "OTEL_RESOURCE_ATTRIBUTES" {
				attrs = e.Value
			}
		}
		if !strings.Contains(attrs, "k8s.deployment.name="+pod.Labels["app"]) || !strings.Contains(attrs, "k8s.namespace.name="+ns) {
			t.Errorf("pod %s: OTEL_RESOURCE_ATTRIBUTES %q lacks the Deployment or namespace", pod.Name, attrs)
		}
	}
	if _, ok := plain.Annotations[instrumentation.SidecarConfigAnnotation]; ok {
		t.Errorf("a pod without rollout opt-in must look like upstream's (no %s)", instrumentation.SidecarConfigAnnotation)
	}
	if !strings.HasPrefix(opted.Annotations[instrumentation.SidecarConfigAnnotation], ns+"/agent@") {
		t.Fatalf("opted-in pod lacks %s: %v", instrumentation.SidecarConfigAnnotation, opted.Annotations)
	}

	changed := updateCollector(t, ns, "agent", func(c *v1beta1.OpenTelemetryCollector) {
		c.Spec.Config.Exporters.Object["debug"] = map[string]any{"verbosity": "detailed"}
	})
	wantKey := "sidecar:" + ns + "/agent@" + instrumentation.SidecarConfigHash(changed)
	waitFor(t, func() bool {
		return deployment(t, ns, "opted").Spec.Template.Annotations[controllers.RestartedAtAnnotation] != ""
	})
	dep := deployment(t, ns, "opted")
	if dep.Annotations[controllers.SidecarRolledOutAnnotation] != wantKey {
		t.Errorf("sidecar rolled-out marker %q, want %q", dep.Annotations[controllers.SidecarRolledOutAnnotation], wantKey)
	}
	if got := dep.Annotations[controllers.RolledOutAnnotation]; got != "" {
		t.Errorf("a sidecar restart set the Instrumentation marker %s=%q (the two would then restart each other's rollouts)", controllers.RolledOutAnnotation, got)
	}
	first := dep.Spec.Template.Annotations[controllers.RestartedAtAnnotation]
	waitFor(t, func() bool { return countEvents(t, ns, "opted", "InstrumentationRollout") == 1 })
	// Once per change: the old pod stays (no controller-manager here), the
	// operator keeps reconciling, the Deployment is not restarted again.
	time.Sleep(3 * time.Second)
	again, events := deployment(t, ns, "opted").Spec.Template.Annotations[controllers.RestartedAtAnnotation], countEvents(t, ns, "opted", "InstrumentationRollout")
	if again != first || events != 1 {
		t.Errorf("restarted again for the same change: restartedAt %s then %s, %d rollout events (want 1)", first, again, events)
	}
	if got := deployment(t, ns, "plain").Spec.Template.Annotations[controllers.RestartedAtAnnotation]; got != "" {
		t.Errorf("the Deployment without opt-in was restarted at %s", got)
	}
}

// TestSidecarErrorsAdmitThePod: no such collector, or one not in sidecar
// mode: the pod is created unchanged and an event says why.
func TestSidecarErrorsAdmitThePod(t *testing.T) {
	ns := newNamespace(t, nil)
	gateway := newCollector(t, ns, "gateway", v1beta1.ModeDeployment, otlpToDebug)
	if err := k8sClient().Create(ctx(t), gateway); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the gateway's ServiceAccount", func() error {
		return get(t, ns, collectorbuild.Collector("gateway"), &corev1.ServiceAccount{})
	})
	for name, value := range map[string]string{"missing": "nope", "not-sidecar": "gateway"} {
		pod := createPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{sidecarInject: value}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}})
		if len(pod.Spec.InitContainers) != 0 || len(pod.Spec.Containers) != 1 || pod.Labels["sidecar.opentelemetry.io/injected"] != "" {
			t.Errorf("pod %s: changed despite the error: init %v, containers %d", name, pod.Spec.InitContainers, len(pod.Spec.Containers))
		}
		waitFor(t, func() bool { return countEvents(t, ns, name, "SidecarInjectionFailed") == 1 })
	}
}

// TestSidecarCLIPreviewIsTheAdmittedPod: `autotel inject` with the
// collector in a file prints the pod the webhook admits.
func TestSidecarCLIPreviewIsTheAdmittedPod(t *testing.T) {
	ns := newNamespace(t, nil)
	createSidecarCollector(t, ns, "agent")
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Annotations: map[string]string{sidecarInject: "true"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	file := newCollector(t, ns, "agent", v1beta1.ModeSidecar, otlpToDebug)
	file.TypeMeta = metav1.TypeMeta{APIVersion: "opentelemetry.io/v1beta1", Kind: "OpenTelemetryCollector"}
	dir := t.TempDir()
	// Three pods because injectPreview expects three; all ask for the sidecar.
	pods := []any{pod.DeepCopy(), pod.DeepCopy(), pod.DeepCopy()}
	for i, n := range []string{"web-0", "web-1", "web-2"} {
		pods[i].(*corev1.Pod).Name = n
	}
	previews := injectPreview(t, "--ignore-cluster", "-n", ns, "-f", writeManifests(t, dir, "collector.yaml", file),
		"-f", writeManifests(t, dir, "pods.yaml", pods...))
	for i, p := range previews {
		sidecarOf(t, p)
		dry := p.DeepCopy()
		if err := k8sClient().Create(ctx(t), dry, client.DryRunAll); err != nil {
			t.Fatalf("dry-run create of the preview: %v", err)
		}
		stored := createPod(t, pods[i].(*corev1.Pod).DeepCopy())
		samePod(t, filepath.Join(ns, stored.Name), stored, p, dry)
	}
}
