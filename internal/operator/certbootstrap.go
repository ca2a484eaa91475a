package operator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// The Secret's keys, as the rotator reads and writes them.
const (
	caCertKey = "ca.crt"
	caKeyKey  = "ca.key"
)

// writeAttempts bounds how often a write that lost a race with another
// replica is retried against the newer object.
const writeAttempts = 5

// bootstrapSecret makes sure the Secret holds a valid CA and serving
// certificate before the manager starts. Left to the rotator, a fresh
// install has every replica's rotator (and, within one replica, its start-up
// refresh and its Secret reconciler) fill the empty Secret at once: all but
// one write fails with a conflict, and the reconciler reads the Secret before
// it holds a CA, each logged as an error although nothing is wrong. Here the
// first replica's write wins by resourceVersion, the others re-read and find
// valid certificates, and the rotator starts on a well-formed Secret.
func bootstrapSecret(ctx context.Context, cfg *rest.Config, cr *rotator.CertRotator, log logr.Logger) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	key := cr.SecretKey
	for range writeAttempts {
		var s corev1.Secret
		err := c.Get(ctx, key, &s)
		if apierrors.IsNotFound(err) {
			s = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "autotel-operator"}}, Type: corev1.SecretTypeOpaque}
			if err := fillSecret(cr, &s, nil); err != nil {
				return err
			}
			err = c.Create(ctx, &s)
			if err == nil {
				log.Info("created the webhook certificate Secret with a new CA and serving certificate", "secret", key)
				return nil
			}
			if apierrors.IsAlreadyExists(err) {
				log.V(1).Info("another replica created the webhook certificate Secret first; reading it", "secret", key)
				continue
			}
			return fmt.Errorf("creating webhook certificate secret %s: %w", key, err)
		}
		if err != nil {
			return fmt.Errorf("reading webhook certificate secret %s (the operator needs get, create and update on it): %w", key, err)
		}

		st := inspectCerts(cr, s.Data, time.Now())
		switch {
		case st.valid:
			return nil
		case st.malformed != nil:
			// Someone wrote something unusable: worth an error, though
			// replacing it keeps the webhooks working.
			log.Error(st.malformed, "the webhook certificate Secret holds a malformed certificate or key; replacing it with a new CA and certificate", "secret", key)
		case st.empty:
			log.Info("filling the empty webhook certificate Secret", "secret", key)
		default:
			log.Info("renewing webhook certificates that expire soon or do not name the webhook", "secret", key)
		}
		if err := fillSecret(cr, &s, st.ca); err != nil {
			return err
		}
		err = c.Update(ctx, &s)
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("writing webhook certificates into secret %s: %w", key, err)
		}
		log.V(1).Info("the webhook certificate Secret changed meanwhile (another replica); reading it again", "secret", key)
	}
	return fmt.Errorf("webhook certificate secret %s kept changing while being filled (%d attempts); is another program writing it?", key, writeAttempts)
}

// certState is what a Secret's certificates are good for.
type certState struct {
	valid     bool                      // CA and serving certificate usable past the lookahead
	empty     bool                      // none of the keys set: a fresh install
	malformed error                     // something set that does not parse
	ca        *rotator.KeyPairArtifacts // the CA, when it is still valid and can be reused
}

// inspectCerts judges a Secret with the rotator's own validity rules
// (rotator.ValidCert at now + lookahead), so the rotator agrees afterwards
// and does not renew again.
func inspectCerts(cr *rotator.CertRotator, data map[string][]byte, now time.Time) certState {
	keys := []string{caCertKey, caKeyKey, cr.CertName, cr.KeyName}
	empty := true
	for _, k := range keys {
		if len(data[k]) > 0 {
			empty = false
		}
	}
	if empty {
		return certState{empty: true}
	}
	for _, pair := range [][2]string{{caCertKey, caKeyKey}, {cr.CertName, cr.KeyName}} {
		if _, err := tls.X509KeyPair(data[pair[0]], data[pair[1]]); err != nil {
			return certState{malformed: fmt.Errorf("%s and %s: %w", pair[0], pair[1], err)}
		}
	}
	at := now.Add(cr.LookaheadInterval)
	st := certState{}
	if ok, _ := rotator.ValidCert(data[caCertKey], data[caCertKey], data[caKeyKey], cr.CAName, nil, at); ok {
		// Reused when only the serving certificate needs renewing, so
		// replicas still serving the old one stay trusted. A key the
		// rotator could not sign with (not PKCS#1) means a new CA.
		st.ca, _ = caArtifacts(data[caCertKey], data[caKeyKey])
	}
	if st.ca != nil {
		ok, _ := rotator.ValidCert(data[caCertKey], data[cr.CertName], data[cr.KeyName], cr.DNSName, cr.ExtKeyUsages, at)
		st.valid = ok
	}
	return st
}

func caArtifacts(certPEM, keyPEM []byte) (*rotator.KeyPairArtifacts, error) {
	certBlock, _ := pem.Decode(certPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if certBlock == nil || keyBlock == nil {
		return nil, errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS1PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, err
	}
	return &rotator.KeyPairArtifacts{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// fillSecret writes a serving certificate signed by ca (a new CA when
// nil) into s, with the rotator's generators and lifetimes.
func fillSecret(cr *rotator.CertRotator, s *corev1.Secret, ca *rotator.KeyPairArtifacts) error {
	now := time.Now()
	// Back-dated as the rotator does, for clocks slightly behind.
	begin := now.Add(-time.Hour)
	if ca == nil {
		var err error
		if ca, err = cr.CreateCACert(begin, now.Add(cr.CaCertDuration)); err != nil {
			return fmt.Errorf("creating the webhook CA: %w", err)
		}
	}
	cert, key, err := cr.CreateCertPEM(ca, begin, now.Add(cr.ServerCertDuration))
	if err != nil {
		return fmt.Errorf("creating the webhook serving certificate: %w", err)
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[caCertKey], s.Data[caKeyKey] = ca.CertPEM, ca.KeyPEM
	s.Data[cr.CertName], s.Data[cr.KeyName] = cert, key
	return nil
}

// rotatorManager hands the rotator conflictAwareClient as the manager's
// client: AddRotator takes its writer from GetClient and offers no option.
type rotatorManager struct {
	manager.Manager
	client client.Client
}

func (m rotatorManager) GetClient() client.Client { return m.client }

// conflictAwareClient is the rotator's writer. Replicas renew the same
// Secret and inject the same caBundle, reading from caches that lag each
// other, so an update may lose a race. The rotator logs any failed update as
// an error; this settles the races that are not errors:
//   - the Secret: another replica already wrote valid certificates, which
//     are kept (its write triggers every replica's reconcile);
//   - a webhook configuration: the update is redone on the newer object
//     when the caBundle is still the Secret's current CA.
//
// Anything else, and a conflict that is not settled, is returned as is.
type conflictAwareClient struct {
	client.Client
	latest client.Reader // the API server, not a cache
	cr     *rotator.CertRotator
	log    logr.Logger
}

func (c *conflictAwareClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	err := c.Client.Update(ctx, obj, opts...)
	if !apierrors.IsConflict(err) {
		return err
	}
	switch o := obj.(type) {
	case *corev1.Secret:
		if client.ObjectKeyFromObject(o) == c.cr.SecretKey && c.secretCurrent(ctx) {
			c.log.V(1).Info("another replica renewed the webhook certificates first; keeping theirs", "secret", c.cr.SecretKey)
			return nil
		}
	case *unstructured.Unstructured:
		if k := o.GetKind(); k == "MutatingWebhookConfiguration" || k == "ValidatingWebhookConfiguration" {
			return c.injectAgain(ctx, o, opts, err)
		}
	}
	return err
}

// secretCurrent reports whether the stored Secret holds valid certificates.
func (c *conflictAwareClient) secretCurrent(ctx context.Context) bool {
	var s corev1.Secret
	if err := c.latest.Get(ctx, c.cr.SecretKey, &s); err != nil {
		return false
	}
	return inspectCerts(c.cr, s.Data, time.Now()).valid
}

// injectAgain puts want's caBundle into the newest webhook configuration.
func (c *conflictAwareClient) injectAgain(ctx context.Context, want *unstructured.Unstructured, opts []client.UpdateOption, conflict error) error {
	bundle, ok := caBundleOf(want)
	if !ok {
		return conflict
	}
	var s corev1.Secret
	if err := c.latest.Get(ctx, c.cr.SecretKey, &s); err != nil {
		return conflict
	}
	log := c.log.WithValues("kind", want.GetKind(), "name", want.GetName())
	if base64.StdEncoding.EncodeToString(s.Data[caCertKey]) != bundle {
		// Our view of the Secret is stale; the newer Secret's event
		// brings the right CA.
		log.V(1).Info("skipping caBundle injection from an outdated view of the certificate Secret")
		return nil
	}
	err := conflict
	for range writeAttempts {
		latest := &unstructured.Unstructured{}
		latest.SetGroupVersionKind(want.GroupVersionKind())
		if gerr := c.latest.Get(ctx, client.ObjectKeyFromObject(want), latest); gerr != nil {
			return fmt.Errorf("reading %s %s after an update conflict: %w", want.GetKind(), want.GetName(), gerr)
		}
		changed, serr := setCABundle(latest, bundle)
		if serr != nil {
			return serr
		}
		if !changed {
			log.V(1).Info("caBundle already injected by another replica")
			return nil
		}
		if err = c.Client.Update(ctx, latest, opts...); !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}

func caBundleOf(wh *unstructured.Unstructured) (string, bool) {
	hooks, _, _ := unstructured.NestedSlice(wh.Object, "webhooks")
	if len(hooks) == 0 {
		return "", false
	}
	hook, ok := hooks[0].(map[string]any)
	if !ok {
		return "", false
	}
	b, ok, _ := unstructured.NestedString(hook, "clientConfig", "caBundle")
	return b, ok && b != ""
}

// setCABundle sets every webhook's caBundle, as the rotator does.
func setCABundle(wh *unstructured.Unstructured, bundle string) (bool, error) {
	hooks, _, err := unstructured.NestedSlice(wh.Object, "webhooks")
	if err != nil {
		return false, fmt.Errorf("reading webhooks of %s %s: %w", wh.GetKind(), wh.GetName(), err)
	}
	changed := false
	for i, h := range hooks {
		hook, ok := h.(map[string]any)
		if !ok {
			return false, fmt.Errorf("webhook %d of %s %s is not an object", i, wh.GetKind(), wh.GetName())
		}
		if old, _, _ := unstructured.NestedString(hook, "clientConfig", "caBundle"); old == bundle {
			continue
		}
		if err := unstructured.SetNestedField(hook, bundle, "clientConfig", "caBundle"); err != nil {
			return false, err
		}
		hooks[i], changed = hook, true
	}
	if !changed {
		return false, nil
	}
	return true, unstructured.SetNestedSlice(wh.Object, hooks, "webhooks")
}
