package instrumentation

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// Sidecar cases: testdata/sidecar/cases/<name>.yaml in, the mutated pod and
// the report in testdata/sidecar/golden/<name>.yaml (`-update` rewrites
// them; review by hand against docs/upstream-behaviour.md §9). The
// expectations below are written out from §9, not taken from the code.
const (
	wSidecar      = "otc-container"
	wSidecarLabel = "sidecar.opentelemetry.io/injected"
	wSidecarArg   = "--config=env:OTEL_CONFIG"
	// The attributes of a pod of Deployment web (ReplicaSet web-7d4b9c), sorted by key.
	wSidecarAttrs = "OTEL_RESOURCE_ATTRIBUTES=k8s.deployment.name=web,k8s.deployment.uid=66666666-7777-8888-9999-000000000000," +
		"k8s.namespace.name=demo,k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME),k8s.pod.name=$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME)," +
		"k8s.pod.uid=$(OTEL_RESOURCE_ATTRIBUTES_POD_UID),k8s.replicaset.name=web-7d4b9c,k8s.replicaset.uid=11111111-2222-3333-4444-555555555555"
)

type sidecarWant struct {
	// collector is the sidecar's namespace/name; "" when none is injected.
	collector string
	// errContains: the sidecar request failed with this in the reason.
	errContains string
	// removed: "false" removed an existing sidecar.
	removed bool
	// inits: init container names after mutation.
	inits []string
	// env: the sidecar's env, rendered NAME=value (OTEL_CONFIG's value left out).
	env []string
	// args of the sidecar.
	args  []string
	image string
	// outcome of the language part.
	outcome Outcome
	// configAnnotation: the pod records the config (rollout opt-in).
	configAnnotation bool
}

var podEnv = []string{
	"POD_NAME=<fieldRef:metadata.name>", "OTEL_CONFIG",
	"OTEL_RESOURCE_ATTRIBUTES_POD_NAME=<fieldRef:metadata.name>",
	"OTEL_RESOURCE_ATTRIBUTES_POD_UID=<fieldRef:metadata.uid>",
	"OTEL_RESOURCE_ATTRIBUTES_NODE_NAME=<fieldRef:spec.nodeName>",
}

func sidecarEnv(attrs string) []string { return append(slices.Clone(podEnv), attrs) }

var sidecarCases = []struct {
	name string
	want sidecarWant
}{
	{"true", sidecarWant{collector: "demo/sidecar", inits: []string{wSidecar, "migrate"}, env: sidecarEnv(wSidecarAttrs),
		args: []string{wSidecarArg}, image: "autotel/collector:0.1.0", outcome: OutcomeNotRequested}},
	{"name", sidecarWant{collector: "demo/sidecar", inits: []string{wSidecar}, env: sidecarEnv(wSidecarAttrs), args: []string{wSidecarArg}, outcome: OutcomeNotRequested}},
	{"namespace-name", sidecarWant{collector: "shared/common", inits: []string{wSidecar}, outcome: OutcomeNotRequested,
		// No ReplicaSet to read: pod and namespace only, as upstream.
		env: sidecarEnv("OTEL_RESOURCE_ATTRIBUTES=k8s.namespace.name=demo,k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME)," +
			"k8s.pod.name=$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME),k8s.pod.uid=$(OTEL_RESOURCE_ATTRIBUTES_POD_UID)")}},
	{"namespace-annotation", sidecarWant{collector: "demo/sidecar", inits: []string{wSidecar}, env: sidecarEnv(wSidecarAttrs), outcome: OutcomeNotRequested}},
	{"pod-false-wins", sidecarWant{outcome: OutcomeNotRequested}},
	{"not-found", sidecarWant{errContains: "OpenTelemetryCollector demo/missing not found", outcome: OutcomeNotRequested}},
	{"not-sidecar-mode", sidecarWant{errContains: "the OpenTelemetry Collector's mode is not set to sidecar", outcome: OutcomeNotRequested}},
	{"ambiguous", sidecarWant{errContains: "multiple OpenTelemetry Collector instances available, cannot determine which one to select", outcome: OutcomeNotRequested}},
	{"none-available", sidecarWant{errContains: "no OpenTelemetry Collector instances available", outcome: OutcomeNotRequested}},
	{"already-injected", sidecarWant{inits: []string{wSidecar}, outcome: OutcomeNotRequested}},
	{"false-removes", sidecarWant{removed: true, outcome: OutcomeNotRequested}},
	{"with-python", sidecarWant{collector: "demo/sidecar", inits: []string{wSidecar, "migrate", wPyName}, env: sidecarEnv(wSidecarAttrs), outcome: OutcomeInjected}},
	{"not-found-with-python", sidecarWant{errContains: "OpenTelemetryCollector demo/missing not found", outcome: OutcomeInjected,
		inits: []string{"migrate", wPyName}}},
	{"rollout-opt-in", sidecarWant{collector: "demo/sidecar", inits: []string{wSidecar}, configAnnotation: true, outcome: OutcomeNotRequested}},
	{"user-resource-attributes", sidecarWant{collector: "demo/sidecar", inits: []string{wSidecar}, outcome: OutcomeNotRequested,
		image: "registry.example.com/otelcol:1.2.3", args: []string{"--feature-gates=+example", wSidecarArg},
		env: []string{"OTEL_RESOURCE_ATTRIBUTES=team=shop", "POD_NAME=<fieldRef:metadata.name>", "OTEL_CONFIG"}}},
}

type sidecarGolden struct {
	Report struct {
		Outcome Outcome         `json:"outcome"`
		Sidecar *SidecarReport  `json:"sidecar,omitempty"`
		Warns   []goldenWarning `json:"warnings,omitempty"`
	} `json:"report"`
	Pod *corev1.Pod `json:"pod"`
}

func TestSidecar(t *testing.T) {
	for _, tc := range sidecarCases {
		t.Run(tc.name, func(t *testing.T) {
			f := loadFixture(t, filepath.Join("testdata", "sidecar", "cases", tc.name+".yaml"))
			in := f.pod.DeepCopy()
			out, r := mutateOrFail(t, DefaultConfig(), f.ns, f.pod, f.lookup)
			if !equality.Semantic.DeepEqual(f.pod, in) {
				t.Fatalf("Mutate modified its input pod")
			}
			checkSidecar(t, tc.want, in, out, r)

			// Idempotent: the admitted pod admitted again is unchanged (a
			// second webhook call, reinvocation).
			again, r2 := mutateOrFail(t, DefaultConfig(), f.ns, out, f.lookup)
			if tc.want.errContains == "" && !equality.Semantic.DeepEqual(again, out) {
				t.Errorf("a second admission changed the pod:\n%s", lineDiff(podYAML(t, out), podYAML(t, again)))
			}
			if tc.want.collector != "" && (r2.Sidecar == nil || r2.Sidecar.Injected) {
				t.Errorf("second admission: sidecar report %+v, want not injected again", r2.Sidecar)
			}

			var g sidecarGolden
			g.Report.Outcome, g.Report.Sidecar, g.Pod = r.Outcome, r.Sidecar, out
			for _, w := range r.Warnings {
				g.Report.Warns = append(g.Report.Warns, goldenWarning(w))
			}
			body, err := yaml.Marshal(g)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "sidecar", "golden", tc.name+".yaml"),
				append([]byte("# Generated by `go test ./internal/instrumentation -run TestSidecar -update`; reviewed against docs/upstream-behaviour.md §9.\n"), body...))
		})
	}
}

func checkSidecar(t *testing.T, w sidecarWant, in, out *corev1.Pod, r Report) {
	t.Helper()
	if r.Outcome != w.outcome {
		t.Errorf("outcome %s (%s), want %s", r.Outcome, r.Reason, w.outcome)
	}
	if r.Sidecar == nil {
		// Only "false" on a pod without a sidecar leaves nothing to report.
		if w.collector != "" || w.errContains != "" || w.removed || !equality.Semantic.DeepEqual(in, out) {
			t.Fatalf("no sidecar report")
		}
		return
	}
	if w.inits != nil {
		if got := containerNames(out.Spec.InitContainers); !slices.Equal(got, w.inits) {
			t.Errorf("init containers %v, want %v", got, w.inits)
		}
	}
	if w.errContains != "" {
		if !r.Sidecar.Error || !strings.Contains(r.Sidecar.Reason, w.errContains) {
			t.Errorf("sidecar report %+v, want an error containing %q", r.Sidecar, w.errContains)
		}
		if len(r.Warnings) != 1 || r.Warnings[0].Reason != "SidecarInjectionFailed" || !strings.Contains(r.Warnings[0].Message, w.errContains) {
			t.Errorf("warnings %+v, want one SidecarInjectionFailed event naming the error", r.Warnings)
		}
		if w.outcome == OutcomeNotRequested && !equality.Semantic.DeepEqual(in, out) {
			t.Errorf("a failed sidecar request changed the pod (fail-open admits it as it came)")
		}
		if hasSidecar(out) || out.Labels[wSidecarLabel] != "" {
			t.Errorf("a failed sidecar request left a sidecar or its label")
		}
		return
	}
	if w.removed {
		if !r.Sidecar.Removed || slices.ContainsFunc(out.Spec.InitContainers, isSidecar) || slices.ContainsFunc(out.Spec.Containers, isSidecar) {
			t.Errorf("otc-container not removed: %+v, init %v", r.Sidecar, containerNames(out.Spec.InitContainers))
		}
		if _, has := out.Annotations[SidecarConfigAnnotation]; has {
			t.Errorf("%s kept on a pod whose sidecar was removed", SidecarConfigAnnotation)
		}
		return
	}
	if w.collector == "" {
		if r.Sidecar.Injected {
			t.Errorf("sidecar injected, want none: %+v", r.Sidecar)
		}
		if w.inits == nil && !equality.Semantic.DeepEqual(in, out) {
			t.Errorf("pod changed without a sidecar")
		}
		return
	}
	if !r.Sidecar.Injected || r.Sidecar.Collector != w.collector || len(r.Sidecar.Hash) != 16 {
		t.Fatalf("sidecar report %+v, want %s injected with a hash", r.Sidecar, w.collector)
	}
	c := findContainer(out, wSidecar)
	if c == nil || out.Spec.InitContainers[0].Name != wSidecar {
		t.Fatalf("otc-container is not the first init container: %v", containerNames(out.Spec.InitContainers))
	}
	if slices.ContainsFunc(out.Spec.Containers, isSidecar) {
		t.Errorf("otc-container must be a native sidecar only, not also a regular container")
	}
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("otc-container restartPolicy %v, want Always (native sidecar)", c.RestartPolicy)
	}
	ns, name, _ := strings.Cut(w.collector, "/")
	if got := out.Labels[wSidecarLabel]; got != ns+"."+name {
		t.Errorf("label %s=%q, want %q", wSidecarLabel, got, ns+"."+name)
	}
	if w.image != "" && c.Image != w.image {
		t.Errorf("image %s, want %s", c.Image, w.image)
	}
	if w.args != nil && !slices.Equal(c.Args, w.args) {
		t.Errorf("args %v, want %v", c.Args, w.args)
	}
	if w.env != nil {
		var got []string
		for _, e := range renderEnv(c.Env) {
			if strings.HasPrefix(e, "OTEL_CONFIG=") {
				e = "OTEL_CONFIG"
			}
			got = append(got, e)
		}
		if !slices.Equal(got, w.env) {
			t.Errorf("sidecar env:\n got %q\nwant %q", got, w.env)
		}
	}
	cfg := c.Env[envIndex(c.Env, "OTEL_CONFIG")].Value
	if !strings.Contains(cfg, "receivers:") || !strings.Contains(cfg, "otlp:") {
		t.Errorf("OTEL_CONFIG does not hold the collector's config as YAML: %q", cfg)
	}
	if _, has := out.Annotations[SidecarConfigAnnotation]; has != w.configAnnotation {
		t.Errorf("annotation %s present = %v, want %v (only with a rollout opt-in)", SidecarConfigAnnotation, has, w.configAnnotation)
	}
	if w.configAnnotation && out.Annotations[SidecarConfigAnnotation] != w.collector+"@"+r.Sidecar.Hash {
		t.Errorf("annotation %s=%q, want %s@%s", SidecarConfigAnnotation, out.Annotations[SidecarConfigAnnotation], w.collector, r.Sidecar.Hash)
	}
	if !equality.Semantic.DeepEqual(c.StartupProbe, c.ReadinessProbe) {
		t.Errorf("a native sidecar's startup probe is its readiness probe, as upstream")
	}
}

// TestSidecarImageFromConfig: the operator's --collector-image reaches the
// sidecar of collectors without spec.image.
func TestSidecarImageFromConfig(t *testing.T) {
	f := loadFixture(t, filepath.Join("testdata", "sidecar", "cases", "name.yaml"))
	cfg := DefaultConfig()
	cfg.CollectorImage = "registry.example.com/autotel-collector:9"
	out, _ := mutateOrFail(t, cfg, f.ns, f.pod, f.lookup)
	if c := findContainer(out, wSidecar); c == nil || c.Image != cfg.CollectorImage {
		t.Fatalf("sidecar image = %v, want %s", c, cfg.CollectorImage)
	}
}

// TestSidecarConfigHashFollowsConfig: only a config change makes a pod's
// sidecar outdated.
func TestSidecarConfigHashFollowsConfig(t *testing.T) {
	f := loadFixture(t, filepath.Join("testdata", "sidecar", "cases", "name.yaml"))
	col := f.lookup.Collectors[0].DeepCopy()
	before := SidecarConfigValue(col)
	col.Labels = map[string]string{"team": "shop"}
	if SidecarConfigValue(col) != before {
		t.Errorf("a label changed the config hash")
	}
	col.Spec.Config.Exporters.Object["debug"] = map[string]any{"verbosity": "detailed"}
	after := SidecarConfigValue(col)
	if after == before {
		t.Errorf("a config change kept the hash %s", before)
	}
	if ref, hash, ok := ParseSidecarConfig(after); !ok || ref != "demo/sidecar" || hash != SidecarConfigHash(col) {
		t.Errorf("ParseSidecarConfig(%q) = %s %s %v", after, ref, hash, ok)
	}
}

// TestSidecarMalformedValue: a value that can name no collector is an
// error naming the annotation and the accepted forms, without a lookup.
func TestSidecarMalformedValue(t *testing.T) {
	f := loadFixture(t, filepath.Join("testdata", "sidecar", "cases", "name.yaml"))
	for _, value := range []string{"demo/", "/sidecar", "demo/sidecar/x", "Side Car", "demo/Sidecar"} {
		t.Run(value, func(t *testing.T) {
			pod := f.pod.DeepCopy()
			pod.Annotations[SidecarAnnotation] = value
			out, r := mutateOrFail(t, DefaultConfig(), f.ns, pod, f.lookup)
			if r.Sidecar == nil || !r.Sidecar.Error || hasSidecar(out) {
				t.Fatalf("sidecar report %+v, want an error and no sidecar", r.Sidecar)
			}
			for _, want := range []string{SidecarAnnotation, "names no collector", "<namespace>/<name>"} {
				if !strings.Contains(r.Sidecar.Reason, want) {
					t.Errorf("reason %q lacks %q", r.Sidecar.Reason, want)
				}
			}
		})
	}
}

// countingLookup counts owner reads.
type countingLookup struct {
	*StaticLookup
	replicaSets int
}

func (c *countingLookup) GetReplicaSet(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error) {
	c.replicaSets++
	return c.StaticLookup.GetReplicaSet(ctx, namespace, name)
}

// TestOwnerReadOncePerAdmission: the sidecar's resource attributes and the
// language's owner chain read the pod's ReplicaSet once between them (the
// webhook reads it from the API server).
func TestOwnerReadOncePerAdmission(t *testing.T) {
	f := loadFixture(t, filepath.Join("testdata", "sidecar", "cases", "with-python.yaml"))
	l := &countingLookup{StaticLookup: f.lookup}
	out, r := mutateOrFail(t, DefaultConfig(), f.ns, f.pod, l)
	if !hasSidecar(out) || r.Outcome != OutcomeInjected {
		t.Fatalf("want the sidecar and Python injected: %s", r)
	}
	if l.replicaSets != 1 {
		t.Errorf("the ReplicaSet was read %d times in one admission, want 1", l.replicaSets)
	}
}

// TestSidecarInvalidPodAdmittedWithout: a sidecar whose volumes collide
// with the pod's would make the API server refuse the pod; it is admitted
// unchanged, with a warning naming the collision.
func TestSidecarInvalidPodAdmittedWithout(t *testing.T) {
	f := loadFixture(t, filepath.Join("testdata", "sidecar", "cases", "user-resource-attributes.yaml"))
	pod := f.pod.DeepCopy()
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "configmap-extra", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	out, r := mutateOrFail(t, DefaultConfig(), f.ns, pod, f.lookup)
	if !equality.Semantic.DeepEqual(out, pod) {
		t.Errorf("the pod was changed:\n%s", lineDiff(podYAML(t, pod), podYAML(t, out)))
	}
	if r.Sidecar == nil || !r.Sidecar.Error || r.Sidecar.Injected || !strings.Contains(r.Sidecar.Reason, `volume "configmap-extra" would be defined twice`) {
		t.Errorf("sidecar report %+v, want an error naming the volume", r.Sidecar)
	}
	if len(r.Warnings) != 1 || r.Warnings[0].Reason != "SidecarInjectionFailed" {
		t.Errorf("warnings %+v, want one SidecarInjectionFailed", r.Warnings)
	}
}
