// Package receiver is an OTLP/HTTP logs receiver for the agent's tests.
//
// It decodes every request with real OTLP implementations: protobuf bodies
// with the generated go.opentelemetry.io/proto/otlp types (protobuf-go,
// which also rejects invalid UTF-8 in strings) and again with the
// collector's pdata; JSON bodies with pdata's OTLP/JSON decoder (the one
// the collector's otlpreceiver uses, hex trace ids included). A body that
// either decoder rejects is answered 400 and counted in DecodeErrors, so a
// test that checks DecodeErrors()==0 proves the agent's hand-written
// encoding is valid.
//
// Faults can be switched on while it runs: Stop/Restart close and reopen
// the listener on the same port (connection refused in between), SetStatus
// answers every request with an HTTP error (optionally with Retry-After),
// SetDelay holds every response. The transport is testkit/otlpsink, the
// one OTLP test endpoint of the repository.
package receiver

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/autotel/autotel/testkit/otlpsink"
)

// Record is one received log record, flattened.
type Record struct {
	Resource          map[string]any
	Scope             string
	TimeUnixNano      uint64
	ObservedUnixNano  uint64
	SeverityNumber    int32
	SeverityText      string
	Body              any
	Attributes        map[string]any
	DroppedAttributes uint32
	Flags             uint32
	TraceID           string // hex, "" when absent
	SpanID            string
	Encoding          string // "protobuf" or "json"
	Gzip              bool
}

// Str is a string attribute ("" when absent or not a string).
func (r Record) Str(key string) string {
	s, _ := r.Attributes[key].(string)
	return s
}

// ResourceStr is a string resource attribute.
func (r Record) ResourceStr(key string) string {
	s, _ := r.Resource[key].(string)
	return s
}

// ResourceInt is an int resource attribute (0 when absent).
func (r Record) ResourceInt(key string) int64 {
	n, _ := r.Resource[key].(int64)
	return n
}

// BodyString is the body when it is a string.
func (r Record) BodyString() string {
	s, _ := r.Body.(string)
	return s
}

// Request is what one HTTP request carried, for header checks.
type Request struct {
	Header  http.Header
	Records int
}

// Receiver collects the log records POSTed to /v1/logs; the transport
// (listener, TLS, faults, restart) is testkit's OTLP sink.
type Receiver struct {
	sink      *otlpsink.Sink
	mu        sync.Mutex
	records   []Record
	requests  []Request
	rejectOne atomic.Bool
	countOnly bool
	counted   int
}

// Stats are the totals since start.
type Stats struct {
	Records      int `json:"records"`
	Requests     int `json:"requests"`
	DecodeErrors int `json:"decode_errors"`
}

// CountOnly stops keeping records (long benchmarks): Stats still counts.
func (r *Receiver) CountOnly() {
	r.mu.Lock()
	r.countOnly = true
	r.mu.Unlock()
}

// Stats returns the totals.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Records: r.counted, Requests: len(r.requests), DecodeErrors: len(r.sink.DecodeErrors())}
}

func newReceiver() *Receiver {
	r := &Receiver{}
	r.sink = otlpsink.New([]string{"/v1/logs"}, r.decode)
	return r
}

// Start listens on 127.0.0.1 on a free port.
func Start() (*Receiver, error) {
	r := newReceiver()
	if err := r.sink.Listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return r, nil
}

// StartTLS is Start over HTTPS with a fresh self-signed certificate for
// 127.0.0.1; it returns the certificate in PEM, the client's CA file.
func StartTLS() (*Receiver, []byte, error) {
	r := newReceiver()
	caPEM, err := r.sink.ListenTLS()
	if err != nil {
		return nil, nil, err
	}
	return r, caPEM, nil
}

// URL is the base URL, for OTEL_EXPORTER_OTLP_ENDPOINT.
func (r *Receiver) URL() string { return r.sink.URL() }

// Stop takes the receiver down the way a collector shuts down (see
// otlpsink.Sink.Stop); the records received so far stay.
func (r *Receiver) Stop() { r.sink.Stop() }

// Restart listens again on the same port.
func (r *Receiver) Restart() error { return r.sink.Restart() }

// SetStatus makes every request fail with status (0 restores normal
// answers); retryAfter, if not empty, is sent as Retry-After.
func (r *Receiver) SetStatus(status int, retryAfter string) { r.sink.SetStatus(status, retryAfter) }

// SetDelay holds every response for d before answering.
func (r *Receiver) SetDelay(d time.Duration) { r.sink.SetDelay(d) }

// RejectOneNext makes the next successful answer a partial success that
// rejects one record (the records are still stored: the agent must count
// the rejection, the test checks that it did).
func (r *Receiver) RejectOneNext() { r.rejectOne.Store(true) }

// Records returns a copy of everything received.
func (r *Receiver) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.records...)
}

// Requests returns the accepted requests.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// DecodeErrors lists bodies that did not decode (or came with a content
// type or encoding OTLP does not have).
func (r *Receiver) DecodeErrors() []string { return r.sink.DecodeErrors() }

// Reset forgets what was received.
func (r *Receiver) Reset() {
	r.mu.Lock()
	r.records, r.requests, r.counted = nil, nil, 0
	r.mu.Unlock()
	r.sink.Reset()
}

// WaitFor waits until cond holds for the received records or the timeout
// passes; it returns the records either way and whether cond held.
func (r *Receiver) WaitFor(timeout time.Duration, cond func([]Record) bool) ([]Record, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var recs []Record
	err := r.sink.WaitFor(ctx, func() bool { recs = r.Records(); return cond(recs) })
	return recs, err == nil
}

// WaitQuiet waits until no record has arrived for quiet (the sender's
// queue is empty), at most timeout; it reports whether that happened.
func (r *Receiver) WaitQuiet(quiet, timeout time.Duration) bool {
	return r.sink.WaitQuiet(quiet, timeout)
}

// decode is the sink's Decoder: both decoders below must accept the body.
func (r *Receiver) decode(x otlpsink.Export) ([]byte, error) {
	var recs []Record
	var err error
	if x.MediaType == otlpsink.JSON {
		recs, err = decodeJSON(x.Body)
	} else {
		recs, err = decodeProto(x.Body)
	}
	if err != nil {
		return nil, err
	}
	for i := range recs {
		recs[i].Gzip = x.Gzip
	}
	r.mu.Lock()
	r.counted += len(recs)
	if !r.countOnly {
		r.records = append(r.records, recs...)
	}
	r.requests = append(r.requests, Request{Header: x.Header, Records: len(recs)})
	r.mu.Unlock()
	reject := r.rejectOne.Swap(false)

	resp := plogotlp.NewExportResponse()
	if reject {
		resp.PartialSuccess().SetRejectedLogRecords(1)
		resp.PartialSuccess().SetErrorMessage("test rejects one record")
	}
	if x.MediaType == otlpsink.JSON {
		return resp.MarshalJSON()
	}
	return resp.MarshalProto()
}

// decodeProto decodes with protobuf-go into the generated OTLP types, and
// cross-checks the record count with pdata's own protobuf decoder.
func decodeProto(body []byte) ([]Record, error) {
	var req collogspb.ExportLogsServiceRequest
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("protobuf-go: %w", err)
	}
	pd := plogotlp.NewExportRequest()
	if err := pd.UnmarshalProto(body); err != nil {
		return nil, fmt.Errorf("pdata: %w", err)
	}
	var recs []Record
	for _, rl := range req.ResourceLogs {
		res := map[string]any{}
		for _, kv := range rl.GetResource().GetAttributes() {
			res[kv.Key] = anyValue(kv.Value)
		}
		for _, sl := range rl.ScopeLogs {
			for _, lr := range sl.LogRecords {
				attrs := map[string]any{}
				for _, kv := range lr.Attributes {
					attrs[kv.Key] = anyValue(kv.Value)
				}
				recs = append(recs, Record{
					Resource:          res,
					Scope:             sl.GetScope().GetName(),
					TimeUnixNano:      lr.TimeUnixNano,
					ObservedUnixNano:  lr.ObservedTimeUnixNano,
					SeverityNumber:    int32(lr.SeverityNumber),
					SeverityText:      lr.SeverityText,
					Body:              anyValue(lr.Body),
					Attributes:        attrs,
					DroppedAttributes: lr.DroppedAttributesCount,
					Flags:             lr.Flags,
					TraceID:           hexOrEmpty(lr.TraceId),
					SpanID:            hexOrEmpty(lr.SpanId),
					Encoding:          "protobuf",
				})
			}
		}
	}
	if n := pd.Logs().LogRecordCount(); n != len(recs) {
		return nil, fmt.Errorf("pdata decoded %d records, protobuf-go %d", n, len(recs))
	}
	return recs, nil
}

func hexOrEmpty(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}

func anyValue(v *commonpb.AnyValue) any {
	if v == nil {
		return nil
	}
	switch x := v.Value.(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		out := []any{}
		for _, e := range x.ArrayValue.Values {
			out = append(out, anyValue(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		out := map[string]any{}
		for _, kv := range x.KvlistValue.Values {
			out[kv.Key] = anyValue(kv.Value)
		}
		return out
	}
	return nil
}

// decodeJSON uses pdata's OTLP/JSON decoder.
func decodeJSON(body []byte) ([]Record, error) {
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalJSON(body); err != nil {
		return nil, fmt.Errorf("pdata OTLP/JSON: %w", err)
	}
	logs := req.Logs()
	if logs.LogRecordCount() == 0 && len(bytes.TrimSpace(body)) > 2 {
		return nil, errors.New("OTLP/JSON body decoded to zero records")
	}
	var recs []Record
	for i := 0; i < logs.ResourceLogs().Len(); i++ {
		rl := logs.ResourceLogs().At(i)
		res := rl.Resource().Attributes().AsRaw()
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			for k := 0; k < sl.LogRecords().Len(); k++ {
				lr := sl.LogRecords().At(k)
				recs = append(recs, pdataRecord(res, sl.Scope().Name(), lr))
			}
		}
	}
	return recs, nil
}

func pdataRecord(res map[string]any, scope string, lr plog.LogRecord) Record {
	r := Record{
		Resource:          res,
		Scope:             scope,
		TimeUnixNano:      uint64(lr.Timestamp()),
		ObservedUnixNano:  uint64(lr.ObservedTimestamp()),
		SeverityNumber:    int32(lr.SeverityNumber()),
		SeverityText:      lr.SeverityText(),
		Body:              pdataValue(lr.Body()),
		Attributes:        lr.Attributes().AsRaw(),
		DroppedAttributes: lr.DroppedAttributesCount(),
		Flags:             uint32(lr.Flags()),
		Encoding:          "json",
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		r.TraceID = hex.EncodeToString(id[:])
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		r.SpanID = hex.EncodeToString(id[:])
	}
	return r
}

func pdataValue(v pcommon.Value) any {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return nil
	case pcommon.ValueTypeBytes:
		return v.Bytes().AsRaw()
	}
	return v.AsRaw()
}

// SortedKeys is a helper for stable failure messages.
func SortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
