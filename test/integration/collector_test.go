package integration

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/collectorbuild"
)

const otlpToDebug = `receivers:
  otlp:
    protocols:
      grpc: {}
      http: {}
processors:
  batch: {}
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug]
`

func newCollector(t *testing.T, ns, name string, mode v1beta1.Mode, cfg string) *v1beta1.OpenTelemetryCollector {
	t.Helper()
	c, err := v1alpha1.ConfigFromString(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &v1beta1.OpenTelemetryCollector{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1beta1.OpenTelemetryCollectorSpec{Mode: mode, Config: c},
	}
}

// eventually polls get until check passes, failing with check's last error.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 20s: %v", what, err)
		}
	}
}

// updateCollector changes a stored collector, retrying when the operator's
// status writes race the update.
func updateCollector(t *testing.T, ns, name string, change func(*v1beta1.OpenTelemetryCollector)) *v1beta1.OpenTelemetryCollector {
	t.Helper()
	var c v1beta1.OpenTelemetryCollector
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := get(t, ns, name, &c); err != nil {
			return err
		}
		change(&c)
		return k8sClient().Update(ctx(t), &c)
	})
	if err != nil {
		t.Fatalf("updating OpenTelemetryCollector %s/%s: %v", ns, name, err)
	}
	return &c
}

func get(t *testing.T, ns, name string, obj client.Object) error {
	return k8sClient().Get(ctx(t), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

func wantUpstreamLabels(obj client.Object, ns, name, component string) error {
	want := map[string]string{
		"app.kubernetes.io/managed-by": "opentelemetry-operator",
		"app.kubernetes.io/instance":   ns + "." + name,
		"app.kubernetes.io/part-of":    "opentelemetry",
		"app.kubernetes.io/component":  "opentelemetry-collector",
		"app.kubernetes.io/name":       component,
		"app.kubernetes.io/version":    collectorbuild.Version(collectorbuild.DefaultImage),
	}
	for k, v := range want {
		if got := obj.GetLabels()[k]; got != v {
			return errors.New(obj.GetName() + ": label " + k + "=" + got + ", want " + v)
		}
	}
	return nil
}

func configHash(t *testing.T, c *v1beta1.OpenTelemetryCollector) string {
	h, err := collectorbuild.ConfigHash(c.Spec.Config)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestCollectorModes: each mode gets upstream's objects, names and labels.
func TestCollectorModes(t *testing.T) {
	ns := newNamespace(t, nil)
	for _, mode := range []v1beta1.Mode{v1beta1.ModeDeployment, v1beta1.ModeDaemonSet, v1beta1.ModeStatefulSet, v1beta1.ModeSidecar} {
		t.Run(string(mode), func(t *testing.T) {
			name := "c-" + string(mode)
			c := newCollector(t, ns, name, mode, otlpToDebug)
			if err := k8sClient().Create(ctx(t), c); err != nil {
				t.Fatal(err)
			}
			hash := configHash(t, c)
			eventually(t, "ConfigMap and ServiceAccount", func() error {
				var cm corev1.ConfigMap
				if err := get(t, ns, name+"-collector-"+hash[:8], &cm); err != nil {
					return err
				}
				if !strings.Contains(cm.Data["collector.yaml"], "otlp") {
					return errors.New("collector.yaml lacks the config")
				}
				var sa corev1.ServiceAccount
				return get(t, ns, name+"-collector", &sa)
			})
			var tmpl corev1.PodTemplateSpec
			var wl client.Object
			switch mode {
			case v1beta1.ModeDeployment:
				wl = &appsv1.Deployment{}
			case v1beta1.ModeDaemonSet:
				wl = &appsv1.DaemonSet{}
			case v1beta1.ModeStatefulSet:
				wl = &appsv1.StatefulSet{}
			case v1beta1.ModeSidecar:
				// Nothing runs until a pod asks for the sidecar.
				time.Sleep(time.Second)
				var d appsv1.Deployment
				if err := get(t, ns, name+"-collector", &d); !apierrors.IsNotFound(err) {
					t.Errorf("sidecar mode made a Deployment (err %v)", err)
				}
				var s corev1.Service
				if err := get(t, ns, name+"-collector", &s); !apierrors.IsNotFound(err) {
					t.Errorf("sidecar mode made a Service (err %v)", err)
				}
				return
			}
			eventually(t, "workload", func() error {
				if err := get(t, ns, name+"-collector", wl); err != nil {
					return err
				}
				return wantUpstreamLabels(wl, ns, name, name+"-collector")
			})
			switch w := wl.(type) {
			case *appsv1.Deployment:
				tmpl = w.Spec.Template
			case *appsv1.DaemonSet:
				tmpl = w.Spec.Template
			case *appsv1.StatefulSet:
				tmpl = w.Spec.Template
			}
			if got := tmpl.Annotations[collectorbuild.AnnotationConfigHash]; got != hash {
				t.Errorf("pod template config hash %q, want %q", got, hash)
			}
			ct := tmpl.Spec.Containers[0]
			if ct.Name != "otc-container" || ct.Image != collectorbuild.DefaultImage || ct.Args[0] != "--config=/conf/collector.yaml" {
				t.Errorf("container %s %s %v", ct.Name, ct.Image, ct.Args)
			}
			if ref := metav1.GetControllerOf(wl); ref == nil || ref.Kind != "OpenTelemetryCollector" || ref.Name != name {
				t.Errorf("workload controller %+v", ref)
			}
			var base, headless, mon corev1.Service
			eventually(t, "Services", func() error {
				for n, s := range map[string]*corev1.Service{name + "-collector": &base, name + "-collector-headless": &headless, name + "-collector-monitoring": &mon} {
					if err := get(t, ns, n, s); err != nil {
						return err
					}
				}
				return nil
			})
			ports := map[string]int32{}
			for _, p := range base.Spec.Ports {
				ports[p.Name] = p.Port
			}
			if ports["otlp-grpc"] != 4317 || ports["otlp-http"] != 4318 {
				t.Errorf("base Service ports %v", ports)
			}
			wantPolicy := corev1.ServiceInternalTrafficPolicyCluster
			if mode == v1beta1.ModeDaemonSet {
				wantPolicy = corev1.ServiceInternalTrafficPolicyLocal
			}
			if *base.Spec.InternalTrafficPolicy != wantPolicy {
				t.Errorf("internalTrafficPolicy %s, want %s", *base.Spec.InternalTrafficPolicy, wantPolicy)
			}
			if headless.Spec.ClusterIP != "None" || mon.Spec.Ports[0].Port != 8888 {
				t.Errorf("headless clusterIP %q, monitoring port %d", headless.Spec.ClusterIP, mon.Spec.Ports[0].Port)
			}
			var pdb policyv1.PodDisruptionBudget
			err := get(t, ns, name+"-collector", &pdb)
			if mode == v1beta1.ModeDaemonSet && !apierrors.IsNotFound(err) {
				t.Errorf("daemonset got a PodDisruptionBudget (err %v)", err)
			}
			if mode != v1beta1.ModeDaemonSet && (err != nil || pdb.Spec.MaxUnavailable.IntValue() != 1) {
				t.Errorf("PodDisruptionBudget: %v %+v", err, pdb.Spec)
			}
			eventually(t, "status", func() error {
				var got v1beta1.OpenTelemetryCollector
				if err := get(t, ns, name, &got); err != nil {
					return err
				}
				if got.Status.Image != collectorbuild.DefaultImage || got.Status.Version != collectorbuild.Version(collectorbuild.DefaultImage) ||
					!strings.Contains(got.Status.Scale.Selector, "app.kubernetes.io/instance="+ns+"."+name) {
					return errors.New("status " + got.Status.Image + " " + got.Status.Version + " " + got.Status.Scale.Selector)
				}
				return nil
			})
		})
	}
}

func deploymentTemplateHash(t *testing.T, ns, name string) (string, string) {
	var d appsv1.Deployment
	if err := get(t, ns, name, &d); err != nil {
		return "", ""
	}
	cm := ""
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "otc-internal" {
			cm = v.ConfigMap.Name
		}
	}
	return d.Spec.Template.Annotations[collectorbuild.AnnotationConfigHash], cm
}

// TestCollectorConfigChangeRolls: a new config makes a new ConfigMap and a
// new pod template (the pods roll); old ConfigMaps are kept per configVersions.
func TestCollectorConfigChangeRolls(t *testing.T) {
	ns := newNamespace(t, nil)
	c := newCollector(t, ns, "roll", v1beta1.ModeDeployment, otlpToDebug)
	c.Spec.ConfigVersions = 2
	if err := k8sClient().Create(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	h1 := configHash(t, c)
	eventually(t, "first template", func() error {
		if h, _ := deploymentTemplateHash(t, ns, "roll-collector"); h != h1 {
			return errors.New("hash " + h)
		}
		return nil
	})
	var hashes []string
	for _, verbosity := range []string{"basic", "normal", "detailed"} {
		c = updateCollector(t, ns, "roll", func(c *v1beta1.OpenTelemetryCollector) {
			c.Spec.Config.Exporters.Object["debug"] = map[string]any{"verbosity": verbosity}
		})
		h := configHash(t, c)
		hashes = append(hashes, h)
		eventually(t, "template after change to "+verbosity, func() error {
			got, cm := deploymentTemplateHash(t, ns, "roll-collector")
			if got != h || cm != "roll-collector-"+h[:8] {
				return errors.New("template hash " + got + " volume " + cm)
			}
			return nil
		})
	}
	// configVersions 2: the current and the one before stay, older ones go.
	eventually(t, "old ConfigMaps pruned", func() error {
		var list corev1.ConfigMapList
		if err := k8sClient().List(ctx(t), &list, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": ns + ".roll"}); err != nil {
			return err
		}
		names := map[string]bool{}
		for _, cm := range list.Items {
			names[cm.Name] = true
		}
		if len(names) != 2 || !names["roll-collector-"+hashes[2][:8]] || !names["roll-collector-"+hashes[1][:8]] {
			return errors.New("ConfigMaps " + strings.Join(keys(names), ","))
		}
		return nil
	})
}

// kubectlFails runs kubectl expecting it to fail; it returns stdout and stderr.
func kubectlFails(t *testing.T, stdin string, args ...string) (string, string) {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(env.BinaryDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("kubectl %s succeeded, want a failure\nstdout: %s", strings.Join(args, " "), stdout.String())
	}
	return stdout.String(), stderr.String()
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestCollectorUnmanaged: unmanaged collectors and their objects are left alone.
func TestCollectorUnmanaged(t *testing.T) {
	ns := newNamespace(t, nil)
	c := newCollector(t, ns, "hands-off", v1beta1.ModeDeployment, otlpToDebug)
	c.Spec.ManagementState = v1beta1.ManagementStateUnmanaged
	if err := k8sClient().Create(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	// A managed collector created after it is reconciled; by then the
	// unmanaged one would have been too.
	probe := newCollector(t, ns, "probe", v1beta1.ModeDeployment, otlpToDebug)
	if err := k8sClient().Create(ctx(t), probe); err != nil {
		t.Fatal(err)
	}
	eventually(t, "managed probe reconciled", func() error { return get(t, ns, "probe-collector", &appsv1.Deployment{}) })
	if err := get(t, ns, "hands-off-collector", &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unmanaged collector got a Deployment (err %v)", err)
	}

	// Managed, then unmanaged: a config change no longer reaches the workload.
	h1 := configHash(t, probe)
	updateCollector(t, ns, "probe", func(c *v1beta1.OpenTelemetryCollector) {
		c.Spec.ManagementState = v1beta1.ManagementStateUnmanaged
		c.Spec.Config.Exporters.Object["debug"] = map[string]any{"verbosity": "detailed"}
	})
	time.Sleep(2 * time.Second)
	if h, _ := deploymentTemplateHash(t, ns, "probe-collector"); h != h1 {
		t.Errorf("unmanaged collector's Deployment changed: hash %s, want %s", h, h1)
	}
}

// TestCollectorV1alpha1: a v1alpha1 manifest (config as a string) is stored
// as v1beta1 with a structured config, and reads back as v1alpha1.
func TestCollectorV1alpha1(t *testing.T) {
	ns := newNamespace(t, nil)
	manifest := `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata:
  name: old
  namespace: ` + ns + `
spec:
  mode: daemonset
  updateStrategy:
    type: OnDelete
  config: |
    receivers:
      otlp:
        protocols:
          http: {}
    exporters:
      loki:
        endpoint: http://loki:3100/loki/api/v1/push
    service:
      pipelines:
        logs:
          receivers: [otlp]
          exporters: [loki]
`
	kubectl(t, manifest, "apply", "-f", "-")
	var c v1beta1.OpenTelemetryCollector
	if err := get(t, ns, "old", &c); err != nil {
		t.Fatal(err)
	}
	if c.Spec.Mode != v1beta1.ModeDaemonSet || c.Spec.DaemonSetUpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
		t.Errorf("v1beta1 view: mode %s, daemonSetUpdateStrategy %+v", c.Spec.Mode, c.Spec.DaemonSetUpdateStrategy)
	}
	if _, ok := c.Spec.Config.Exporters.Object["loki"]; !ok || c.Spec.Config.Service.Pipelines["logs"] == nil {
		t.Errorf("v1beta1 config not structured: %+v", c.Spec.Config)
	}
	var old unstructured.Unstructured
	old.SetAPIVersion("opentelemetry.io/v1alpha1")
	old.SetKind("OpenTelemetryCollector")
	if err := get(t, ns, "old", &old); err != nil {
		t.Fatal(err)
	}
	cfg, _, _ := unstructured.NestedString(old.Object, "spec", "config")
	if !strings.Contains(cfg, "loki:") || !strings.Contains(cfg, "http://loki:3100/loki/api/v1/push") {
		t.Errorf("v1alpha1 view of config: %q", cfg)
	}
	eventually(t, "DaemonSet from the v1alpha1 resource", func() error { return get(t, ns, "old-collector", &appsv1.DaemonSet{}) })

	// Admission sees v1alpha1 objects converted to v1beta1: the component
	// check applies to them too.
	bad := strings.Replace(strings.Replace(manifest, "name: old", "name: old-kafka", 1), "loki:\n        endpoint", "kafka:\n        brokers: [k:9092]\n      loki:\n        endpoint", 1)
	if _, stderr := kubectlFails(t, bad, "apply", "-f", "-"); !strings.Contains(stderr, `exporter \"kafka\"`) && !strings.Contains(stderr, `exporter "kafka"`) {
		t.Errorf("v1alpha1 collector with kafka: want a rejection naming it, got %s", stderr)
	}
	broken := strings.Replace(manifest, "name: old", "name: old-broken", 1)
	broken = strings.Replace(broken, "    receivers:\n      otlp:", "    receivers: [\n      otlp:", 1)
	if _, stderr := kubectlFails(t, broken, "apply", "-f", "-"); !strings.Contains(stderr, "spec.config") {
		t.Errorf("v1alpha1 collector with unparsable config: want an error naming spec.config, got %s", stderr)
	} else {
		t.Logf("unparsable v1alpha1 config: %s", stderr)
	}

	out, _ := kubectl(t, "", "explain", "opentelemetrycollectors.spec.managementState", "--api-version=opentelemetry.io/v1beta1")
	if !strings.Contains(out, "unmanaged") {
		t.Errorf("kubectl explain lacks the field description:\n%s", out)
	}
}

// TestCollectorAdmission: a component autotel-collector lacks is rejected by
// name; with a custom image anything goes.
func TestCollectorAdmission(t *testing.T) {
	ns := newNamespace(t, nil)
	cfg := strings.Replace(otlpToDebug, "exporters:\n  debug: {}", "exporters:\n  debug: {}\n  kafka: {brokers: [k:9092]}", 1)
	cfg = strings.Replace(cfg, "exporters: [debug]", "exporters: [debug, kafka]", 1)
	c := newCollector(t, ns, "kafka", v1beta1.ModeDeployment, cfg)
	err := k8sClient().Create(ctx(t), c)
	if err == nil || !strings.Contains(err.Error(), `exporter "kafka"`) || !strings.Contains(err.Error(), "spec.config.exporters[kafka]") {
		t.Fatalf("want a rejection naming exporter kafka, got %v", err)
	}
	c = newCollector(t, ns, "kafka", v1beta1.ModeDeployment, cfg)
	c.Spec.Image = "otel/opentelemetry-collector-contrib:0.120.0"
	if err := k8sClient().Create(ctx(t), c); err != nil {
		t.Fatalf("custom image rejected: %v", err)
	}
	// Upstream features autotel does not run: accepted, with kubectl
	// printing what is missing.
	_, stderr := kubectl(t, `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata:
  name: with-ta
  namespace: `+ns+`
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
  config:
    receivers: {otlp: {protocols: {grpc: {}}}}
    exporters: {debug: {}}
    service: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}
`, "apply", "-f", "-")
	if !strings.Contains(stderr, "Warning: spec.targetAllocator.enabled: autotel runs no target allocator") {
		t.Errorf("kubectl apply of a collector with a target allocator: want a warning, stderr %q", stderr)
	}
	// The sidecar CEL rule, as upstream.
	s := newCollector(t, ns, "side", v1beta1.ModeSidecar, otlpToDebug)
	s.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	if err := k8sClient().Create(ctx(t), s); err == nil || !strings.Contains(err.Error(), "does not support the attribute 'tolerations'") {
		t.Errorf("sidecar with tolerations: %v", err)
	}
}

// TestCollectorAdoption: a Deployment upstream's operator made (its labels,
// selector and owner reference) is updated in place, not recreated.
func TestCollectorAdoption(t *testing.T) {
	ns := newNamespace(t, nil)
	c := newCollector(t, ns, "adopt", v1beta1.ModeDeployment, otlpToDebug)
	c.Spec.ManagementState = v1beta1.ManagementStateUnmanaged
	if err := k8sClient().Create(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	sel := map[string]string{
		"app.kubernetes.io/managed-by": "opentelemetry-operator", "app.kubernetes.io/instance": ns + ".adopt",
		"app.kubernetes.io/part-of": "opentelemetry", "app.kubernetes.io/component": "opentelemetry-collector",
	}
	lbl := map[string]string{"app.kubernetes.io/name": "adopt-collector", "app.kubernetes.io/version": "0.120.0"}
	for k, v := range sel {
		lbl[k] = v
	}
	upstream := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "adopt-collector", Namespace: ns, Labels: lbl,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "opentelemetry.io/v1beta1", Kind: "OpenTelemetryCollector", Name: "adopt", UID: c.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl, Annotations: map[string]string{collectorbuild.AnnotationConfigHash: "old"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "otc-container", Image: "otel/opentelemetry-collector-contrib:0.120.0", Args: []string{"--config=/conf/collector.yaml"}}}},
			},
		},
	}
	if err := k8sClient().Create(ctx(t), upstream); err != nil {
		t.Fatal(err)
	}
	uid := upstream.UID
	c = updateCollector(t, ns, "adopt", func(c *v1beta1.OpenTelemetryCollector) {
		c.Spec.ManagementState = v1beta1.ManagementStateManaged
	})
	hash := configHash(t, c)
	eventually(t, "adopted Deployment updated", func() error {
		var d appsv1.Deployment
		if err := get(t, ns, "adopt-collector", &d); err != nil {
			return err
		}
		if d.UID != uid {
			return errors.New("Deployment was recreated")
		}
		if d.Spec.Template.Annotations[collectorbuild.AnnotationConfigHash] != hash || d.Spec.Template.Spec.Containers[0].Image != collectorbuild.DefaultImage {
			return errors.New("not updated yet")
		}
		return nil
	})
}

// TestCollectorModeSwitch: the old workload goes when the mode changes.
func TestCollectorModeSwitch(t *testing.T) {
	ns := newNamespace(t, nil)
	c := newCollector(t, ns, "switch", v1beta1.ModeDeployment, otlpToDebug)
	if err := k8sClient().Create(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Deployment", func() error { return get(t, ns, "switch-collector", &appsv1.Deployment{}) })
	updateCollector(t, ns, "switch", func(c *v1beta1.OpenTelemetryCollector) { c.Spec.Mode = v1beta1.ModeDaemonSet })
	eventually(t, "DaemonSet replaces Deployment", func() error {
		if err := get(t, ns, "switch-collector", &appsv1.DaemonSet{}); err != nil {
			return err
		}
		var d appsv1.Deployment
		if err := get(t, ns, "switch-collector", &d); !apierrors.IsNotFound(err) {
			if err == nil && d.DeletionTimestamp != nil {
				return nil // foreground GC has not finished; deletion was asked
			}
			return errors.New("Deployment still there")
		}
		return nil
	})
}
