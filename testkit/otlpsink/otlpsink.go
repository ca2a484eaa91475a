// Package otlpsink is the OTLP/HTTP endpoint that tests export to: it
// listens on a free loopback port (plain or TLS with a fresh self-signed
// certificate), accepts POSTs on the OTLP paths in the protobuf and JSON
// encodings, gzip-compressed or not, and hands each body to a Decoder that
// stores it; faults can be switched on while it runs (an HTTP status with
// Retry-After, a delay, a stop and restart on the same port).
//
// It knows nothing of the OTLP messages themselves, so that this module
// stays on the standard library: the test suites decode with the OTLP
// implementations they test against (the generated protobuf types, or the
// collector's pdata) in their Decoder.
package otlpsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/autotel/autotel/testkit/wait"
)

// Media types of the two OTLP/HTTP encodings.
const (
	Protobuf = "application/x-protobuf"
	JSON     = "application/json"
)

// MaxBody bounds one request, compressed or not; exporters batch far below.
const MaxBody = 64 << 20

// Paths are the standard OTLP/HTTP signal paths.
var Paths = []string{"/v1/traces", "/v1/metrics", "/v1/logs"}

// Export is one POSTed export, its body decompressed.
type Export struct {
	Path      string
	MediaType string // Protobuf or JSON
	Body      []byte
	Gzip      bool
	Header    http.Header
}

// Decoder decodes and stores an export and returns the export response,
// encoded in the export's MediaType. An error is answered 400 and listed in
// DecodeErrors.
type Decoder func(Export) ([]byte, error)

// Request describes one accepted export.
type Request struct {
	Path            string
	ContentType     string // the media type, without parameters
	ContentEncoding string
	UserAgent       string
	Header          http.Header
}

// Sink is an OTLP/HTTP endpoint. New makes one; Listen, ListenTLS or Serve
// start it.
type Sink struct {
	paths  []string
	decode Decoder

	mu           sync.Mutex
	addr         string
	srv          *http.Server
	tls          *tls.Config
	requests     []Request
	decodeErrors []string
	status       int
	retryAfter   string
	delay        time.Duration
	changed      chan struct{}
	lastChange   time.Time
}

// New returns a sink that accepts POSTs on paths (nil: Paths) and hands
// them to decode.
func New(paths []string, decode Decoder) *Sink {
	if paths == nil {
		paths = Paths
	}
	return &Sink{paths: paths, decode: decode, changed: make(chan struct{})}
}

// Listen serves on addr ("127.0.0.1:0" for a free loopback port).
func (s *Sink) Listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("OTLP sink listening on %s: %w", addr, err)
	}
	s.Serve(l)
	return nil
}

// ListenTLS serves HTTPS on a free loopback port with a fresh self-signed
// certificate for 127.0.0.1, and returns it in PEM: the client's CA file.
func (s *Sink) ListenTLS() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the OTLP sink's key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otlp-sink"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP sink's certificate: %w", err)
	}
	s.mu.Lock()
	s.tls = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	s.mu.Unlock()
	if err := s.Listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// Serve accepts exports on l (wrapped in TLS after ListenTLS) until Stop.
func (s *Sink) Serve(l net.Listener) {
	s.mu.Lock()
	if s.tls != nil {
		l = tls.NewListener(l, s.tls)
	}
	// Refused TLS handshakes are what some tests provoke: not worth a log line.
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	s.srv, s.addr = srv, l.Addr().String()
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// Handler serves the sink's paths, for use with httptest.
func (s *Sink) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Addr is the host:port served.
func (s *Sink) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL is the base URL, for OTEL_EXPORTER_OTLP_ENDPOINT.
func (s *Sink) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tls != nil {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// Stop takes the sink down the way a collector shuts down: the listener
// closes (new connections are refused until Restart), requests in progress
// are answered, idle connections are closed. (Cutting a request after
// storing it but before answering would make the client retry a batch that
// arrived.) What was received stays.
func (s *Sink) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	}
}

// Close is Stop, as an io.Closer.
func (s *Sink) Close() error {
	s.Stop()
	return nil
}

// Restart listens again on the port it had.
func (s *Sink) Restart() error {
	var err error
	// The port was ours a moment ago; retry briefly in case the kernel has
	// not released it yet.
	if ok, _ := wait.Until(time.Second, 20*time.Millisecond, func() (bool, string) {
		err = s.Listen(s.Addr())
		return err == nil, ""
	}); ok {
		return nil
	}
	return err
}

// SetStatus makes every request fail with status (0 restores normal
// answers); retryAfter, if not empty, is sent as Retry-After.
func (s *Sink) SetStatus(status int, retryAfter string) {
	s.mu.Lock()
	s.status, s.retryAfter = status, retryAfter
	s.mu.Unlock()
}

// SetDelay holds every response for d before answering.
func (s *Sink) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Requests lists the accepted exports in arrival order.
func (s *Sink) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// DecodeErrors lists the exports refused as malformed (encoding, content
// type or the Decoder's error).
func (s *Sink) DecodeErrors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.decodeErrors)
}

// Reset forgets the requests and decode errors.
func (s *Sink) Reset() {
	s.mu.Lock()
	s.requests, s.decodeErrors = nil, nil
	s.mu.Unlock()
}

// Changed is closed when the next export is accepted (after its Decoder
// stored it): take it before checking what was stored, then wait on it.
func (s *Sink) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// WaitFor blocks until cond holds or ctx ends, evaluating cond again at
// every accepted export; the error names what was received so far.
func (s *Sink) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		changed := s.Changed()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%w; received so far: %v", ctx.Err(), s.Requests())
		}
	}
}

// WaitQuiet waits until no export has been accepted for quiet (the
// sender's queue is empty), at most timeout; it reports whether it was.
func (s *Sink) WaitQuiet(quiet, timeout time.Duration) bool {
	ok, _ := wait.Until(timeout, 50*time.Millisecond, func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return time.Since(s.lastChange) >= quiet, ""
	})
	return ok
}

func (s *Sink) refuse(w http.ResponseWriter, status int, msg string) {
	s.mu.Lock()
	s.decodeErrors = append(s.decodeErrors, msg)
	s.mu.Unlock()
	http.Error(w, msg, status)
}

func (s *Sink) serve(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	status, retryAfter, delay := s.status, s.retryAfter, s.delay
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if !slices.Contains(s.paths, req.URL.Path) {
		http.Error(w, "not an OTLP path this sink serves", http.StatusNotFound)
		return
	}
	if req.Method != http.MethodPost {
		http.Error(w, "OTLP exports are POSTs", http.StatusMethodNotAllowed)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, MaxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, "injected failure", status)
		return
	}
	mediaType, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || (mediaType != Protobuf && mediaType != JSON) {
		s.refuse(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q", req.Header.Get("Content-Type")))
		return
	}
	body, err := decompress(req.Header.Get("Content-Encoding"), raw)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	exp := Export{Path: req.URL.Path, MediaType: mediaType, Body: body, Gzip: req.Header.Get("Content-Encoding") == "gzip", Header: req.Header.Clone()}
	out, err := s.decode(exp)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "decoding "+mediaType+": "+err.Error())
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Path: exp.Path, ContentType: mediaType, ContentEncoding: req.Header.Get("Content-Encoding"), UserAgent: req.UserAgent(), Header: exp.Header})
	close(s.changed)
	s.changed = make(chan struct{})
	s.lastChange = time.Now()
	s.mu.Unlock()

	// The response uses the request's encoding, as the specification asks.
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	_, _ = w.Write(out)
}

func decompress(encoding string, body []byte) ([]byte, error) {
	switch encoding {
	case "", "identity":
		return body, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		out, err := io.ReadAll(io.LimitReader(zr, MaxBody))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return out, nil
	}
	return nil, errors.New("unsupported Content-Encoding " + strconv.Quote(encoding))
}

// Answer is what an endpoint answered to Post.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Post sends body to url as an exporter would (Content-Type contentType,
// Content-Encoding encoding unless empty) with client (nil: a client with a
// 10 s timeout), and reads the whole answer.
func Post(client *http.Client, url, contentType, encoding string, body []byte) (Answer, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Answer{}, fmt.Errorf("building the POST to %s: %w", url, err)
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Answer{}, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, fmt.Errorf("reading the answer of %s: %w", url, err)
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: out}, nil
}
