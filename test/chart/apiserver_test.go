package chart

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// cert-manager's CRDs, for the Issuer and Certificate the cert-manager
// install renders. Its Go module carries them, generated from its API types.
const certManagerModule = "github.com/cert-manager/cert-manager@v1.21.2"

func certManagerCRDs(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", certManagerModule)
	cmd.Dir = t.TempDir() // outside any module: nothing is added to a go.mod
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); err != nil || jerr != nil || mod.Error != "" {
		t.Fatalf("go mod download %s: %v %v %s", certManagerModule, err, jerr, mod.Error)
	}
	var files []string
	for _, name := range []string{"cert-manager.io_issuers.yaml", "cert-manager.io_clusterissuers.yaml", "cert-manager.io_certificates.yaml"} {
		f := filepath.Join(mod.Dir, "deploy", "crds", name)
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// Every install the chart and the kustomize manifests describe is accepted by
// a real kube-apiserver (server-side dry run, strict field validation), with
// the CRDs installed first as a cluster would have them.
func TestServerDryRun(t *testing.T) {
	bin, err := kubeBinaries()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", bin, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin"}
	kc.CurrentContext = "test"
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	k := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := kubectl(t, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	apply := []string{"apply", "--server-side", "--field-manager=autotel-chart-test"}
	crds := append(append([]string{}, apply...), "-f", filepath.Join(chartDir, "crds"))
	for _, f := range certManagerCRDs(t) {
		crds = append(crds, "-f", f)
	}
	k(t, crds...)
	k(t, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/instrumentations.opentelemetry.io", "crd/issuers.cert-manager.io", "crd/certificates.cert-manager.io")
	// Dry-run objects in a namespace need the namespace for real: the
	// kustomize base's, which enforces the restricted Pod Security Standard.
	k(t, append(append([]string{}, apply...), "-f", path(t, "deploy", "base", "namespace.yaml"))...)

	dryRun := append(append([]string{}, apply...), "--dry-run=server", "--validate=strict", "-o", "name")

	// Without this, a passing dry run could mean a lenient server.
	t.Run("a wrong field is refused", func(t *testing.T) {
		bad := strings.Replace(deploymentYAML(t), "replicas:", "replicaz:", 1)
		f := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(f, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := kubectl(t, append([]string{"--kubeconfig", kubeconfig}, append(dryRun, "-f", f)...)...)
		if err == nil || !strings.Contains(err.Error(), "replicaz") {
			t.Fatalf("a Deployment with spec.replicaz was accepted: %v", err)
		}
	})

	for _, s := range scenarios(t) {
		t.Run("chart/"+s.name, func(t *testing.T) {
			out, err := templateRaw(t, append(s.args(), "--include-crds")...)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := parseObjects([]byte(out))
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "manifests.yaml")
			if err := os.WriteFile(f, []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
			checkApplied(t, k(t, append(dryRun, "-f", f)...), objs)
		})
	}
	for _, dir := range []string{"deploy/base", "deploy/overlays/cert-manager"} {
		t.Run("kustomize/"+dir, func(t *testing.T) {
			built, err := kubectl(t, "kustomize", dir)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := parseObjects([]byte(built))
			if err != nil {
				t.Fatal(err)
			}
			checkApplied(t, k(t, append(dryRun, "-k", dir)...), objs)
		})
	}

	// The pods the chart's workloads create are admitted under the
	// restricted Pod Security Standard (non-root, no privilege escalation,
	// no capabilities, seccomp) — all but the collector reading node logs,
	// which needs a hostPath and is refused there (the check has teeth).
	t.Run("pods meet the restricted Pod Security Standard", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			args     []string
			kind     string
			workload string
			allowed  bool
		}{
			{"operator", nil, "Deployment", "autotel-operator", true},
			{"operator with cert-manager", []string{"--set", "certManager.enabled=true"}, "Deployment", "autotel-operator", true},
			{"collector", []string{"--set", "mode=daemonset"}, "DaemonSet", "autotel-collector", true},
			{"collector reading node logs", []string{"--set", "mode=daemonset", "--set", "presets.logsCollection.enabled=true"}, "DaemonSet", "autotel-collector", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				objs := template(t, tc.args...)
				w := objs.find(tc.kind, tc.workload)
				if w == nil {
					t.Fatalf("no %s %s", tc.kind, tc.workload)
				}
				tmpl, _, _ := unstructured.NestedMap(w.Object, "spec", "template")
				pod := &unstructured.Unstructured{Object: tmpl}
				pod.SetAPIVersion("v1")
				pod.SetKind("Pod")
				pod.SetName(tc.workload + "-psa-check")
				pod.SetNamespace(namespace)
				// The ServiceAccount admission plugin wants the pod's account.
				sa := objs.find("ServiceAccount", pod.Object["spec"].(map[string]any)["serviceAccountName"].(string))
				b, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{sa.Object}})
				if err != nil {
					t.Fatal(err)
				}
				saFile := filepath.Join(t.TempDir(), "sa.json")
				podFile := filepath.Join(t.TempDir(), "pod.json")
				pb, _ := pod.MarshalJSON()
				if err := os.WriteFile(saFile, b, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(podFile, pb, 0o600); err != nil {
					t.Fatal(err)
				}
				k(t, append(append([]string{}, apply...), "-f", saFile)...)
				_, err = kubectl(t, "--kubeconfig", kubeconfig, "create", "--dry-run=server", "-f", podFile)
				switch {
				case tc.allowed && err != nil:
					t.Errorf("pod refused: %v", err)
				case !tc.allowed && (err == nil || !strings.Contains(err.Error(), "violates PodSecurity")):
					t.Errorf("a pod with a hostPath was not refused by the restricted policy: %v", err)
				}
			})
		}
	})

	// The CRD the chart installed serves the seed's Instrumentation. Applied
	// client-side, as the seed did: its empty `env:` is a null, which the
	// API server prunes on create but server-side apply refuses
	// ("spec.env in body must be of type array").
	t.Run("seed Instrumentation", func(t *testing.T) {
		out := k(t, "apply", "--dry-run=server", "--validate=strict", "-o", "name", "-n", namespace, "-f", path(t, "testdata", "seed", "instrumentation-otlp.yaml"))
		if strings.TrimSpace(out) != "instrumentation.opentelemetry.io/python-instrumentation" {
			t.Errorf("applied %q", out)
		}
	})
}

// checkApplied: kubectl -o name printed one line per object, for every
// object of the manifests.
func checkApplied(t *testing.T, out string, objs objects) {
	t.Helper()
	lines := strings.Fields(out)
	if len(lines) != len(objs) || len(objs) == 0 {
		t.Fatalf("%d objects applied, %d in the manifests:\n%s\nmanifests: %v", len(lines), len(objs), out, objs.keys())
	}
	for _, u := range objs {
		want := "/" + u.GetName()
		var found bool
		for _, l := range lines {
			if strings.HasSuffix(l, want) && strings.HasPrefix(strings.ToLower(l), strings.ToLower(u.GetKind())) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s not applied:\n%s", key(u), out)
		}
	}
}

// deploymentYAML is the operator Deployment as the chart renders it.
func deploymentYAML(t *testing.T) string {
	t.Helper()
	out, err := templateRaw(t, "--show-only", "templates/operator/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "replicas:") {
		t.Fatalf("no replicas in the Deployment:\n%s", out)
	}
	return out
}
