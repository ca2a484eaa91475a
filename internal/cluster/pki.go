// Package cluster holds the logic behind hack/cluster.sh and hack/demo.sh
// that does not belong in bash: the cluster's certificates and kubeconfigs,
// a supervisor for daemons started with a log file and a pid file, and the
// decoding of the log store's JSON answers. cmd/autotel-cluster exposes it to
// the scripts.
package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// certValidity matches what the openssl version gave (825 days, the longest
// validity macOS and browsers accept for a leaf); a local cluster is rebuilt
// long before.
const certValidity = 825 * 24 * time.Hour

// PKIOptions names what the certificates must cover.
type PKIOptions struct {
	// Dir receives ca.crt/key, one .crt/.key pair per component, and the
	// service-account signing pair sa.key/sa.pub.
	Dir string
	// KubeconfigDir receives admin, controller-manager, scheduler and
	// kubelet .kubeconfig files pointing at Server.
	KubeconfigDir string
	// NodeName is the kubelet's node; its client certificate must say
	// system:node:<NodeName> for the Node authorizer.
	NodeName string
	// ServiceIP is the first address of the Service range: in-cluster
	// clients reach the API server's certificate by it.
	ServiceIP net.IP
	// Server is the API server's URL, e.g. https://127.0.0.1:6443.
	Server string
}

type leaf struct {
	name string
	cfg  certutil.Config
}

// WritePKI makes a new CA and every certificate the cluster's components use,
// and the kubeconfigs that carry them. Existing files are overwritten: every
// bring-up starts from nothing.
func WritePKI(o PKIOptions) error {
	if o.Dir == "" || o.KubeconfigDir == "" || o.NodeName == "" || o.ServiceIP == nil || o.Server == "" {
		return fmt.Errorf("pki: --dir, --kubeconfig-dir, --node-name, --service-ip and --server are all required")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("pki: creating %s: %w", o.Dir, err)
	}
	// MkdirAll leaves an existing folder's mode alone; keys must not be
	// listable by others.
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	caKey, err := newKey()
	if err != nil {
		return err
	}
	ca, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: "autotel-cluster-ca"}, caKey)
	if err != nil {
		return fmt.Errorf("pki: creating the CA: %w", err)
	}
	if err := writePair(o.Dir, "ca", ca, caKey); err != nil {
		return err
	}
	loop := net.IPv4(127, 0, 0, 1)
	server := x509.ExtKeyUsageServerAuth
	client := x509.ExtKeyUsageClientAuth
	leaves := []leaf{
		{"apiserver", certutil.Config{CommonName: "kube-apiserver", Usages: []x509.ExtKeyUsage{server}, AltNames: certutil.AltNames{
			IPs:      []net.IP{loop, o.ServiceIP},
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		}}},
		{"apiserver-kubelet-client", certutil.Config{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}, Usages: []x509.ExtKeyUsage{client}}},
		{"admin", certutil.Config{CommonName: "autotel-admin", Organization: []string{"system:masters"}, Usages: []x509.ExtKeyUsage{client}}},
		{"controller-manager", certutil.Config{CommonName: "system:kube-controller-manager", Usages: []x509.ExtKeyUsage{client}}},
		{"scheduler", certutil.Config{CommonName: "system:kube-scheduler", Usages: []x509.ExtKeyUsage{client}}},
		{"kubelet-client", certutil.Config{CommonName: "system:node:" + o.NodeName, Organization: []string{"system:nodes"}, Usages: []x509.ExtKeyUsage{client}}},
		{"kubelet-serving", certutil.Config{CommonName: o.NodeName, Usages: []x509.ExtKeyUsage{server}, AltNames: certutil.AltNames{
			IPs:      []net.IP{loop},
			DNSNames: []string{o.NodeName, "localhost"},
		}}},
	}
	for _, l := range leaves {
		key, err := newKey()
		if err != nil {
			return err
		}
		c, err := signLeaf(l.cfg, key, ca, caKey)
		if err != nil {
			return fmt.Errorf("pki: signing %s: %w", l.name, err)
		}
		if err := writePair(o.Dir, l.name, c, key); err != nil {
			return err
		}
	}
	// The service-account token signing pair (ES256).
	saKey, err := newKey()
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(o.Dir, "sa.key"), saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return fmt.Errorf("pki: encoding sa.pub: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: keyutil.PublicKeyBlockType, Bytes: pub}), 0o644); err != nil {
		return fmt.Errorf("pki: writing sa.pub: %w", err)
	}
	for file, user := range map[string]string{
		"admin.kubeconfig":              "admin",
		"controller-manager.kubeconfig": "controller-manager",
		"scheduler.kubeconfig":          "scheduler",
		"kubelet.kubeconfig":            "kubelet-client",
	} {
		if err := WriteKubeconfig(filepath.Join(o.KubeconfigDir, file), o.Server, o.Dir, user); err != nil {
			return err
		}
	}
	return nil
}

// WriteKubeconfig writes a kubeconfig whose one context uses the client
// certificate <pkiDir>/<user>.crt against server, trusting <pkiDir>/ca.crt.
// Files are referenced, not embedded, so a look at the kubeconfig shows
// which certificate a component uses.
func WriteKubeconfig(path, server, pkiDir, user string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["autotel"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: filepath.Join(pkiDir, "ca.crt")}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{
		ClientCertificate: filepath.Join(pkiDir, user+".crt"),
		ClientKey:         filepath.Join(pkiDir, user+".key"),
	}
	cfg.Contexts["autotel"] = &clientcmdapi.Context{Cluster: "autotel", AuthInfo: user}
	cfg.CurrentContext = "autotel"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating a P-256 key: %w", err)
	}
	return k, nil
}

// signLeaf issues a non-CA certificate for key, signed by the CA. client-go
// only makes self-signed certificates, so the template is built here, from
// the same Config its CA function takes.
func signLeaf(cfg certutil.Config, key crypto.Signer, ca *x509.Certificate, caKey crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: cfg.CommonName, Organization: cfg.Organization},
		DNSNames:              cfg.AltNames.DNSNames,
		IPAddresses:           cfg.AltNames.IPs,
		NotBefore:             now.Add(-time.Minute).UTC(), // tolerate a little clock skew between processes
		NotAfter:              now.Add(certValidity).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           cfg.Usages,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func writePair(dir, name string, c *x509.Certificate, key crypto.PrivateKey) error {
	b, err := certutil.EncodeCertificates(c)
	if err != nil {
		return fmt.Errorf("pki: encoding %s.crt: %w", name, err)
	}
	if err := certutil.WriteCert(filepath.Join(dir, name+".crt"), b); err != nil {
		return fmt.Errorf("pki: writing %s.crt: %w", name, err)
	}
	return writeKey(filepath.Join(dir, name+".key"), key)
}

func writeKey(path string, key crypto.PrivateKey) error {
	b, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return fmt.Errorf("pki: encoding %s: %w", path, err)
	}
	if err := keyutil.WriteKey(path, b); err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	return nil
}
