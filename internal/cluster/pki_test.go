package cluster

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

func loadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := certutil.CertsFromFile(path)
	if err != nil || len(certs) != 1 {
		t.Fatalf("reading %s: %v (%d certificates)", path, err, len(certs))
	}
	return certs[0]
}

func TestWritePKI(t *testing.T) {
	dir := t.TempDir()
	pki, kc := filepath.Join(dir, "pki"), dir
	err := WritePKI(PKIOptions{Dir: pki, KubeconfigDir: kc, NodeName: "node-x", ServiceIP: net.ParseIP("127.100.0.1"), Server: "https://127.0.0.1:7443"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(pki); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("pki folder mode: %v %v, want 0700", fi.Mode(), err)
	}
	ca := loadCert(t, filepath.Join(pki, "ca.crt"))
	if !ca.IsCA || ca.Subject.CommonName != "autotel-cluster-ca" {
		t.Errorf("ca.crt: IsCA %v, CN %q", ca.IsCA, ca.Subject.CommonName)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	cases := []struct {
		name, cn, org string
		usage         x509.ExtKeyUsage
		dns           []string
		ips           []string
	}{
		{"apiserver", "kube-apiserver", "", x509.ExtKeyUsageServerAuth, []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, []string{"127.0.0.1", "127.100.0.1"}},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters", x509.ExtKeyUsageClientAuth, nil, nil},
		{"admin", "autotel-admin", "system:masters", x509.ExtKeyUsageClientAuth, nil, nil},
		{"controller-manager", "system:kube-controller-manager", "", x509.ExtKeyUsageClientAuth, nil, nil},
		{"scheduler", "system:kube-scheduler", "", x509.ExtKeyUsageClientAuth, nil, nil},
		{"kubelet-client", "system:node:node-x", "system:nodes", x509.ExtKeyUsageClientAuth, nil, nil},
		{"kubelet-serving", "node-x", "", x509.ExtKeyUsageServerAuth, []string{"node-x", "localhost"}, []string{"127.0.0.1"}},
	}
	for _, c := range cases {
		crt := loadCert(t, filepath.Join(pki, c.name+".crt"))
		if crt.IsCA || crt.Subject.CommonName != c.cn {
			t.Errorf("%s: IsCA %v, CN %q, want a leaf for %q", c.name, crt.IsCA, crt.Subject.CommonName, c.cn)
		}
		if org := crt.Subject.Organization; (c.org == "" && len(org) != 0) || (c.org != "" && !slices.Equal(org, []string{c.org})) {
			t.Errorf("%s: O=%v, want %q", c.name, org, c.org)
		}
		if _, err := crt.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			t.Errorf("%s does not verify against the CA for usage %v: %v", c.name, c.usage, err)
		}
		if !slices.Equal(crt.DNSNames, c.dns) {
			t.Errorf("%s: DNS SANs %v, want %v", c.name, crt.DNSNames, c.dns)
		}
		var ips []string
		for _, ip := range crt.IPAddresses {
			ips = append(ips, ip.String())
		}
		if !slices.Equal(ips, c.ips) {
			t.Errorf("%s: IP SANs %v, want %v", c.name, ips, c.ips)
		}
		// The key on disk must be the certificate's.
		if _, err := tls.LoadX509KeyPair(filepath.Join(pki, c.name+".crt"), filepath.Join(pki, c.name+".key")); err != nil {
			t.Errorf("%s.crt and %s.key do not match: %v", c.name, c.name, err)
		}
		if fi, err := os.Stat(filepath.Join(pki, c.name+".key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s.key mode %v (%v), want 0600", c.name, fi.Mode(), err)
		}
	}
	priv, err := keyutil.PrivateKeyFromFile(filepath.Join(pki, "sa.key"))
	if err != nil {
		t.Fatalf("sa.key: %v", err)
	}
	pubs, err := keyutil.PublicKeysFromFile(filepath.Join(pki, "sa.pub"))
	if err != nil || len(pubs) != 1 {
		t.Fatalf("sa.pub: %v (%d keys)", err, len(pubs))
	}
	if !priv.(interface{ Public() crypto.PublicKey }).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pubs[0]) {
		t.Error("sa.pub is not the public half of sa.key")
	}
}

// A kubeconfig written here is accepted by client-go and makes a working
// mutual-TLS client against a server using the apiserver certificate.
func TestKubeconfigTalksToServer(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	}))
	if err := WritePKI(PKIOptions{Dir: pki, KubeconfigDir: dir, NodeName: "n", ServiceIP: net.ParseIP("10.0.0.1"), Server: "https://" + srv.Listener.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "apiserver.crt"), filepath.Join(pki, "apiserver.key"))
	if err != nil {
		t.Fatal(err)
	}
	clientCAs, err := certutil.NewPool(filepath.Join(pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: clientCAs, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	for file, cn := range map[string]string{"admin.kubeconfig": "autotel-admin", "kubelet.kubeconfig": "system:node:n", "scheduler.kubeconfig": "system:kube-scheduler", "controller-manager.kubeconfig": "system:kube-controller-manager"} {
		cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		resp, err := hc.Get(cfg.Host + "/")
		if err != nil {
			t.Fatalf("%s: request failed: %v", file, err)
		}
		b := make([]byte, 100)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b[:n]) != cn {
			t.Errorf("%s: server saw %d %q, want the client certificate %q", file, resp.StatusCode, b[:n], cn)
		}
	}
}

func TestWritePKINamesMissingOptions(t *testing.T) {
	err := WritePKI(PKIOptions{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--node-name") {
		t.Errorf("want an error naming the missing flags, got %v", err)
	}
}
