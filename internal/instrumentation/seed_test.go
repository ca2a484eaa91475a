package instrumentation

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// observedPod is the shape of testdata/seed/observed-injected-pod.yaml (the
// same bytes as the copy in the repository root's testdata/seed/): what the
// seed read from `kubectl describe pod` on an older operator release.
type observedPod struct {
	InitContainers []struct {
		Name         string               `json:"name"`
		Image        string               `json:"image"`
		Command      []string             `json:"command"`
		VolumeMounts []corev1.VolumeMount `json:"volumeMounts"`
	} `json:"initContainers"`
	Containers []struct {
		Name string `json:"name"`
		Env  []struct {
			Name     string `json:"name"`
			Value    string `json:"value"`
			FieldRef string `json:"fieldRef"`
		} `json:"env"`
		VolumeMounts []corev1.VolumeMount `json:"volumeMounts"`
	} `json:"containers"`
}

// TestSeedMatchesObserved checks the seed case against what the seed
// observed, modulo the differences listed in testdata/SEED-DIFFERENCES.md,
// each applied below as one explicit step.
func TestSeedMatchesObserved(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "seed", "observed-injected-pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var obs observedPod
	if err := yaml.UnmarshalStrict(data, &obs); err != nil {
		t.Fatal(err)
	}
	if len(obs.Containers) != 1 || len(obs.InitContainers) != 1 {
		t.Fatalf("unexpected observed pod shape")
	}
	var observed []string
	for _, e := range obs.Containers[0].Env {
		if e.FieldRef != "" {
			observed = append(observed, e.Name+"=<fieldRef:"+e.FieldRef+">")
		} else {
			observed = append(observed, e.Name+"="+e.Value)
		}
	}

	expected := slices.Clone(observed)
	remove := func(name string) {
		t.Helper()
		i := slices.IndexFunc(expected, func(s string) bool { return strings.HasPrefix(s, name+"=") })
		if i < 0 {
			t.Fatalf("observed env has no %s", name)
		}
		expected = slices.Delete(expected, i, i+1)
	}
	// D1 (§2.4 history, ~v0.108): one OTEL_EXPORTER_OTLP_PROTOCOL replaced the
	// per-signal protocol variables.
	remove("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	remove("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
	// D2 (§2.4 step 4): OTEL_EXPORTER_OTLP_PROTOCOL is a Python default,
	// appended after PYTHONPATH; the observed pod lists it before the
	// spec.python.env variables.
	remove("OTEL_EXPORTER_OTLP_PROTOCOL")
	i := slices.IndexFunc(expected, func(s string) bool { return strings.HasPrefix(s, "PYTHONPATH=") })
	expected = slices.Insert(expected, i+1, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")
	// D3 (§3): the seed's Instrumentation sets no sampler, so no sampler variables.
	remove("OTEL_TRACES_SAMPLER")
	remove("OTEL_TRACES_SAMPLER_ARG")
	// D4 (§3): newer releases add service.namespace (the namespace name).
	last := len(expected) - 1
	if !strings.HasPrefix(expected[last], "OTEL_RESOURCE_ATTRIBUTES=") {
		t.Fatalf("observed env does not end with OTEL_RESOURCE_ATTRIBUTES")
	}
	expected[last] = strings.Replace(expected[last], ",service.version=amd64", ",service.namespace=example,service.version=amd64", 1)
	// D5 (§2.4 step 4): the OTEL_LOGS_EXPORTER=otlp default is not visible here,
	// spec.python.env sets console first. Nothing to change.

	f := loadFixture(t, filepath.Join("testdata", "cases", "seed-console-amd64.yaml"))
	out, r := Mutator{Config: DefaultConfig()}.Mutate(context.Background(), f.ns, f.pod, f.lookup)
	if r.Outcome != OutcomeInjected {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Reason)
	}
	got := renderEnv(findContainer(out, "sample").Env)
	if !slices.Equal(got, expected) {
		t.Errorf("seed env differs from the observed one beyond SEED-DIFFERENCES.md:\n%s",
			lineDiff(strings.Join(expected, "\n"), strings.Join(got, "\n")))
	}

	oi := obs.InitContainers[0]
	init := findContainer(out, oi.Name)
	if init == nil {
		t.Fatalf("no init container %s", oi.Name)
	}
	if init.Image != oi.Image || !slices.Equal(init.Command, oi.Command) || !equality.Semantic.DeepEqual(init.VolumeMounts, oi.VolumeMounts) {
		t.Errorf("init container differs from the observed one: %s %v %v", init.Image, init.Command, init.VolumeMounts)
	}
	// The observed mounts omit the service account token mount (describe
	// lists it separately); ours must include the observed one.
	app := findContainer(out, "sample")
	for _, m := range obs.Containers[0].VolumeMounts {
		if !slices.ContainsFunc(app.VolumeMounts, func(o corev1.VolumeMount) bool { return equality.Semantic.DeepEqual(o, m) }) {
			t.Errorf("mount %+v missing", m)
		}
	}
}
