package operator

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;list;watch;update;patch

// CertOptions configures the operator's own webhook certificates.
//
// Upstream needs cert-manager (or Helm-generated certificates that never
// rotate). autotel keeps a CA and serving certificate in a Secret and the
// caBundle of its webhook configurations current, using the rotator that
// Gatekeeper and Odigos use: replicas share the Secret, and a restart
// reuses valid certificates. "external" serves whatever certificate is in
// the cert dir (cert-manager, or your own).
type CertOptions struct {
	Mode           string // "self" or "external"
	Secret         types.NamespacedName
	DNSName        string   // the webhook Service's DNS name
	ExtraDNSNames  []string // e.g. localhost for an operator outside the cluster
	MutatingName   string
	ValidatingName string
	// WriteFiles copies the Secret into the cert dir. In a pod the Secret
	// is mounted there instead; outside one (make run, tests) nothing would.
	WriteFiles bool
	// Durations; zero keeps the rotator's defaults (CA 10 years, server
	// 10 years, renewed 90 days ahead). Tests shorten them.
	CADuration, ServerDuration, Lookahead, CheckEvery time.Duration
	// ControllerName must be unique per process (tests run replicas in one).
	ControllerName string
}

const certModeSelf = "self"

// setupCerts adds the rotator; ready closes when certificates are on disk
// and injected into the webhook configurations.
func setupCerts(mgr manager.Manager, o Options, log logr.Logger) (<-chan struct{}, error) {
	ready := make(chan struct{})
	if o.Certs.Mode != certModeSelf {
		close(ready)
		return ready, nil
	}
	var webhooks []rotator.WebhookInfo
	if o.Certs.MutatingName != "" {
		webhooks = append(webhooks, rotator.WebhookInfo{Name: o.Certs.MutatingName, Type: rotator.Mutating})
	}
	if o.Certs.ValidatingName != "" {
		webhooks = append(webhooks, rotator.WebhookInfo{Name: o.Certs.ValidatingName, Type: rotator.Validating})
	}
	rotatorReady := make(chan struct{})
	cr := &rotator.CertRotator{
		SecretKey:              o.Certs.Secret,
		CertDir:                o.CertDir,
		CAName:                 "autotel-webhook-ca",
		CAOrganization:         "autotel",
		DNSName:                o.Certs.DNSName,
		ExtraDNSNames:          o.Certs.ExtraDNSNames,
		IsReady:                rotatorReady,
		Webhooks:               webhooks,
		FieldOwner:             "autotel-operator",
		CaCertDuration:         o.Certs.CADuration,
		ServerCertDuration:     o.Certs.ServerDuration,
		LookaheadInterval:      o.Certs.Lookahead,
		RotationCheckFrequency: o.Certs.CheckEvery,
		// Every replica serves webhooks, so every replica must keep its
		// certificates current, leader or not.
		RequireLeaderElection: false,
		ControllerName:        o.Certs.ControllerName,
	}
	// The rotator writes with a client that settles update conflicts with
	// other replicas instead of reporting them as errors.
	writer := &conflictAwareClient{Client: mgr.GetClient(), latest: mgr.GetAPIReader(), cr: cr, log: log}
	if err := rotator.AddRotator(rotatorManager{Manager: mgr, client: writer}, cr); err != nil {
		return nil, fmt.Errorf("adding certificate rotator: %w", err)
	}
	// After AddRotator, which fills cr's defaults the certificates use.
	if err := bootstrapSecret(context.Background(), mgr.GetConfig(), cr, log); err != nil {
		return nil, err
	}
	if o.Certs.WriteFiles {
		if err := mgr.Add(&secretFiles{reader: mgr.GetAPIReader(), key: o.Certs.Secret, dir: o.CertDir, log: log.WithName("cert-files")}); err != nil {
			return nil, err
		}
	}
	go func() {
		<-rotatorReady
		close(ready)
	}()
	return ready, nil
}

// secretFiles mirrors the certificate Secret into the cert dir, for an
// operator that runs outside a pod. The webhook server watches the files
// and picks up rotated certificates without a restart.
type secretFiles struct {
	reader client.Reader
	key    types.NamespacedName
	dir    string
	log    logr.Logger
}

func (s *secretFiles) NeedLeaderElection() bool { return false }

func (s *secretFiles) Start(ctx context.Context) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		var secret corev1.Secret
		if err := s.reader.Get(ctx, s.key, &secret); err == nil {
			for _, name := range []string{"tls.crt", "tls.key", "ca.crt"} {
				if err := writeIfChanged(filepath.Join(s.dir, name), secret.Data[name]); err != nil {
					s.log.Error(err, "writing certificate file", "file", name)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// writeIfChanged replaces a file atomically, so the watcher never reads
// half a certificate.
func writeIfChanged(path string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
