//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/testkit/wait"
)

// startOperator runs autotel's operator in this process against the
// cluster, the way the integration tests run it against envtest: the CRD
// and the webhook configurations from config/ are installed, with each
// webhook's service reference rewritten to https://127.0.0.1:<port> and a CA
// generated for the run (envtest's WebhookInstallOptions does both). There is
// no chart yet, no registry to push an operator image to, and no certificate
// management without cert-manager; running on the host also keeps the
// operator's log in the test output.
func startOperator(t *testing.T, c *cluster) {
	t.Helper()
	// Every injection decision is logged with the pod's name: worth seeing.
	log := zap.New(zap.WriteTo(os.Stderr))
	ctrllog.SetLogger(log)
	te := &envtest.Environment{
		UseExistingCluster:    ptr.To(true),
		Config:                c.config,
		CRDDirectoryPaths:     []string{filepath.Join(c.root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths:            []string{filepath.Join(c.root, "config", "webhook")},
			LocalServingHost: "127.0.0.1",
		},
	}
	if _, err := te.Start(); err != nil {
		t.Fatalf("installing the CRD and webhook configurations: %v", err)
	}
	o := operator.DefaultOptions()
	o.MetricsAddr, o.ProbeAddr = "0", "0"
	o.WebhookHost = te.WebhookInstallOptions.LocalServingHost
	o.WebhookPort = te.WebhookInstallOptions.LocalServingPort
	o.CertDir = te.WebhookInstallOptions.LocalServingCertDir
	// envtest's CA signed the serving certificate and sits in the
	// configurations' caBundle; the operator's own rotator would replace both.
	o.Certs.Mode = "external"
	o.Rollback = e2eRollbackThresholds // rollback_test.go: the kubelet's back-off, not minutes
	mgr, err := operator.NewManager(c.config, o, log)
	if err != nil {
		_ = te.Stop()
		t.Fatalf("creating the operator: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	// Stops before the cluster goes down: cleanups run last-registered first.
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("operator stopped with an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("operator did not stop within 30s")
		}
		if err := te.Stop(); err != nil {
			t.Errorf("removing the webhook configurations: %v", err)
		}
	})
	addr := net.JoinHostPort(o.WebhookHost, fmt.Sprint(o.WebhookPort))
	wait.For(t, 30*time.Second, "the operator webhook server at "+addr+" to serve TLS", func() (bool, string) { return wait.TLSServing(addr) })
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("operator cache did not sync")
	}
}
