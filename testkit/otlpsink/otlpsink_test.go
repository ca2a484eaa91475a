package otlpsink_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/otlpsink"
)

// echo stores every export and answers with its body upper-cased, or
// fails a body that says "bad".
type echo struct {
	mu  sync.Mutex
	got []otlpsink.Export
}

func (e *echo) decode(x otlpsink.Export) ([]byte, error) {
	if string(x.Body) == "bad" {
		return nil, errors.New("bad body")
	}
	e.mu.Lock()
	e.got = append(e.got, x)
	e.mu.Unlock()
	return bytes.ToUpper(x.Body), nil
}

func (e *echo) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.got)
}

func start(t *testing.T) (*otlpsink.Sink, *echo) {
	t.Helper()
	e := &echo{}
	s := otlpsink.New(nil, e.decode)
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, e
}

func post(t *testing.T, c *http.Client, url, ctype, encoding string, body []byte) (int, string, http.Header) {
	t.Helper()
	a, err := otlpsink.Post(c, url, ctype, encoding, body)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status, string(a.Body), a.Header
}

func TestAcceptsBothEncodingsAndGzip(t *testing.T) {
	s, e := start(t)
	code, out, h := post(t, http.DefaultClient, s.URL()+"/v1/logs", "application/json; charset=utf-8", "", []byte("json"))
	if code != http.StatusOK || out != "JSON" || h.Get("Content-Type") != otlpsink.JSON {
		t.Fatalf("JSON export: %d %q %q", code, out, h.Get("Content-Type"))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("proto"))
	_ = zw.Close()
	code, out, _ = post(t, http.DefaultClient, s.URL()+"/v1/traces", otlpsink.Protobuf, "gzip", gz.Bytes())
	if code != http.StatusOK || out != "PROTO" {
		t.Fatalf("gzip protobuf export: %d %q", code, out)
	}
	if e.count() != 2 || !e.got[1].Gzip || e.got[1].Path != "/v1/traces" || e.got[0].MediaType != otlpsink.JSON {
		t.Fatalf("decoder saw %+v", e.got)
	}
	if r := s.Requests(); len(r) != 2 || r[1].ContentEncoding != "gzip" || r[0].Path != "/v1/logs" {
		t.Fatalf("requests %+v", r)
	}
}

func TestRefusals(t *testing.T) {
	s, e := start(t)
	for _, tt := range []struct {
		name, path, ctype, encoding, body string
		want                              int
		decodeError                       bool
	}{
		{"unknown path", "/v2/logs", otlpsink.Protobuf, "", "x", http.StatusNotFound, false},
		{"unknown content type", "/v1/logs", "text/plain", "", "x", http.StatusUnsupportedMediaType, true},
		{"unknown encoding", "/v1/logs", otlpsink.Protobuf, "br", "x", http.StatusBadRequest, true},
		{"broken gzip", "/v1/logs", otlpsink.Protobuf, "gzip", "x", http.StatusBadRequest, true},
		{"decoder error", "/v1/logs", otlpsink.Protobuf, "", "bad", http.StatusBadRequest, true},
	} {
		before := len(s.DecodeErrors())
		if code, out, _ := post(t, http.DefaultClient, s.URL()+tt.path, tt.ctype, tt.encoding, []byte(tt.body)); code != tt.want {
			t.Errorf("%s: HTTP %d (%s), want %d", tt.name, code, strings.TrimSpace(out), tt.want)
		}
		if got := len(s.DecodeErrors()) - before; (got == 1) != tt.decodeError {
			t.Errorf("%s: %d new decode errors, want one: %v", tt.name, got, tt.decodeError)
		}
	}
	resp, err := http.Get(s.URL() + "/v1/logs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d, want 405", resp.StatusCode)
	}
	if e.count() != 0 || len(s.Requests()) != 0 {
		t.Errorf("refused exports were stored: %d, %v", e.count(), s.Requests())
	}
}

func TestFaultsAndRestart(t *testing.T) {
	s, e := start(t)
	s.SetStatus(http.StatusServiceUnavailable, "3")
	code, _, h := post(t, http.DefaultClient, s.URL()+"/v1/logs", otlpsink.Protobuf, "", []byte("x"))
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "3" || e.count() != 0 {
		t.Fatalf("injected status: %d, Retry-After %q, stored %d", code, h.Get("Retry-After"), e.count())
	}
	s.SetStatus(0, "")

	url := s.URL()
	s.Stop()
	if resp, err := http.Post(url+"/v1/logs", otlpsink.Protobuf, strings.NewReader("x")); err == nil {
		resp.Body.Close()
		t.Fatal("a stopped sink answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.URL() != url {
		t.Fatalf("restarted on %s, want %s", s.URL(), url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		if resp, err := http.Post(url+"/v1/logs", otlpsink.Protobuf, strings.NewReader("late")); err == nil {
			resp.Body.Close()
		}
	}()
	if err := s.WaitFor(ctx, func() bool { return e.count() == 1 }); err != nil {
		t.Fatal(err)
	}
	if !s.WaitQuiet(100*time.Millisecond, 5*time.Second) {
		t.Fatal("not quiet after one export")
	}
}

func TestWaitForTimesOut(t *testing.T) {
	s, _ := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.WaitFor(ctx, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor: %v, want a deadline error", err)
	}
}

func TestTLS(t *testing.T) {
	e := &echo{}
	s := otlpsink.New([]string{"/v1/logs"}, e.decode)
	caPEM, err := s.ListenTLS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", s.URL())
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the returned PEM holds no certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	if code, out, _ := post(t, c, s.URL()+"/v1/logs", otlpsink.Protobuf, "", []byte("tls")); code != http.StatusOK || out != "TLS" {
		t.Fatalf("TLS export: %d %q", code, out)
	}
	if resp, err := http.Post(s.URL()+"/v1/logs", otlpsink.Protobuf, strings.NewReader("x")); err == nil {
		resp.Body.Close()
		t.Fatal("a client without the CA was served")
	}
}
