// Package certs tests autotel's self-managed webhook certificates against a
// real kube-apiserver: no cert-manager, no envtest-issued certificates.
package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/testenv"
)

const (
	operatorNS = "autotel-system"
	mutating   = "autotel-mutating-webhook-configuration"
	validating = "autotel-validating-webhook-configuration"
)

type operatorProc struct {
	port   int
	cancel context.CancelFunc
	done   chan error
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startOperatorWith runs one operator replica with self-managed
// certificates and time-shortened lifetimes, logging to log; adjust may
// change its options.
func startOperatorWith(t *testing.T, te *envtest.Environment, port int, log logr.Logger, adjust func(*operator.Options)) *operatorProc {
	t.Helper()
	o := operator.DefaultOptions()
	o.MetricsAddr, o.ProbeAddr = "0", "0"
	o.WebhookHost, o.WebhookPort = "127.0.0.1", port
	o.CertDir = t.TempDir()
	o.Certs.Mode = "self"
	o.Certs.Secret = types.NamespacedName{Namespace: operatorNS, Name: "autotel-webhook-cert"}
	o.Certs.DNSName = "autotel-webhook." + operatorNS + ".svc"
	o.Certs.ExtraDNSNames = []string{"localhost"}
	o.Certs.WriteFiles = true
	o.Certs.ControllerName = fmt.Sprintf("cert-rotator-%d-%d", port, time.Now().UnixNano())
	o.SkipControllerNameValidation = true // several replicas in this one process
	// The server certificate lives 40s and is renewed when under 30s are
	// left, so it rotates about every 10s; the CA lives 90s (renewed 30s
	// ahead). Checked every second.
	o.Certs.CADuration, o.Certs.ServerDuration = 90*time.Second, 40*time.Second
	o.Certs.Lookahead, o.Certs.CheckEvery = 30*time.Second, time.Second
	if adjust != nil {
		adjust(&o)
	}
	mgr, err := operator.NewManager(te.Config, o, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &operatorProc{port: port, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- mgr.Start(ctx) }()
	return p
}

func (p *operatorProc) stop() {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
	}
}

// installWebhookConfigs registers the generated webhook configurations
// under the names the operator manages, pointing at a local URL and with no
// caBundle: the operator must provide it.
func installWebhookConfigs(t *testing.T, c client.Client, port int) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	url := func(cc *admissionregistrationv1.WebhookClientConfig) {
		u := fmt.Sprintf("https://localhost:%d%s", port, *cc.Service.Path)
		cc.URL, cc.Service = &u, nil
	}
	for {
		var probe struct{ Kind string }
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		b, _ := jsonMarshal(doc)
		_ = jsonUnmarshal(b, &probe)
		switch probe.Kind {
		case "MutatingWebhookConfiguration":
			var m admissionregistrationv1.MutatingWebhookConfiguration
			mustJSON(t, b, &m)
			m.Name = mutating
			for i := range m.Webhooks {
				url(&m.Webhooks[i].ClientConfig)
			}
			if err := c.Create(context.Background(), &m); err != nil {
				t.Fatal(err)
			}
		case "ValidatingWebhookConfiguration":
			var v admissionregistrationv1.ValidatingWebhookConfiguration
			mustJSON(t, b, &v)
			v.Name = validating
			for i := range v.Webhooks {
				url(&v.Webhooks[i].ClientConfig)
			}
			if err := c.Create(context.Background(), &v); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func caBundle(t *testing.T, c client.Client) []byte {
	t.Helper()
	var m admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(context.Background(), types.NamespacedName{Name: mutating}, &m); err != nil {
		t.Fatal(err)
	}
	for _, w := range m.Webhooks {
		if w.Name == "mpod.kb.io" {
			return w.ClientConfig.CABundle
		}
	}
	t.Fatal("pod webhook missing")
	return nil
}

// servingCert dials a replica and returns the certificate it serves,
// verified against the given CA bundle for the name the API server uses.
func servingCert(port int, bundle []byte) (*x509.Certificate, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return nil, fmt.Errorf("caBundle holds no certificate")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = cond(); err == nil {
			return
		}
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

// podInjected creates a pod asking for injection and reports an error
// unless the API server got it instrumented through the webhook.
func podInjected(c client.Client, ns string) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "p-", Namespace: ns,
		Annotations: map[string]string{"instrumentation.opentelemetry.io/inject-python": "true"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	if err := c.Create(context.Background(), pod); err != nil {
		return err
	}
	if len(pod.Spec.InitContainers) == 0 {
		return fmt.Errorf("pod %s admitted without instrumentation (webhook unreachable or untrusted)", pod.Name)
	}
	return nil
}

func TestSelfManagedCertificates(t *testing.T) {
	// Two replicas renew the same Secret and caBundles every few seconds
	// here; losing such a race is settled, never logged as an error.
	// The webhook server's certificate watcher reads each rotated pair
	// whole, never a new certificate with the old key.
	logs, log := captureLogs(t)
	defer func() {
		for _, l := range logs.errors() {
			if strings.Contains(fmt.Sprint(l.err), "the object has been modified") || strings.Contains(l.name, "certwatcher") {
				t.Errorf("rotation logged an error: %s", l)
			}
		}
	}()
	bin, err := testenv.BinaryDir()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := testenv.RepoRoot()
	te := &envtest.Environment{BinaryAssetsDirectory: bin, CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	if _, err := te.Start(); err != nil {
		t.Fatal(err)
	}
	defer te.Stop()
	c, err := client.New(te.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{operatorNS, "app"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	installWebhookConfigs(t, c, port)

	// No cert-manager, no Secret: the operator creates and injects it all.
	first := startOperatorWith(t, te, port, log, nil)
	eventually(t, 30*time.Second, "caBundle injected and the webhook serving a certificate it verifies", func() error {
		_, err := servingCert(port, caBundle(t, c))
		return err
	})
	inst := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Name: "python", Namespace: "app"}}
	eventually(t, 30*time.Second, "Instrumentation accepted through the validating and defaulting webhooks", func() error {
		return c.Create(ctx, inst.DeepCopy())
	})
	var stored v1alpha1.Instrumentation
	if err := c.Get(ctx, types.NamespacedName{Namespace: "app", Name: "python"}, &stored); err != nil || stored.Spec.Python.Image == "" {
		t.Fatalf("Instrumentation not defaulted by the webhook: %v %q", err, stored.Spec.Python.Image)
	}
	eventually(t, 30*time.Second, "pod injected", func() error { return podInjected(c, "app") })

	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: operatorNS, Name: "autotel-webhook-cert"}, &secret); err != nil {
		t.Fatal(err)
	}
	firstCert := string(secret.Data["tls.crt"])
	firstCA := string(caBundle(t, c))
	if firstCert == "" || !strings.Contains(firstCA, "BEGIN CERTIFICATE") {
		t.Fatalf("secret or caBundle empty")
	}

	// A second replica shares the Secret and serves a certificate the same
	// caBundle verifies.
	secondPort := freePort(t)
	second := startOperatorWith(t, te, secondPort, log, nil)
	eventually(t, 30*time.Second, "second replica serving a trusted certificate", func() error {
		_, err := servingCert(secondPort, caBundle(t, c))
		return err
	})

	// Rotation: the server certificate is renewed before it expires, and
	// pods keep being admitted and injected through it.
	eventually(t, 40*time.Second, "server certificate rotated", func() error {
		if err := c.Get(ctx, types.NamespacedName{Namespace: operatorNS, Name: "autotel-webhook-cert"}, &secret); err != nil {
			return err
		}
		if string(secret.Data["tls.crt"]) == firstCert {
			return fmt.Errorf("tls.crt unchanged")
		}
		return nil
	})
	eventually(t, 30*time.Second, "both replicas serving the rotated certificate", func() error {
		for _, p := range []int{port, secondPort} {
			cert, err := servingCert(p, caBundle(t, c))
			if err != nil {
				return err
			}
			if time.Until(cert.NotAfter) < 0 {
				return fmt.Errorf("replica on %d serves an expired certificate", p)
			}
		}
		return podInjected(c, "app")
	})

	// A restart reuses what is in the Secret while it is valid.
	first.stop()
	bundleBefore := string(caBundle(t, c))
	restarted := startOperatorWith(t, te, port, log, nil)
	defer restarted.stop()
	defer second.stop()
	eventually(t, 30*time.Second, "restarted replica serving", func() error {
		_, err := servingCert(port, caBundle(t, c))
		return err
	})
	if err := podInjected(c, "app"); err != nil {
		t.Fatal(err)
	}
	if got := string(caBundle(t, c)); got != bundleBefore && got == firstCA {
		t.Errorf("unexpected caBundle change on restart")
	}

	// The CA itself is renewed before it expires, and the caBundle follows.
	eventually(t, 90*time.Second, "CA rotated and re-injected", func() error {
		if string(caBundle(t, c)) == firstCA {
			return fmt.Errorf("caBundle still holds the first CA")
		}
		return podInjected(c, "app")
	})
}
