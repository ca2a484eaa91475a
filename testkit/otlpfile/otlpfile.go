// Package otlpfile reads what the collector's file exporter writes: one
// OTLP/JSON export request per line (ExportTraceServiceRequest or
// ExportLogsServiceRequest, the collector's `format: json`), decoded with
// pdata's own JSON unmarshalers, flattened into spans and log records a
// test can compare.
//
// The file is read while the collector may still be appending to it, so a
// last line without its newline that does not decode is taken as half
// written and left out (Content.Partial says so); any other line that does
// not decode is an error naming its line number.
package otlpfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Span is one span of the file, with the resource's service.name.
type Span struct {
	TraceID      string // 32 hex digits
	SpanID       string // 16 hex digits
	ParentSpanID string // "" for a root span
	Name         string
	Kind         string // "Server", "Client", "Internal", "Producer", "Consumer", "Unspecified"
	StatusCode   string // "Unset", "Ok", "Error"
	StatusMsg    string
	Start, End   time.Time
	Service      string // the resource's service.name
	Scope        string // the instrumentation scope's name
	Attributes   map[string]any
	Resource     map[string]any
}

// Duration is End - Start.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// LogRecord is one log record of the file, with the resource's
// service.name.
type LogRecord struct {
	TraceID    string // "" when the record has none
	SpanID     string
	Time       time.Time // the record's time, else its observed time
	Severity   string    // SeverityText
	Body       string    // the body as a string (AsString for non-strings)
	Service    string
	Scope      string
	Attributes map[string]any
	Resource   map[string]any
}

// Content is everything a file held.
type Content struct {
	Spans []Span
	Logs  []LogRecord
	// Lines is the number of lines decoded; Partial is true when a half
	// written last line was left out.
	Lines   int
	Partial bool
}

// Trace returns the spans of one trace, in file order.
func (c Content) Trace(traceID string) []Span {
	var out []Span
	for _, s := range c.Spans {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

// ReadFile reads path; a file that does not exist yet is an error wrapping
// fs.ErrNotExist (the exporter creates it on its first write).
func ReadFile(path string) (Content, error) {
	f, err := os.Open(path)
	if err != nil {
		return Content{}, fmt.Errorf("otlpfile: %w", err)
	}
	defer func() { _ = f.Close() }()
	c, err := Read(f)
	if err != nil {
		return c, fmt.Errorf("otlpfile: %s: %w", path, err)
	}
	return c, nil
}

// Read decodes OTLP JSON lines from r until EOF.
func Read(r io.Reader) (Content, error) {
	var (
		c    Content
		tu   ptrace.JSONUnmarshaler
		lu   plog.JSONUnmarshaler
		br   = bufio.NewReader(r)
		line int
	)
	for {
		raw, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return c, fmt.Errorf("reading line %d: %w", line+1, rerr)
		}
		complete := rerr == nil // ends with its newline
		if len(bytes.TrimSpace(raw)) > 0 {
			line++
			if err := decodeLine(&c, raw, tu, lu); err != nil {
				if !complete {
					c.Partial = true
					return c, nil
				}
				return c, fmt.Errorf("line %d: %w", line, err)
			}
			c.Lines++
		}
		if !complete {
			return c, nil
		}
	}
}

func decodeLine(c *Content, raw []byte, tu ptrace.JSONUnmarshaler, lu plog.JSONUnmarshaler) error {
	isTraces := bytes.Contains(raw, []byte(`"resourceSpans"`))
	isLogs := bytes.Contains(raw, []byte(`"resourceLogs"`))
	if !isTraces && !isLogs {
		if !bytes.HasSuffix(bytes.TrimSpace(raw), []byte("}")) {
			return errors.New("not a complete JSON object")
		}
		return errors.New(`neither OTLP traces ("resourceSpans") nor logs ("resourceLogs")`)
	}
	var spans []Span
	var logs []LogRecord
	if isTraces {
		td, err := tu.UnmarshalTraces(raw)
		if err != nil {
			return fmt.Errorf("decoding OTLP/JSON traces: %w", err)
		}
		spans = flattenTraces(td)
	}
	if isLogs {
		ld, err := lu.UnmarshalLogs(raw)
		if err != nil {
			return fmt.Errorf("decoding OTLP/JSON logs: %w", err)
		}
		logs = flattenLogs(ld)
	}
	c.Spans = append(c.Spans, spans...)
	c.Logs = append(c.Logs, logs...)
	return nil
}

func serviceName(res pcommon.Resource) string {
	if v, ok := res.Attributes().Get("service.name"); ok {
		return v.AsString()
	}
	return ""
}

func hexOrEmpty[T interface {
	IsEmpty() bool
	String() string
}](id T) string {
	if id.IsEmpty() {
		return ""
	}
	return id.String()
}

func flattenTraces(td ptrace.Traces) []Span {
	var out []Span
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		svc, res := serviceName(rs.Resource()), rs.Resource().Attributes().AsRaw()
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				sp := ss.Spans().At(k)
				out = append(out, Span{
					TraceID:      hexOrEmpty(sp.TraceID()),
					SpanID:       hexOrEmpty(sp.SpanID()),
					ParentSpanID: hexOrEmpty(sp.ParentSpanID()),
					Name:         sp.Name(),
					Kind:         sp.Kind().String(),
					StatusCode:   sp.Status().Code().String(),
					StatusMsg:    sp.Status().Message(),
					Start:        sp.StartTimestamp().AsTime(),
					End:          sp.EndTimestamp().AsTime(),
					Service:      svc,
					Scope:        ss.Scope().Name(),
					Attributes:   sp.Attributes().AsRaw(),
					Resource:     res,
				})
			}
		}
	}
	return out
}

func flattenLogs(ld plog.Logs) []LogRecord {
	var out []LogRecord
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		svc, res := serviceName(rl.Resource()), rl.Resource().Attributes().AsRaw()
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			for k := 0; k < sl.LogRecords().Len(); k++ {
				lr := sl.LogRecords().At(k)
				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				out = append(out, LogRecord{
					TraceID:    hexOrEmpty(lr.TraceID()),
					SpanID:     hexOrEmpty(lr.SpanID()),
					Time:       ts.AsTime(),
					Severity:   lr.SeverityText(),
					Body:       lr.Body().AsString(),
					Service:    svc,
					Scope:      sl.Scope().Name(),
					Attributes: lr.Attributes().AsRaw(),
					Resource:   res,
				})
			}
		}
	}
	return out
}
