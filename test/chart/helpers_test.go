// Package chart tests the Helm chart (charts/autotel), the kustomize manifests
// (deploy/) and the container build files (build/) against the sources they
// are derived from: the generated CRD, RBAC and webhook manifests (config/),
// the operator's flags, the collector's components, and a real kube-apiserver.
package chart

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files and the generated kustomize base (hack/helm-sync.sh)")

const (
	release   = "autotel"
	namespace = "autotel-system"
	chartDir  = "charts/autotel"
)

// tmpRoot holds helm's settings and the binaries the tests build.
var tmpRoot string

func TestMain(m *testing.M) {
	flag.Parse()
	// Helm keeps repositories, plugins and caches in the user's home; the
	// tests must neither read a developer's settings nor leave files there.
	var err error
	tmpRoot, err = os.MkdirTemp("", "autotel-chart-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, v := range []string{"HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"} {
		os.Setenv(v, filepath.Join(tmpRoot, "helm", strings.ToLower(strings.TrimPrefix(v, "HELM_"))))
	}
	// Nothing here talks to a cluster except through an explicit
	// --kubeconfig: a developer's current context must never be touched.
	os.Setenv("KUBECONFIG", filepath.Join(tmpRoot, "no-cluster"))
	code := m.Run()
	os.RemoveAll(tmpRoot)
	os.Exit(code)
}

var repoRoot = sync.OnceValues(testenv.RepoRoot)

func root(t testing.TB) string {
	t.Helper()
	r, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func path(t testing.TB, rel ...string) string {
	return filepath.Join(append([]string{root(t)}, rel...)...)
}

// helmBinary builds helm once per test binary (hack/helm.sh caches it).
var helmBinary = sync.OnceValues(func() (string, error) {
	r, err := repoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", filepath.Join(r, "hack", "helm.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building helm with hack/helm.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
})

// kubeBinaries is the folder with kube-apiserver, etcd and kubectl.
var kubeBinaries = sync.OnceValues(testenv.BinaryDir)

// kubeVersion is the Kubernetes release hack/kube-binaries.sh builds: charts
// render for the API server the tests apply them to.
var kubeVersion = sync.OnceValues(func() (string, error) {
	r, err := repoRoot()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(r, "hack", "kube-binaries.sh"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^KUBE_VERSION=(v[0-9.]+)$`).FindSubmatch(b)
	if m == nil {
		return "", errors.New("no KUBE_VERSION= line in hack/kube-binaries.sh")
	}
	return string(m[1]), nil
})

func run(t testing.TB, dir string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin, err := helmBinary()
	if err != nil {
		t.Fatal(err)
	}
	return run(t, root(t), bin, args...)
}

func kubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	dir, err := kubeBinaries()
	if err != nil {
		t.Fatal(err)
	}
	return run(t, root(t), filepath.Join(dir, "kubectl"), args...)
}

// scenario is one way of installing the chart: the defaults, or a values
// file from charts/autotel/ci/ (the seed's collector values among them).
type scenario struct {
	name   string
	values string // path relative to the repository root; empty for the defaults
}

func scenarios(t testing.TB) []scenario {
	t.Helper()
	files, err := filepath.Glob(path(t, chartDir, "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("expected the ci/ values files of the chart, found %v", files)
	}
	out := []scenario{{name: "default"}}
	for _, f := range files {
		rel, _ := filepath.Rel(root(t), f)
		out = append(out, scenario{name: strings.TrimSuffix(filepath.Base(f), "-values.yaml"), values: rel})
	}
	return out
}

func scenarioByName(t testing.TB, name string) scenario {
	t.Helper()
	for _, s := range scenarios(t) {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no scenario %q", name)
	return scenario{}
}

func (s scenario) args() []string {
	if s.values == "" {
		return nil
	}
	return []string{"-f", s.values}
}

// templateRaw runs helm template; extra are further helm flags (-f, --set).
func templateRaw(t testing.TB, extra ...string) (string, error) {
	t.Helper()
	return templateRawIn(t, namespace, extra...)
}

func templateRawIn(t testing.TB, ns string, extra ...string) (string, error) {
	t.Helper()
	kv, err := kubeVersion()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"template", release, chartDir, "--namespace", ns, "--kube-version", kv}, extra...)
	return helm(t, args...)
}

func template(t testing.TB, extra ...string) objects {
	t.Helper()
	out, err := templateRaw(t, extra...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseObjects([]byte(out))
	if err != nil {
		t.Fatalf("parsing helm template output: %v", err)
	}
	return objs
}

type objects []*unstructured.Unstructured

func parseObjects(data []byte) (objects, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out objects
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%w in\n%s", err, doc)
		}
		if string(bytes.TrimSpace(j)) == "null" {
			continue // a document of comments only
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("%w in\n%s", err, doc)
		}
		out = append(out, u)
	}
}

func key(u *unstructured.Unstructured) string {
	k := u.GetKind() + "/"
	if u.GetNamespace() != "" {
		k += u.GetNamespace() + "/"
	}
	return k + u.GetName()
}

func (o objects) keys() []string {
	var ks []string
	for _, u := range o {
		ks = append(ks, key(u))
	}
	sort.Strings(ks)
	return ks
}

func (o objects) find(kind, name string) *unstructured.Unstructured {
	for _, u := range o {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	return nil
}

// get finds one object and converts it to its Go type.
func get[T any](t testing.TB, o objects, kind, name string) *T {
	t.Helper()
	u := o.find(kind, name)
	if u == nil {
		t.Fatalf("no %s %s rendered; have %v", kind, name, o.keys())
	}
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &v, true); err != nil {
		t.Fatalf("%s %s: %v", kind, name, err)
	}
	return &v
}

func readYAML(t testing.TB, file string) any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return v
}

func toYAML(t testing.TB, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flagValues reads --name=value arguments; a bare --name is "true".
func flagValues(args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			value = "true"
		}
		m[name] = value
	}
	return m
}

// convert moves decoded YAML into a Go type, refusing fields the type does
// not have (a misspelt field in a template fails here, not in a cluster).
func convert(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(out)
}
