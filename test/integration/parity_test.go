package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/cli"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/testenv"
)

// TestCLIPreviewIsTheAdmittedPod starts a second control plane whose
// operator runs with non-default settings (another Python image, pod
// status annotations on, Node.js disabled) and checks that `autotel
// inject` — reading the settings the operator published — previews
// exactly the pod the webhook admits: the same annotations and labels
// byte for byte, and the same spec once the API server has defaulted both
// (the preview is created with a server-side dry run for that).
func TestCLIPreviewIsTheAdmittedPod(t *testing.T) {
	const (
		pythonImage = "registry.example/autotel/python-agent:parity"
		operatorNS  = "autotel-parity"
	)
	e, err := testenv.Start(zap.New(zap.WriteTo(testWriter{t}), zap.Level(zapLevel())), func(o *operator.Options) {
		o.SkipControllerNameValidation = true // the package's operator runs in this process too
		o.Images.Python = pythonImage
		o.Injection.PodStatusAnnotations = true
		o.Injection.Enabled[instrumentation.NodeJS] = false
		o.InjectionConfig.Namespace = operatorNS
	})
	if err != nil {
		t.Fatalf("starting the second control plane: %v", err)
	}
	t.Cleanup(e.Stop)
	c := e.Client
	for _, name := range []string{operatorNS, "parity"} {
		if err := c.Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	// The operator retries publishing until its namespace exists.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var cm corev1.ConfigMap
		err := c.Get(ctx(t), types.NamespacedName{Namespace: operatorNS, Name: operator.DefaultInjectionConfigName}, &cm)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the operator did not publish its injection settings: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	inst := seedInstrumentation(t, "instrumentation-otlp.yaml")
	inst.Namespace = "parity"
	if err := c.Create(ctx(t), inst.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		var got v1alpha1.Instrumentation
		return e.CachedClient.Get(ctx(t), client.ObjectKeyFromObject(inst), &got) == nil
	})

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := e.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	pods := []*corev1.Pod{
		samplePod("parity", map[string]string{injectPython: "true"}),
		samplePod("parity", map[string]string{"instrumentation.opentelemetry.io/inject-nodejs": "true"}),
		samplePod("parity", nil),
	}
	for i, name := range []string{"python", "nodejs", "plain"} {
		pods[i].Name = name
		pods[i].TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	}
	podsFile := writeManifests(t, dir, "pods.yaml", pods[0], pods[1], pods[2])
	fileInst := seedInstrumentation(t, "instrumentation-otlp.yaml")
	fileInst.TypeMeta = metav1.TypeMeta{APIVersion: "opentelemetry.io/v1alpha1", Kind: "Instrumentation"}
	instFile := writeManifests(t, dir, "instrumentation.yaml", fileInst)

	// Previews are made before the pods exist: the dry-run creates below
	// need the names free. Two previews: Instrumentations read from the cluster (defaulted by
	// the operator there), and from the file (defaulted by the CLI with
	// the images the operator published).
	fromCluster := injectPreview(t, "--kubeconfig", kubeconfig, "-n", "parity", "--operator-namespace", operatorNS, "--from-cluster", "-f", podsFile)
	fromFiles := injectPreview(t, "--kubeconfig", kubeconfig, "-n", "parity", "-f", instFile, "-f", podsFile)
	offline := injectPreview(t, "--ignore-cluster", "-n", "parity", "-f", instFile, "-f", podsFile)

	// The API server's defaulting of each preview, by a server-side dry
	// run, before the real pods take the names.
	type preview struct {
		source           string
		pod, dryRunSpecs *corev1.Pod
	}
	previews := make([][]preview, len(pods))
	for _, set := range []struct {
		source string
		pods   []*corev1.Pod
	}{{"--from-cluster", fromCluster}, {"Instrumentation from a file", fromFiles}} {
		for i, p := range set.pods {
			d := p.DeepCopy()
			if err := c.Create(ctx(t), d, client.DryRunAll); err != nil {
				t.Fatalf("dry-run create of the preview of %s (%s): %v", p.Name, set.source, err)
			}
			previews[i] = append(previews[i], preview{set.source, p, d})
		}
	}

	for i, want := range pods {
		stored := want.DeepCopy()
		if err := c.Create(ctx(t), stored); err != nil {
			t.Fatalf("creating pod %s: %v", want.Name, err)
		}
		if err := c.Get(ctx(t), client.ObjectKeyFromObject(stored), stored); err != nil {
			t.Fatal(err)
		}
		for _, pv := range previews[i] {
			samePod(t, want.Name+" ("+pv.source+")", stored, pv.pod, pv.dryRunSpecs)
		}
	}

	// The operator's settings were in effect, and the preview followed them
	// where the built-in defaults would not have.
	var py, node corev1.Pod
	if err := c.Get(ctx(t), types.NamespacedName{Namespace: "parity", Name: "python"}, &py); err != nil {
		t.Fatal(err)
	}
	if len(py.Spec.InitContainers) != 1 || py.Spec.InitContainers[0].Image != pythonImage {
		t.Errorf("python pod's init containers %v, want the operator's image %s", py.Spec.InitContainers, pythonImage)
	}
	if py.Labels[instrumentation.InjectedLabel] != "true" {
		t.Errorf("python pod lacks the %s label (pod status annotations on)", instrumentation.InjectedLabel)
	}
	if err := c.Get(ctx(t), types.NamespacedName{Namespace: "parity", Name: "nodejs"}, &node); err != nil {
		t.Fatal(err)
	}
	if st, ok, _ := instrumentation.ReadStatus(&node); !ok || len(st.Languages) != 1 || !st.Languages[0].Disabled {
		t.Errorf("nodejs pod's status %+v (present %v), want Node.js recorded as disabled", st, ok)
	}
	if len(offline[0].Spec.InitContainers) != 1 || offline[0].Spec.InitContainers[0].Image == pythonImage {
		t.Errorf("--ignore-cluster preview should use the built-in image, got %v", offline[0].Spec.InitContainers)
	}
	if _, ok := offline[0].Annotations[instrumentation.StatusAnnotation]; ok {
		t.Errorf("--ignore-cluster preview has a status annotation; the built-in default is off")
	}
	if len(offline[1].Spec.InitContainers) == 0 {
		t.Errorf("--ignore-cluster preview should inject Node.js (enabled by default)")
	}
}

// samePod compares what admission decides: annotations and labels byte
// for byte, and the spec after the API server's defaulting (a dry-run
// create of the preview; the webhook sees it already instrumented and
// leaves its spec alone).
func samePod(t *testing.T, what string, stored, preview, previewDryRun *corev1.Pod) {
	t.Helper()
	eq := func(field string, a, b any) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s: %s differs\nadmitted: %s\npreview:  %s", what, field, ja, jb)
		}
	}
	eq("metadata.annotations", stored.Annotations, preview.Annotations)
	eq("metadata.labels", stored.Labels, preview.Labels)
	eq("spec", stored.Spec, previewDryRun.Spec)
}

func writeManifests(t *testing.T, dir, name string, objs ...any) string {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		raw, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(raw)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// injectPreview runs `autotel inject` and decodes the pods it prints.
func injectPreview(t *testing.T, args ...string) []*corev1.Pod {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := cli.NewRoot(&stdout, &stderr)
	root.SetArgs(append([]string{"inject"}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("autotel inject %v: %v\n%s", args, err, stderr.String())
	}
	t.Logf("autotel inject %v:\n%s", args, stderr.String())
	var pods []*corev1.Pod
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stdout.Bytes()), 4096)
	for {
		var p corev1.Pod
		if err := dec.Decode(&p); err != nil {
			break
		}
		if p.Kind == "Pod" {
			pods = append(pods, &p)
		}
	}
	if len(pods) != 3 {
		t.Fatalf("autotel inject %v printed %d pods, want 3:\n%s", args, len(pods), stdout.String())
	}
	return pods
}
