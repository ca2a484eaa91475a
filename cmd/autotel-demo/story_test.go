package main

import (
	"github.com/autotel/autotel/testkit/otlpfile"

	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/victorialogs"
)

// fakeApp plays the instrumented sample and the collector at once: each
// request writes its server span (and, for /error, a child) to the trace
// file as the file exporter would, and pushes the loki exporter's lines
// to a real VictoriaLogs, one with the request's traceid and one (the
// access log) without.
type fakeApp struct {
	t        *testing.T
	traces   string
	store    *victorialogs.Server
	pod      string
	noTraces bool
	mu       sync.Mutex
	ids      map[string]string // path -> trace id
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (a *fakeApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	trace, span := randHex(16), randHex(8)
	a.mu.Lock()
	a.ids[r.URL.Path] = trace
	a.mu.Unlock()
	code, status := 200, `{}`
	if r.URL.Path == "/error" {
		code, status = 500, `{"code":2,"message":"ValueError: sample error"}`
	}
	spans := fmt.Sprintf(`{"traceId":%q,"spanId":%q,"name":"GET %s","kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[{"key":"http.target","value":{"stringValue":%q}}],"status":%s}`,
		trace, span, r.URL.Path, start.UnixNano(), start.Add(3*time.Millisecond).UnixNano(), r.URL.Path, status)
	if r.URL.Path == "/error" {
		spans += fmt.Sprintf(`,{"traceId":%q,"spanId":%q,"parentSpanId":%q,"name":"compute","kind":1,"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}`,
			trace, randHex(8), span, start.Add(time.Millisecond).UnixNano(), start.Add(2*time.Millisecond).UnixNano())
	}
	line := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"sample"}}]},"scopeSpans":[{"scope":{"name":"test"},"spans":[` + spans + `]}]}]}` + "\n"
	if !a.noTraces {
		f, err := os.OpenFile(a.traces, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			a.t.Error(err)
			return
		}
		_, _ = f.WriteString(line)
		_ = f.Close()
	}
	a.push(fmt.Sprintf(`{"body":"%s called","traceid":%q,"spanid":%q}`, strings.TrimPrefix(r.URL.Path, "/"), trace, span))
	a.push(fmt.Sprintf(`{"body":"GET %s %d"}`, r.URL.Path, code))
	w.WriteHeader(code)
	_, _ = fmt.Fprint(w, "world!")
}

func (a *fakeApp) push(line string) {
	b, _ := json.Marshal(map[string]any{"streams": []any{map[string]any{
		"stream": map[string]string{"pod": a.pod, "job": "example/sample"},
		"values": [][]string{{fmt.Sprint(time.Now().UnixNano()), line}},
	}}})
	resp, err := http.Post(a.store.PushURL(), "application/json", bytes.NewReader(b))
	if err != nil {
		a.t.Error(err)
		return
	}
	_ = resp.Body.Close()
}

func newStory(t *testing.T, noTraces bool) (*fakeApp, story, *bytes.Buffer) {
	bin, err := victorialogs.Bin("../..")
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeApp{t: t, traces: filepath.Join(t.TempDir(), "traces.jsonl"), store: victorialogs.Start(t, bin), pod: "sample-1", noTraces: noTraces, ids: map[string]string{}}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	return a, story{client: srv.Client(), base: srv.URL, pod: a.pod, traces: a.traces, store: a.store, wait: 5 * time.Second, poll: 50 * time.Millisecond, w: &out}, &out
}

func TestStoryShowsEachRequestsTraceAndLines(t *testing.T) {
	a, s, out := newStory(t, false)
	if err := s.run([]string{"/hello", "/error"}); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	got := out.String()
	for _, want := range []string{
		"GET " + s.base + "/hello -> HTTP 200 world!",
		"GET " + s.base + "/error -> HTTP 500 (the app raised: sample error)",
		"trace " + a.ids["/hello"] + ", 1 span(s)",
		"trace " + a.ids["/error"] + ", 2 span(s)",
		`"GET /hello" kind=Server status=Unset duration=3ms service=sample`,
		`"GET /error" kind=Server status=Error: ValueError: sample error duration=3ms`,
		`"compute" kind=Internal`,
		"1 stored log line(s) with traceid " + a.ids["/hello"],
		`{"body":"hello called","traceid":"` + a.ids["/hello"],
		`{"body":"error called","traceid":"` + a.ids["/error"],
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// The access-log lines carry no trace id: not shown under a request.
	if strings.Contains(got, `"GET /hello 200"`) {
		t.Errorf("a line without the trace id was shown under a request:\n%s", got)
	}
	// The /hello block holds /hello's line only.
	hello := got[:strings.Index(got, "GET "+s.base+"/error")]
	if strings.Contains(hello, a.ids["/error"]) {
		t.Errorf("/error's trace id appears in /hello's block:\n%s", hello)
	}
}

func TestStoryFailsWithoutSpans(t *testing.T) {
	_, s, out := newStory(t, true)
	s.wait = time.Second
	err := s.run([]string{"/hello"})
	if err == nil || !strings.Contains(err.Error(), "no trace file") {
		t.Fatalf("err = %v, want one naming the missing trace file\n%s", err, out)
	}
	if !strings.Contains(out.String(), "trace: none found") {
		t.Errorf("output does not say the trace is missing:\n%s", out)
	}
}

func TestRequestSpanFor(t *testing.T) {
	sent := time.Now()
	done := sent.Add(10 * time.Millisecond)
	base := func() spanT {
		return spanT{Kind: "Server", Start: sent.Add(time.Millisecond), Attributes: map[string]any{"url.path": "/hello"}}
	}
	if !requestSpanFor(base(), "/hello", sent, done) {
		t.Error("a server span with url.path /hello did not match")
	}
	q := base()
	q.Attributes = map[string]any{"http.target": "/hello?x=1"}
	if !requestSpanFor(q, "/hello", sent, done) {
		t.Error("http.target with a query did not match its path")
	}
	for name, sp := range map[string]spanT{
		"other path": func() spanT { s := base(); s.Attributes = map[string]any{"http.route": "/error"}; return s }(),
		"client":     func() spanT { s := base(); s.Kind = "Client"; return s }(),
		"earlier":    func() spanT { s := base(); s.Start = sent.Add(-time.Minute); return s }(),
	} {
		if requestSpanFor(sp, "/hello", sent, done) {
			t.Errorf("%s: matched", name)
		}
	}
}

func TestLineIDs(t *testing.T) {
	if tid, sid := lineIDs(`{"body":"x","traceid":"abc","spanid":"def"}`); tid != "abc" || sid != "def" {
		t.Errorf("got %q %q", tid, sid)
	}
	if tid, sid := lineIDs(`not json abc`); tid != "" || sid != "" {
		t.Errorf("non-JSON line: got %q %q", tid, sid)
	}
}

func TestSubtree(t *testing.T) {
	spans := []spanT{{SpanID: "a", ParentSpanID: "p"}, {SpanID: "b", ParentSpanID: "a"}, {SpanID: "c", ParentSpanID: "b"}, {SpanID: "d", ParentSpanID: "p"}}
	var got []string
	for _, sp := range Subtree(spans, "a") {
		got = append(got, sp.SpanID)
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Errorf("Subtree(a) = %v, want a,b,c (not the sibling d nor the parent p)", got)
	}
}

type spanT = otlpfile.Span
