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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch;update;patch

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
// and injected into the webhook configurations (and, with the collector
// active, into the OpenTelemetryCollector CRD's conversion webhook).
func setupCerts(mgr manager.Manager, o Options, collector bool, log logr.Logger) (<-chan struct{}, error) {
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
	if collector {
		// The API server calls /convert to serve v1alpha1 collectors; the
		// CRD names the webhook Service (the chart and deploy/ add
		// spec.conversion, which controller-gen cannot generate) and the
		// rotator fills its caBundle like the webhook configurations'.
		ok, err := hasConversionWebhook(mgr.GetAPIReader(), CollectorCRDName)
		if err != nil {
			return nil, err
		}
		if ok {
			webhooks = append(webhooks, rotator.WebhookInfo{Name: CollectorCRDName, Type: rotator.CRDConversion})
		} else {
			// The rotator would fail on every pass and never report ready.
			log.Info("the OpenTelemetryCollector CRD has no conversion webhook: v1alpha1 collectors cannot be served (install the CRD from the chart or deploy/)", "crd", CollectorCRDName)
		}
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

// hasConversionWebhook tells whether the CRD converts through a webhook
// (spec.conversion.webhook.clientConfig), where the rotator can put the CA.
func hasConversionWebhook(r client.Reader, name string) (bool, error) {
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := r.Get(context.Background(), types.NamespacedName{Name: name}, crd); err != nil {
		return false, fmt.Errorf("reading CustomResourceDefinition %s for its conversion webhook: %w", name, err)
	}
	_, found, err := unstructured.NestedMap(crd.Object, "spec", "conversion", "webhook", "clientConfig")
	return found && err == nil, nil
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
		if err := s.reader.Get(ctx, s.key, &secret); err == nil && len(secret.Data["tls.crt"]) > 0 && len(secret.Data["tls.key"]) > 0 {
			files := map[string][]byte{"tls.crt": secret.Data["tls.crt"], "tls.key": secret.Data["tls.key"]}
			if ca := secret.Data["ca.crt"]; len(ca) > 0 {
				files["ca.crt"] = ca
			}
			if err := writeFilesAtomically(s.dir, files); err != nil {
				s.log.Error(err, "writing the webhook certificate files", "dir", s.dir)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// dataLink names the symlink to the current generation of files.
const dataLink = "..data"

// writeFilesAtomically replaces all files at once, the way the kubelet
// updates a mounted Secret: each name is a symlink into ..data, itself a
// symlink to a folder holding one generation, swapped by a rename. Renaming
// the files one by one would let the webhook server's certificate watcher
// read a new tls.crt with the old tls.key and log an error on every
// rotation.
func writeFilesAtomically(dir string, files map[string][]byte) error {
	same := true
	for name, data := range files {
		if old, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(old, data) {
			same = false
			break
		}
	}
	if same {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	gen, err := os.MkdirTemp(dir, dataLink+"-")
	if err != nil {
		return fmt.Errorf("creating a folder for the new files: %w", err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(gen, name), data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	previous, _ := os.Readlink(filepath.Join(dir, dataLink))
	if err := replaceSymlink(filepath.Base(gen), filepath.Join(dir, dataLink)); err != nil {
		return err
	}
	for name := range files {
		target := filepath.Join(dataLink, name)
		if t, err := os.Readlink(filepath.Join(dir, name)); err == nil && t == target {
			continue
		}
		// A regular file from an earlier version becomes the symlink.
		if err := replaceSymlink(target, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	if previous != "" && previous != filepath.Base(gen) {
		// Removing the old generation is also what tells a watcher of the
		// old files that they changed.
		if err := os.RemoveAll(filepath.Join(dir, previous)); err != nil {
			return fmt.Errorf("removing the previous certificate files: %w", err)
		}
	}
	return nil
}

// replaceSymlink points link at target with a rename, so readers never see
// it missing.
func replaceSymlink(target, link string) error {
	tmp := link + ".tmp"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing %s: %w", tmp, err)
	}
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("creating symlink %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("replacing %s: %w", link, err)
	}
	return nil
}
