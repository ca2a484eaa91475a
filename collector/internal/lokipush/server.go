// Package lokipush is a minimal Loki push endpoint for tests and the
// benchmark: it decodes real push requests (snappy-compressed protobuf, the
// wire format of grafana/loki/pkg/push) and answers with whatever status the
// test scripts, which is what VictoriaLogs cannot be made to do.
package lokipush

import (
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
)

// Entry is one stored line with the request it came in.
type Entry struct {
	Tenant             string
	Labels             string
	TimestampUnixNano  int64
	Line               string
	StructuredMetadata map[string]string
}

// Responder picks the answer to the n-th request (from 1) of a tenant.
// Returning 0 means 204 and the entries are stored; anything else is sent as
// the status with body, and nothing is stored, as Loki does when it rejects a
// request while parsing.
type Responder func(tenant string, n int) (status int, body string)

type Server struct {
	mu       sync.Mutex
	entries  []Entry
	requests map[string]int
	respond  Responder
	// Discard only counts entries (the benchmark sink), keeping memory flat.
	discard bool
	count   int64
	bytes   int64
	// fingerprint sums a hash of every accepted entry, so two runs can be
	// compared for identical output regardless of stream and request order.
	fingerprint uint64

	// loki, when set (StartLoki), makes the endpoint validate like Loki.
	loki *Limits

	srv *http.Server
	URL string // the push URL
}

// Start listens on a free loopback port.
func Start(respond Responder, discard bool) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the Loki push endpoint: %w", err)
	}
	s := &Server{requests: map[string]int{}, respond: respond, discard: discard}
	mux := http.NewServeMux()
	mux.HandleFunc("/loki/api/v1/push", s.handle)
	s.srv = &http.Server{Handler: mux}
	s.URL = "http://" + ln.Addr().String() + "/loki/api/v1/push"
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	tenant := r.Header.Get("X-Scope-OrgID")
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "mime: unexpected content type "+ct, http.StatusBadRequest)
		return
	}
	compressed, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, compressed)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	s.mu.Lock()
	s.requests[tenant]++
	n := s.requests[tenant]
	s.mu.Unlock()
	if s.respond != nil {
		if status, body := s.respond(tenant, n); status != 0 {
			http.Error(w, body, status)
			return
		}
	}
	if len(req.Streams) == 0 {
		http.Error(w, "error at least one valid stream is required for ingestion", http.StatusUnprocessableEntity)
		return
	}

	status := http.StatusNoContent
	if s.loki != nil {
		ans := s.loki.validate(&req)
		if ans.status >= 500 || ans.status != 0 && len(ans.keep) == 0 {
			http.Error(w, ans.body, ans.status)
			return
		}
		req.Streams = ans.keep
		if ans.status != 0 {
			// Loki stored the valid part, and says what it refused.
			status = ans.status
			defer http.Error(w, ans.body, status)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.bytes += int64(len(compressed))
	for _, st := range req.Streams {
		s.count += int64(len(st.Entries))
		for _, e := range st.Entries {
			s.fingerprint += entryHash(tenant, st.Labels, e)
		}
		if s.discard {
			continue
		}
		for _, e := range st.Entries {
			var sm map[string]string
			for _, p := range e.StructuredMetadata {
				if sm == nil {
					sm = map[string]string{}
				}
				sm[p.Name] = p.Value
			}
			s.entries = append(s.entries, Entry{tenant, st.Labels, e.Timestamp.UnixNano(), e.Line, sm})
		}
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
	}
}

func entryHash(tenant, labels string, e push.Entry) uint64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, tenant)
	_, _ = h.Write([]byte{0})
	_, _ = io.WriteString(h, labels)
	_, _ = fmt.Fprintf(h, "\x00%d\x00", e.Timestamp.UnixNano())
	_, _ = io.WriteString(h, e.Line)
	for _, p := range e.StructuredMetadata {
		_, _ = fmt.Fprintf(h, "\x00%s=%s", p.Name, p.Value)
	}
	return h.Sum64()
}

// Fingerprint is the order-independent digest of all accepted entries and
// their number.
func (s *Server) Fingerprint() (uint64, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fingerprint, s.count
}

// Reset forgets everything accepted so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries, s.count, s.bytes, s.fingerprint = nil, 0, 0, 0
	s.requests = map[string]int{}
}

// Entries returns a copy of everything stored so far.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.entries...)
}

// Count is the number of entries accepted so far.
func (s *Server) Count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Requests is the number of push requests a tenant sent, accepted or not.
func (s *Server) Requests(tenant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[tenant]
}
