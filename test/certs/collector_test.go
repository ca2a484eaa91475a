package certs

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/testenv"
	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/wait"
)

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

func getCRD(t *testing.T, c client.Client) *unstructured.Unstructured {
	t.Helper()
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(crdGVK)
	if err := c.Get(context.Background(), types.NamespacedName{Name: operator.CollectorCRDName}, crd); err != nil {
		t.Fatal(err)
	}
	return crd
}

func kubectlIn(t *testing.T, te *envtest.Environment, stdin string, args ...string) (string, error) {
	t.Helper()
	bin, err := testenv.BinaryDir()
	if err != nil {
		t.Fatal(err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: te.Config.Host, CertificateAuthorityData: te.Config.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: te.Config.CertData, ClientKeyData: te.Config.KeyData, Token: te.Config.BearerToken}
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	kc.CurrentContext = "local"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", path}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// TestCollectorConversionCABundle: with self-managed certificates the
// operator puts its CA into the OpenTelemetryCollector CRD's conversion
// webhook (spec.conversion as the chart and deploy/ install it, here by URL
// as the chart's webhooks.url does), so a v1alpha1 collector applied with
// kubectl is converted by the API server and reads back as v1beta1.
func TestCollectorConversionCABundle(t *testing.T) {
	_, log := captureLogs(t)
	port := ports.Free(t)
	te, c := controlPlane(t, port)

	crd := getCRD(t, c)
	conv := map[string]any{"strategy": "Webhook", "webhook": map[string]any{
		"conversionReviewVersions": []any{"v1"},
		"clientConfig":             map[string]any{"url": fmt.Sprintf("https://localhost:%d/convert", port)},
	}}
	if err := unstructured.SetNestedMap(crd.Object, conv, "spec", "conversion"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(context.Background(), crd); err != nil {
		t.Fatalf("adding spec.conversion to the CRD: %v", err)
	}

	p := startOperatorWith(t, te, port, log, nil)
	defer p.stop()
	serving(t, c, port)
	wait.For(t, 60*time.Second, "the CRD's conversion caBundle equals the webhook configurations'", wait.NoError(func() error {
		got, _, _ := unstructured.NestedString(getCRD(t, c).Object, "spec", "conversion", "webhook", "clientConfig", "caBundle")
		want := base64.StdEncoding.EncodeToString(caBundle(t, c))
		if got == "" {
			return fmt.Errorf("no caBundle yet")
		}
		if got != want {
			return fmt.Errorf("caBundle differs from the webhook configurations'")
		}
		return nil
	}))

	manifest := `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata:
  name: old
  namespace: app
spec:
  mode: deployment
  config: |
    receivers:
      otlp:
        protocols:
          grpc: {}
    exporters:
      debug: {}
    service:
      pipelines:
        traces:
          receivers: [otlp]
          exporters: [debug]
`
	// The API server stores v1beta1: the create itself goes through /convert.
	var lastErr error
	wait.For(t, 30*time.Second, "kubectl create of a v1alpha1 collector", wait.NoError(func() error {
		_, lastErr = kubectlIn(t, te, manifest, "create", "-f", "-")
		return lastErr
	}))
	out, err := kubectlIn(t, te, "", "get", "opentelemetrycollectors.v1beta1.opentelemetry.io", "old", "-n", "app", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v1beta1 map[string]any
	mustJSON(t, []byte(out), &v1beta1)
	u := unstructured.Unstructured{Object: v1beta1}
	if u.GetAPIVersion() != "opentelemetry.io/v1beta1" {
		t.Errorf("read back as %s", u.GetAPIVersion())
	}
	if _, found, _ := unstructured.NestedMap(u.Object, "spec", "config", "exporters", "debug"); !found {
		t.Errorf("v1beta1 spec.config is not the structured config: %v", u.Object["spec"])
	}
	// And back to v1alpha1 on read, through the webhook again.
	out, err = kubectlIn(t, te, "", "get", "opentelemetrycollectors.v1alpha1.opentelemetry.io", "old", "-n", "app", "-o", "jsonpath={.apiVersion} {.spec.config}")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "opentelemetry.io/v1alpha1 ") || !strings.Contains(out, "debug") {
		t.Errorf("v1alpha1 view: %q", out)
	}
}

// TestOperatorWithoutCollectorCRD: an operator started where the
// OpenTelemetryCollector CRD is not installed (an older chart or kustomize
// base) says so in one info line and serves the pod and Instrumentation
// webhooks as before, with no error logged.
func TestOperatorWithoutCollectorCRD(t *testing.T) {
	logs, log := captureLogs(t)
	port := ports.Free(t)
	bin, err := testenv.BinaryDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Only the Instrumentation CRD.
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", "opentelemetry.io_instrumentations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "instrumentations.yaml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	te := &envtest.Environment{BinaryAssetsDirectory: bin, CRDDirectoryPaths: []string{dir}, ErrorIfCRDPathMissing: true}
	if _, err := te.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = te.Stop() })
	c, err := client.New(te.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{operatorNS, "app"} {
		if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	installWebhookConfigs(t, c, port)

	p := startOperatorWith(t, te, port, log, nil)
	serving(t, c, port)
	wait.For(t, 30*time.Second, "a pod injected through the webhook", wait.NoError(func() error { return podInjected(c, "app") }))
	errs := logs.errors()
	p.stop()
	if len(errs) > 0 {
		t.Errorf("error-level log lines without the collector CRD: %v", errs)
	}
	skipped := logs.matching(func(l logLine) bool { return strings.Contains(l.msg, "OpenTelemetryCollector CRD not installed") })
	if len(skipped) != 1 {
		t.Errorf("%d info lines about the missing CRD, want 1", len(skipped))
	}
}
