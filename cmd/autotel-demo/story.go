package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/autotel/autotel/testkit/otlpfile"
	"github.com/autotel/autotel/testkit/victorialogs"
)

// story sends the requests and finds what each left behind.
type story struct {
	client *http.Client
	base   string
	pod    string
	traces string
	store  *victorialogs.Server
	wait   time.Duration
	poll   time.Duration
	w      io.Writer
}

// request is one GET and what it left: its trace's spans and the stored
// lines carrying its trace id.
type request struct {
	path        string
	code        int
	body        string
	sent, done  time.Time
	traceID     string
	root        otlpfile.Span   // the request's span
	spans       []otlpfile.Span // root and its descendants
	orphan      bool            // root's parent is not in the file
	query       string
	lines       []victorialogs.Row
	missingWhat string
}

func (s story) run(paths []string) error {
	reqs := make([]*request, 0, len(paths))
	for _, p := range paths {
		r, err := s.get(p)
		if err != nil {
			return err
		}
		reqs = append(reqs, r)
	}
	if s.traces == "" {
		for _, r := range reqs {
			s.printRequest(r)
		}
		return nil
	}
	s.findTraces(reqs)
	s.findLines(reqs)
	var missing []string
	for _, r := range reqs {
		s.printRequest(r)
		if r.missingWhat != "" {
			missing = append(missing, fmt.Sprintf("GET %s: %s", r.path, r.missingWhat))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("after %s: %s", s.wait, strings.Join(missing, "; "))
	}
	return nil
}

func (s story) get(path string) (*request, error) {
	r := &request{path: path, sent: time.Now()}
	resp, err := s.client.Get(s.base + path)
	if err != nil {
		return nil, fmt.Errorf("GET %s%s: %w", s.base, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return nil, fmt.Errorf("GET %s%s: reading the answer: %w", s.base, path, err)
	}
	r.done, r.code, r.body = time.Now(), resp.StatusCode, strings.TrimSpace(string(b))
	if r.code >= 500 {
		r.body = "(the app raised: sample error)" // the page is the server's HTML error page
	}
	return r, nil
}

// requestSpanFor reports whether sp is the span of a GET of path sent in
// [sent, done]: the instrumentations name the path in http.target (older
// semantic conventions), url.path or http.route. It is usually the trace's
// root, a Server span; under uvicorn the SDK's ASGI middleware makes it an
// Internal span, child of a span open for the server's whole life (every
// request then shares one trace), so neither is required.
func requestSpanFor(sp otlpfile.Span, path string, sent, done time.Time) bool {
	if sp.Kind != "Server" && sp.Kind != "Internal" {
		return false
	}
	// Same machine, same clock; a little slack for rounding.
	if sp.Start.Before(sent.Add(-time.Second)) || sp.Start.After(done.Add(time.Second)) {
		return false
	}
	for _, k := range []string{"http.target", "url.path", "http.route"} {
		if v, ok := sp.Attributes[k].(string); ok && strings.SplitN(v, "?", 2)[0] == path {
			return true
		}
	}
	return false
}

// findTraces reads the trace file until each request's server span is in
// it (the SDK batches spans for up to 5 s, the exporter flushes the file
// often), then takes every span of those traces.
func (s story) findTraces(reqs []*request) {
	deadline := time.Now().Add(s.wait)
	var lastErr error
	for {
		c, err := otlpfile.ReadFile(s.traces)
		lastErr = err
		if err == nil {
			pending := 0
			for _, r := range reqs {
				if r.traceID == "" {
					// The outermost match: the earliest to start.
					for _, sp := range c.Spans {
						if requestSpanFor(sp, r.path, r.sent, r.done) && (r.root.SpanID == "" || sp.Start.Before(r.root.Start)) {
							r.root = sp
						}
					}
					r.traceID = r.root.TraceID
				}
				if r.traceID == "" {
					pending++
				}
			}
			if pending == 0 {
				// Children may end after the root; one more read picks up
				// what was flushed meanwhile.
				time.Sleep(s.poll)
				if c2, err := otlpfile.ReadFile(s.traces); err == nil {
					c = c2
				}
				for _, r := range reqs {
					all := c.Trace(r.traceID)
					r.spans = Subtree(all, r.root.SpanID)
					r.orphan = r.root.ParentSpanID != "" && !slices.ContainsFunc(all, func(sp otlpfile.Span) bool { return sp.SpanID == r.root.ParentSpanID })
					sort.SliceStable(r.spans, func(i, j int) bool { return r.spans[i].Start.Before(r.spans[j].Start) })
				}
				return
			}
		}
		if time.Now().After(deadline) {
			for _, r := range reqs {
				if r.traceID != "" {
					continue
				}
				switch {
				case errors.Is(lastErr, fs.ErrNotExist):
					r.missingWhat = fmt.Sprintf("no trace file %s (the collector's file exporter writes it on its first traces)", s.traces)
				case lastErr != nil:
					r.missingWhat = fmt.Sprintf("reading the trace file: %v", lastErr)
				default:
					r.missingWhat = fmt.Sprintf("no server span for %s in %s", r.path, s.traces)
				}
			}
			return
		}
		time.Sleep(s.poll)
	}
}

// Subtree is the span rootID of spans and every span below it.
func Subtree(spans []otlpfile.Span, rootID string) []otlpfile.Span {
	in := map[string]bool{rootID: true}
	for grew := true; grew; {
		grew = false
		for _, sp := range spans {
			if !in[sp.SpanID] && in[sp.ParentSpanID] {
				in[sp.SpanID], grew = true, true
			}
		}
	}
	var out []otlpfile.Span
	for _, sp := range spans {
		if in[sp.SpanID] {
			out = append(out, sp)
		}
	}
	return out
}

// lineIDs are the loki exporter's JSON line's traceid and spanid ("" when
// absent or not JSON).
func lineIDs(msg string) (traceID, spanID string) {
	var l struct {
		TraceID string `json:"traceid"`
		SpanID  string `json:"spanid"`
	}
	if json.Unmarshal([]byte(msg), &l) != nil {
		return "", ""
	}
	return l.TraceID, l.SpanID
}

// findLines asks the store for the pod's lines holding each trace id (a
// word filter on the line), keeps those whose traceid field is that id and
// whose spanid is one of the request's spans (under uvicorn the trace is
// the whole server's), and waits until every request with a trace has at least one and the
// count held still for one poll (a request's records travel in one batch
// or a few).
func (s story) findLines(reqs []*request) {
	deadline := time.Now().Add(s.wait)
	for _, r := range reqs {
		if r.traceID == "" {
			continue
		}
		r.query = fmt.Sprintf("pod:=%q %q", s.pod, r.traceID)
		prev := -1
		for {
			rows, err := s.store.Query(r.query + " | sort by (_time)")
			var kept []victorialogs.Row
			for _, row := range rows {
				tid, sid := lineIDs(row.Msg())
				if tid == r.traceID && r.hasSpan(sid) {
					kept = append(kept, row)
				}
			}
			r.lines = kept
			if err == nil && len(kept) > 0 && len(kept) == prev {
				break
			}
			prev = len(kept)
			if time.Now().After(deadline) {
				if err != nil {
					r.missingWhat = fmt.Sprintf("querying the store: %v", err)
				} else if len(kept) == 0 {
					r.missingWhat = "no stored log line with traceid " + r.traceID
				}
				break
			}
			time.Sleep(4 * s.poll)
		}
	}
}

func (r *request) hasSpan(id string) bool {
	for _, sp := range r.spans {
		if sp.SpanID == id {
			return true
		}
	}
	return false
}

func (s story) printRequest(r *request) {
	fmt.Fprintf(s.w, "    GET %s%s -> HTTP %d %s\n", s.base, r.path, r.code, r.body)
	if s.traces == "" {
		return
	}
	if r.traceID == "" {
		fmt.Fprintf(s.w, "      trace: none found (%s)\n", r.missingWhat)
		return
	}
	fmt.Fprintf(s.w, "      trace %s, %d span(s) of this request in the collector's trace file:\n", r.traceID, len(r.spans))
	for _, sp := range r.spans {
		status := sp.StatusCode
		if sp.StatusMsg != "" {
			status += ": " + sp.StatusMsg
		}
		fmt.Fprintf(s.w, "        span %s %q kind=%s status=%s duration=%s service=%s scope=%s\n",
			sp.SpanID, sp.Name, sp.Kind, status, sp.Duration().Round(time.Microsecond), sp.Service, sp.Scope)
	}
	if r.orphan {
		fmt.Fprintf(s.w, "        (the request's span is a child of span %s, not in the file: a span the SDK keeps open\n", r.root.ParentSpanID)
		fmt.Fprintf(s.w, "         for the server's life, so every request of this process shares trace %s)\n", r.traceID)
	}
	fmt.Fprintf(s.w, "      %d stored log line(s) with traceid %s and the spanid of one of these spans (LogsQL: %s):\n", len(r.lines), r.traceID, r.query)
	for _, row := range r.lines {
		fmt.Fprintf(s.w, "        %s %s\n", row["_stream"], row.Msg())
	}
}
