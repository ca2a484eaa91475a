package operator

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

func testRotator() *rotator.CertRotator {
	return &rotator.CertRotator{
		SecretKey: types.NamespacedName{Namespace: "ns", Name: "cert"},
		CAName:    "test-ca", CAOrganization: "test", DNSName: "svc.ns.svc",
		CertName: "tls.crt", KeyName: "tls.key",
		CaCertDuration: time.Hour, ServerCertDuration: 30 * time.Minute, LookaheadInterval: 10 * time.Minute,
		ExtKeyUsages: &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// TestInspectCerts: the bootstrap's judgement agrees with the rotator's
// validity rules and tells an empty Secret from a malformed one.
func TestInspectCerts(t *testing.T) {
	cr := testRotator()
	var s corev1.Secret
	if err := fillSecret(cr, &s, nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	if st := inspectCerts(cr, s.Data, now); !st.valid || st.empty || st.malformed != nil || st.ca == nil {
		t.Errorf("freshly filled Secret: %+v, want valid with a reusable CA", st)
	}
	if st := inspectCerts(cr, nil, now); !st.empty || st.valid {
		t.Errorf("no data: %+v, want empty", st)
	}
	if st := inspectCerts(cr, map[string][]byte{"ca.crt": {}, "tls.crt": {}}, now); !st.empty {
		t.Errorf("keys without values (the chart's Secret): %+v, want empty", st)
	}
	bad := map[string][]byte{"ca.crt": s.Data["ca.crt"], "ca.key": s.Data["ca.key"], "tls.crt": []byte("garbage"), "tls.key": s.Data["tls.key"]}
	if st := inspectCerts(cr, bad, now); st.malformed == nil || st.valid {
		t.Errorf("garbage serving certificate: %+v, want malformed", st)
	}

	// Inside the lookahead of the serving certificate (30m, renewed 10m
	// ahead) but not of the CA (1h): renew the serving certificate, keep
	// the CA.
	later := now.Add(25 * time.Minute)
	st := inspectCerts(cr, s.Data, later)
	if st.valid || st.ca == nil || st.malformed != nil {
		t.Fatalf("serving certificate about to expire: %+v, want invalid with the CA reusable", st)
	}
	renewed := s.DeepCopy()
	if err := fillSecret(cr, renewed, st.ca); err != nil {
		t.Fatal(err)
	}
	if string(renewed.Data["ca.crt"]) != string(s.Data["ca.crt"]) {
		t.Error("renewing the serving certificate replaced a valid CA")
	}
	if ok, err := rotator.ValidCert(renewed.Data["ca.crt"], renewed.Data["tls.crt"], renewed.Data["tls.key"], cr.DNSName, cr.ExtKeyUsages, now.Add(cr.LookaheadInterval)); !ok {
		t.Errorf("renewed serving certificate not valid for the rotator: %v", err)
	}
	// Past the CA's lookahead too: a new CA.
	if st := inspectCerts(cr, s.Data, now.Add(55*time.Minute)); st.valid || st.ca != nil {
		t.Errorf("CA about to expire: %+v, want a new CA", st)
	}
}

func TestSetCABundle(t *testing.T) {
	wh := &unstructured.Unstructured{Object: map[string]any{"webhooks": []any{
		map[string]any{"name": "a", "clientConfig": map[string]any{"caBundle": "old"}},
		map[string]any{"name": "b", "clientConfig": map[string]any{}},
	}}}
	changed, err := setCABundle(wh, "new")
	if err != nil || !changed {
		t.Fatalf("setCABundle = %v, %v; want changed", changed, err)
	}
	for i, h := range wh.Object["webhooks"].([]any) {
		if got, _, _ := unstructured.NestedString(h.(map[string]any), "clientConfig", "caBundle"); got != "new" {
			t.Errorf("webhook %d caBundle %q", i, got)
		}
	}
	if b, ok := caBundleOf(wh); !ok || b != "new" {
		t.Errorf("caBundleOf = %q, %v", b, ok)
	}
	if changed, err := setCABundle(wh, "new"); err != nil || changed {
		t.Errorf("second setCABundle = %v, %v; want unchanged", changed, err)
	}
}

// TestWriteFilesAtomically: each generation replaces all files at once
// behind symlinks, the previous one is removed, and plain files left by an
// earlier version are taken over.
func TestWriteFilesAtomically(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("plain"), 0o600); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, gen := range []string{"1", "2"} {
		if err := writeFilesAtomically(dir, map[string][]byte{"tls.crt": []byte("crt" + gen), "tls.key": []byte("key" + gen)}); err != nil {
			t.Fatal(err)
		}
		if read("tls.crt") != "crt"+gen || read("tls.key") != "key"+gen {
			t.Errorf("generation %s: files hold %q / %q", gen, read("tls.crt"), read("tls.key"))
		}
		if target, err := os.Readlink(filepath.Join(dir, "tls.crt")); err != nil || target != filepath.Join(dataLink, "tls.crt") {
			t.Errorf("tls.crt is not a symlink into %s: %q %v", dataLink, target, err)
		}
	}
	gens, err := filepath.Glob(filepath.Join(dir, dataLink+"-*"))
	if err != nil || len(gens) != 1 {
		t.Errorf("generations left: %v %v, want only the current one", gens, err)
	}
	// Unchanged content writes nothing.
	if err := writeFilesAtomically(dir, map[string][]byte{"tls.crt": []byte("crt2"), "tls.key": []byte("key2")}); err != nil {
		t.Fatal(err)
	}
	if again, _ := filepath.Glob(filepath.Join(dir, dataLink+"-*")); len(again) != 1 || again[0] != gens[0] {
		t.Errorf("unchanged files rewritten: %v", again)
	}
}
