package certs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/testenv"
	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/wait"
)

// logLine is one captured log call.
type logLine struct {
	error bool
	name  string
	msg   string
	err   error
	kv    []any
}

func (l logLine) String() string {
	level := "info"
	if l.error {
		level = "ERROR"
	}
	return fmt.Sprintf("%s %s %q err=%v %v", level, l.name, l.msg, l.err, l.kv)
}

// logCapture records every call at any verbosity, so a test can tell error
// lines from info lines the way a log pipeline would.
type logCapture struct {
	mu    sync.Mutex
	lines []logLine
}

func (c *logCapture) add(l logLine) {
	if os.Getenv("AUTOTEL_TEST_LOG") == "debug" {
		fmt.Fprintln(os.Stderr, l)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, l)
}

func (c *logCapture) matching(pred func(logLine) bool) []logLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []logLine
	for _, l := range c.lines {
		if pred(l) {
			out = append(out, l)
		}
	}
	return out
}

func (c *logCapture) errors() []logLine { return c.matching(func(l logLine) bool { return l.error }) }

// captureSink is a logr.LogSink writing into the current logCapture.
// cert-controller logs through controller-runtime's global logger, which
// can be set once per process, so the global sink forwards to whichever
// capture the running test installed.
type captureSink struct {
	target *atomic.Pointer[logCapture]
	name   string
	kv     []any
}

func (s captureSink) Init(logr.RuntimeInfo) {}
func (s captureSink) Enabled(int) bool      { return true }
func (s captureSink) Info(_ int, msg string, kv ...any) {
	if c := s.target.Load(); c != nil {
		c.add(logLine{name: s.name, msg: msg, kv: append(append([]any{}, s.kv...), kv...)})
	}
}

func (s captureSink) Error(err error, msg string, kv ...any) {
	if c := s.target.Load(); c != nil {
		c.add(logLine{error: true, name: s.name, msg: msg, err: err, kv: append(append([]any{}, s.kv...), kv...)})
	}
}

func (s captureSink) WithValues(kv ...any) logr.LogSink {
	s.kv = append(append([]any{}, s.kv...), kv...)
	return s
}

func (s captureSink) WithName(name string) logr.LogSink {
	if s.name != "" {
		name = s.name + "/" + name
	}
	s.name = name
	return s
}

var globalCapture atomic.Pointer[logCapture]

// TestMain sets controller-runtime's global logger before any test runs:
// loggers derived from it at package init (cert-controller's) are bound
// once, to a sink that discards, if it is not set within 30 seconds.
func TestMain(m *testing.M) {
	logf.SetLogger(logr.New(captureSink{target: &globalCapture}))
	os.Exit(m.Run())
}

// captureLogs routes the operator's logger and controller-runtime's global
// one (cert-controller's) into a fresh capture for this test.
func captureLogs(t *testing.T) (*logCapture, logr.Logger) {
	t.Helper()
	c := &logCapture{}
	globalCapture.Store(c)
	t.Cleanup(func() { globalCapture.CompareAndSwap(c, nil) })
	return c, logr.New(captureSink{target: &globalCapture})
}

// controlPlane starts a kube-apiserver with the CRDs, the operator's
// namespace and the webhook configurations (no caBundle) pointing at port.
func controlPlane(t *testing.T, port int) (*envtest.Environment, client.Client) {
	t.Helper()
	bin, err := testenv.BinaryDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	te := &envtest.Environment{BinaryAssetsDirectory: bin, CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
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
	return te, c
}

// serving waits until every replica serves a certificate the injected
// caBundle verifies and the API server admits through the webhooks.
func serving(t *testing.T, c client.Client, ports ...int) {
	t.Helper()
	wait.For(t, 60*time.Second, "every replica serving a trusted certificate", wait.NoError(func() error {
		for _, p := range ports {
			if _, err := servingCert(p, caBundle(t, c)); err != nil {
				return fmt.Errorf("replica on %d: %w", p, err)
			}
		}
		return nil
	}))
	wait.For(t, 30*time.Second, "Instrumentation admitted through the webhooks", wait.NoError(func() error {
		inst := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{GenerateName: "python-", Namespace: "app"}}
		return c.Create(context.Background(), inst)
	}))
}

// TestQuietStartup: a fresh install with two replicas starting at once
// bootstraps its certificates without a single error-level log line, both
// from nothing and from the empty Secret the Helm chart creates.
func TestQuietStartup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret bool
	}{
		{"no Secret", false},
		{"empty Secret as the chart creates it", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs, log := captureLogs(t)
			port, secondPort := ports.Free(t), ports.Free(t)
			te, c := controlPlane(t, port)
			if tc.secret {
				s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "autotel-webhook-cert"}, Type: corev1.SecretTypeOpaque}
				if err := c.Create(context.Background(), s); err != nil {
					t.Fatal(err)
				}
			}
			// Both replicas start together, as a Deployment's pods do.
			var replicas [2]*operatorProc
			var wg sync.WaitGroup
			for i, p := range []int{port, secondPort} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					replicas[i] = startOperatorWith(t, te, p, log.WithValues("replica", i), nil)
				}()
			}
			wg.Wait()
			serving(t, c, port, secondPort)
			// Startup is over when both rotators report readiness.
			wait.For(t, 60*time.Second, "both rotators ready", wait.NoError(func() error {
				if n := len(logs.matching(func(l logLine) bool { return l.msg == "CA certs are injected to webhooks" })); n < 2 {
					return fmt.Errorf("%d of 2 ready", n)
				}
				return nil
			}))
			// Judged before the replicas stop: shutdown cancels requests
			// in flight, which is not startup's business.
			errs := logs.errors()
			for _, r := range replicas {
				r.stop()
			}

			if len(errs) > 0 {
				var b strings.Builder
				for _, l := range errs {
					fmt.Fprintln(&b, l)
				}
				t.Errorf("%d error-level log lines during a clean startup:\n%s", len(errs), b.String())
			}
			// The capture must have seen cert-controller's own lines, or an
			// empty error list proves nothing.
			if got := logs.matching(func(l logLine) bool { return strings.Contains(l.name, "cert-rotation") }); len(got) == 0 {
				t.Error("no cert-controller log line captured; the capture is not wired to its logger")
			}
		})
	}
}

// TestCertErrorsStillLogged: real problems stay error-level: a Secret
// holding a malformed certificate (replaced, so the webhook still comes
// up) and a webhook configuration name that does not exist.
func TestCertErrorsStillLogged(t *testing.T) {
	logs, log := captureLogs(t)
	port := ports.Free(t)
	te, c := controlPlane(t, port)
	key := types.NamespacedName{Namespace: operatorNS, Name: "autotel-webhook-cert"}
	malformed := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}, Data: map[string][]byte{
		"ca.crt": []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"),
		"ca.key": []byte("not a key"), "tls.crt": []byte("not a certificate"), "tls.key": []byte("not a key"),
	}}
	if err := c.Create(context.Background(), malformed); err != nil {
		t.Fatal(err)
	}
	r := startOperatorWith(t, te, port, log, func(o *operator.Options) {
		o.Certs.ValidatingName = "autotel-validating-typo"
	})
	// Mutating webhooks still get the CA; the Instrumentation validating
	// webhook has none, so only the mutating side is checked here.
	wait.For(t, 60*time.Second, "replica serving a trusted certificate despite the malformed Secret", wait.NoError(func() error {
		_, err := servingCert(port, caBundle(t, c))
		return err
	}))
	r.stop()

	has := func(what string, pred func(logLine) bool) {
		t.Helper()
		if len(logs.matching(func(l logLine) bool { return l.error && pred(l) })) == 0 {
			var b strings.Builder
			for _, l := range logs.matching(func(logLine) bool { return true }) {
				fmt.Fprintln(&b, l)
			}
			t.Errorf("no error-level line for %s; captured:\n%s", what, b.String())
		}
	}
	has("the malformed Secret", func(l logLine) bool {
		return strings.Contains(l.msg+fmt.Sprint(l.err), "malformed") && strings.Contains(fmt.Sprint(l.kv), key.String())
	})
	has("the missing webhook configuration", func(l logLine) bool {
		return strings.Contains(fmt.Sprint(l.kv), "autotel-validating-typo")
	})
}
