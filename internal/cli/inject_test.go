package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestInjectSeed runs the CLI on the seed's manifests: the preview must be
// the pod template the webhook would produce, explained on stderr.
func TestInjectSeed(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		golden string
		report []string
		must   []string // in the preview
	}{
		{
			name:   "seed console Instrumentation and annotated Deployment",
			args:   []string{"inject", "--ignore-cluster", "-n", "example", "-f", "../../testdata/seed/instrumentation-console.yaml", "-f", "../../testdata/seed/deployment-annotated.yaml"},
			golden: "seed-deployment.yaml",
			report: []string{"--ignore-cluster: using autotel's built-in defaults", "Deployment sample: instrumented", "python via example/python-instrumentation", "container sample: injected"},
			must:   []string{"name: opentelemetry-auto-instrumentation-python", "k8s.deployment.name=sample", "OTEL_LOGS_EXPORTER\n          value: console"},
		},
		{
			name:   "no Instrumentation",
			args:   []string{"inject", "--ignore-cluster", "--report", "-n", "example", "-f", "../../testdata/seed/deployment-annotated.yaml"},
			report: []string{"Deployment sample: NOT instrumented (error; the pod is still admitted)", "no OpenTelemetry Instrumentation instances available"},
		},
		{
			name:   "collector sidecar and Python from manifests",
			args:   []string{"inject", "--ignore-cluster", "-n", "shop", "-f", "testdata/sidecar-manifests.yaml"},
			golden: "sidecar-deployment.yaml",
			report: []string{"Deployment shop: instrumented", "collector sidecar otc-container from shop/sidecar", "python via shop/python"},
			must: []string{"initContainers:\n      - args:\n        - --config=env:OTEL_CONFIG", "name: otc-container", "restartPolicy: Always",
				"sidecar.opentelemetry.io/injected: shop.sidecar", "name: opentelemetry-auto-instrumentation-python"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			root := NewRoot(&stdout, &stderr)
			root.SetArgs(tc.args)
			if err := root.Execute(); err != nil {
				t.Fatalf("autotel %v: %v\n%s", tc.args, err, stderr.String())
			}
			for _, want := range tc.report {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, stderr.String())
				}
			}
			if tc.golden == "" {
				if stdout.Len() != 0 {
					t.Errorf("--report printed manifests:\n%s", stdout.String())
				}
				return
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(stdout.Bytes(), want) {
				t.Errorf("output differs from %s (run with -update after checking):\n%s", path, stdout.String())
			}
			for _, must := range tc.must {
				if !strings.Contains(stdout.String(), must) {
					t.Errorf("preview lacks %q", must)
				}
			}
		})
	}
}

func TestInjectErrors(t *testing.T) {
	// No cluster configured: inject must not silently fall back to defaults.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inject"}, "no manifests: pass -f FILE"},
		{[]string{"inject", "-f", "does-not-exist.yaml"}, "does-not-exist.yaml"},
		{[]string{"explain", "deployment/x"}, "explain takes pod/NAME"},
		{[]string{"inject", "-f", "../../testdata/seed/deployment-annotated.yaml"}, "--ignore-cluster previews offline"},
		{[]string{"inject", "--kubeconfig", "does-not-exist.kubeconfig", "-f", "../../testdata/seed/deployment-annotated.yaml"}, "does-not-exist.kubeconfig"},
		{[]string{"inject", "--ignore-cluster", "--from-cluster", "-f", "../../testdata/seed/deployment-annotated.yaml"}, "--from-cluster and --ignore-cluster exclude each other"},
	} {
		var stdout, stderr bytes.Buffer
		root := NewRoot(&stdout, &stderr)
		root.SetArgs(tc.args)
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("autotel %v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestKubectlFlags: --kubeconfig, --context and --namespace resolve the
// namespace as kubectl does (the flag, else the chosen context's).
func TestKubectlFlags(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts:
- {name: a, context: {cluster: c, user: u, namespace: alpha}}
- {name: b, context: {cluster: c, user: u, namespace: beta}}
current-context: a
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "namespace: alpha"},
		{[]string{"--context", "b"}, "namespace: beta"},
		{[]string{"--context", "b", "-n", "gamma"}, "namespace: gamma"},
	} {
		var stdout, stderr bytes.Buffer
		root := NewRoot(&stdout, &stderr)
		root.SetArgs(append([]string{"inject", "--ignore-cluster", "--kubeconfig", kubeconfig, "-f", "../../testdata/seed/deployment-annotated.yaml"}, tc.args...))
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if !strings.Contains(stdout.String(), "  "+tc.want+"\n") {
			t.Errorf("%v: output lacks %q:\n%s", tc.args, tc.want, stdout.String())
		}
	}
}
