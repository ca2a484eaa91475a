// Package testenv brings up a real kube-apiserver and etcd (built from
// source by hack/kube-binaries.sh) with autotel's CRDs and webhooks
// installed, for integration tests, benchmarks and local runs.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/testkit/repo"
	"github.com/autotel/autotel/testkit/wait"
)

// RepoRoot finds the repository from the working directory upwards.
func RepoRoot() (string, error) { return repo.Root() }

// BinaryDir returns the folder holding kube-apiserver, etcd and kubectl:
// KUBEBUILDER_ASSETS when set, else what hack/kube-binaries.sh builds (or
// has cached) — so a test never silently lacks its control plane.
func BinaryDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", filepath.Join(root, "hack", "kube-binaries.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the control plane binaries with hack/kube-binaries.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Env is a running control plane with the operator's webhooks served.
type Env struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
	// CachedClient reads through the operator's cache: what the webhook sees.
	CachedClient client.Client
	BinaryDir    string
	cancel       context.CancelFunc
	managerErr   chan error
}

// Start brings up etcd and kube-apiserver, installs the CRDs and webhook
// configurations, and starts the operator (webhooks on a local port with
// certificates envtest generates). opts may adjust operator options.
func Start(log logr.Logger, opts func(*operator.Options)) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	bin, err := BinaryDir()
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// The operator's scheme tells envtest which CRDs convert through a
		// webhook (OpenTelemetryCollector v1alpha1 <-> v1beta1) and to point
		// their conversion at the operator's webhook server.
		CRDInstallOptions: envtest.CRDInstallOptions{Scheme: operator.Scheme()},
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join(root, "config", "webhook")},
		},
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := te.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", bin, err)
	}
	env := &Env{Env: te, Config: cfg, BinaryDir: bin}

	o := operator.DefaultOptions()
	o.MetricsAddr = "0"
	o.ProbeAddr = "0"
	o.WebhookHost = te.WebhookInstallOptions.LocalServingHost
	o.WebhookPort = te.WebhookInstallOptions.LocalServingPort
	o.CertDir = te.WebhookInstallOptions.LocalServingCertDir
	o.Certs.Mode = "external" // envtest issued the serving certificate
	// The configuration envtest installs from config/webhook, whose pod
	// webhook gets the operator's matchConditions.
	o.Certs.MutatingName = "mutating-webhook-configuration"
	if opts != nil {
		opts(&o)
	}
	mgr, err := operator.NewManager(cfg, o, log)
	if err != nil {
		_ = te.Stop()
		return nil, err
	}
	env.CachedClient = mgr.GetClient()
	ctx, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	env.managerErr = make(chan error, 1)
	go func() { env.managerErr <- mgr.Start(ctx) }()

	if err := waitForTLS(net.JoinHostPort(o.WebhookHost, fmt.Sprint(o.WebhookPort)), 30*time.Second); err != nil {
		env.Stop()
		return nil, err
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		env.Stop()
		return nil, errors.New("operator cache did not sync")
	}
	// The manager's client reads through the cache; tests want to read
	// what the API server stored.
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		env.Stop()
		return nil, fmt.Errorf("creating client: %w", err)
	}
	env.Client = direct
	return env, nil
}

func waitForTLS(addr string, timeout time.Duration) error {
	return wait.Err(timeout, "the webhook server at "+addr+" to serve TLS", func() (bool, string) { return wait.TLSServing(addr) })
}

// Stop ends the operator, then the control plane processes.
func (e *Env) Stop() {
	if e.cancel != nil {
		e.cancel()
		select {
		case err := <-e.managerErr:
			// A manager stopped by its context returns nil; anything else
			// is worth seeing when a test misbehaves.
			if err != nil {
				fmt.Fprintf(os.Stderr, "testenv: the operator's manager stopped with an error: %v\n", err)
			}
		case <-time.After(30 * time.Second):
		}
	}
	_ = e.Env.Stop()
}

// WriteKubeconfig writes an admin kubeconfig for the control plane, for
// kubectl and other clients.
func (e *Env) WriteKubeconfig(path string) error {
	cfg := e.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	kc.CurrentContext = "local"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}
