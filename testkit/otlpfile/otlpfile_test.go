package otlpfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fixture = "testdata/export.jsonl"

func TestReadFileFixture(t *testing.T) {
	c, err := ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if c.Lines != 3 || c.Partial {
		t.Fatalf("Lines=%d Partial=%v, want 3 lines, not partial", c.Lines, c.Partial)
	}
	if len(c.Spans) != 3 {
		t.Fatalf("got %d spans, want 3: %+v", len(c.Spans), c.Spans)
	}
	hello := c.Spans[0]
	if hello.TraceID != "5b8efff798038103d269b633813fc60c" || hello.SpanID != "eee19b7ec3c1b174" || hello.ParentSpanID != "" {
		t.Errorf("hello ids = %q %q %q", hello.TraceID, hello.SpanID, hello.ParentSpanID)
	}
	if hello.Name != "GET /hello" || hello.Kind != "Server" || hello.StatusCode != "Unset" || hello.Service != "sample" {
		t.Errorf("hello = %+v", hello)
	}
	if hello.Scope != "opentelemetry.instrumentation.flask" {
		t.Errorf("hello scope = %q", hello.Scope)
	}
	if d := hello.Duration(); d != 2500*time.Microsecond {
		t.Errorf("hello duration = %v, want 2.5ms", d)
	}
	if got := hello.Attributes["http.status_code"]; got != int64(200) {
		t.Errorf("hello http.status_code = %#v, want int64(200)", got)
	}
	if got := hello.Resource["k8s.pod.name"]; got != "sample-656f58b97c-9mr6d" {
		t.Errorf("hello resource k8s.pod.name = %#v", got)
	}

	errTrace := c.Trace("0af7651916cd43dd8448eb211c80319c")
	if len(errTrace) != 2 {
		t.Fatalf("Trace(error) = %d spans, want 2", len(errTrace))
	}
	if errTrace[0].StatusCode != "Error" || errTrace[0].StatusMsg != "ZeroDivisionError: division by zero" {
		t.Errorf("error span status = %q %q", errTrace[0].StatusCode, errTrace[0].StatusMsg)
	}
	if errTrace[1].Kind != "Internal" || errTrace[1].ParentSpanID != "b7ad6b7169203331" {
		t.Errorf("child span = %+v", errTrace[1])
	}
	if n := len(c.Trace("00000000000000000000000000000001")); n != 0 {
		t.Errorf("Trace(unknown) = %d spans, want 0", n)
	}

	if len(c.Logs) != 2 {
		t.Fatalf("got %d log records, want 2: %+v", len(c.Logs), c.Logs)
	}
	l0, l1 := c.Logs[0], c.Logs[1]
	if l0.TraceID != hello.TraceID || l0.SpanID != hello.SpanID || l0.Body != "hello called" || l0.Severity != "INFO" || l0.Service != "sample" {
		t.Errorf("log 0 = %+v", l0)
	}
	if !l0.Time.Equal(time.Unix(0, 1716601745001000000)) {
		t.Errorf("log 0 time = %v", l0.Time)
	}
	if l1.TraceID != "" || l1.SpanID != "" {
		t.Errorf("log 1 has ids %q %q, want none", l1.TraceID, l1.SpanID)
	}
	if !l1.Time.Equal(time.Unix(0, 1716601745003000000)) {
		t.Errorf("log 1 time = %v, want its observed time", l1.Time)
	}
}

func TestReadToleratesHalfWrittenLastLine(t *testing.T) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	// The first two lines whole, the third cut in the middle, no newline:
	// what a reader sees while the exporter writes.
	in := append(append(append([]byte{}, lines[0]...), lines[1]...), lines[2][:len(lines[2])/2]...)
	c, err := Read(bytes.NewReader(in))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !c.Partial || c.Lines != 2 || len(c.Spans) != 3 || len(c.Logs) != 0 {
		t.Fatalf("Partial=%v Lines=%d spans=%d logs=%d, want true 2 3 0", c.Partial, c.Lines, len(c.Spans), len(c.Logs))
	}

	// A whole last line without its newline is read, not dropped.
	c, err = Read(bytes.NewReader(bytes.TrimSuffix(data, []byte("\n"))))
	if err != nil || c.Partial || c.Lines != 3 || len(c.Logs) != 2 {
		t.Fatalf("no trailing newline: err=%v Partial=%v Lines=%d logs=%d", err, c.Partial, c.Lines, len(c.Logs))
	}
}

func TestReadRejectsBrokenCompleteLine(t *testing.T) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	broken := append(append([]byte{}, lines[0]...), []byte("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"zz\"\n")...)
	broken = append(broken, lines[1]...)
	_, err = Read(bytes.NewReader(broken))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want an error naming line 2", err)
	}

	_, err = Read(strings.NewReader("{\"hello\":1}\n"))
	if err == nil || !strings.Contains(err.Error(), "resourceSpans") {
		t.Fatalf("err = %v, want one saying the line is neither traces nor logs", err)
	}
}

func TestReadEmptyAndMissing(t *testing.T) {
	c, err := Read(strings.NewReader("\n\n"))
	if err != nil || c.Lines != 0 || len(c.Spans) != 0 {
		t.Fatalf("blank input: %+v, %v", c, err)
	}
	_, err = ReadFile(filepath.Join(t.TempDir(), "absent.jsonl"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}
