// Package otlpreceiver is an OTLP/HTTP receiver for tests: it accepts
// traces, logs and metrics in the binary protobuf and the JSON encodings on
// the standard paths and keeps every request for assertions.
package otlpreceiver

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"sync"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/autotel/autotel/testkit/otlpsink"
)

// Receiver stores what it was sent: the transport is testkit's OTLP sink,
// the decoding the generated OTLP protobuf types. The zero value is not
// usable: use New.
type Receiver struct {
	sink    *otlpsink.Sink
	mu      sync.Mutex
	traces  []*coltrace.ExportTraceServiceRequest
	logs    []*collogs.ExportLogsServiceRequest
	metrics []*colmetrics.ExportMetricsServiceRequest
}

// Request describes one accepted export, for diagnostics.
type Request = otlpsink.Request

// New returns an empty receiver.
func New() *Receiver {
	r := &Receiver{}
	r.sink = otlpsink.New(otlpsink.Paths, r.decode)
	return r
}

func (r *Receiver) decode(x otlpsink.Export) ([]byte, error) {
	switch x.Path {
	case "/v1/traces":
		return decodeInto(x, &r.mu, &r.traces, &coltrace.ExportTraceServiceResponse{})
	case "/v1/logs":
		return decodeInto(x, &r.mu, &r.logs, &collogs.ExportLogsServiceResponse{})
	default:
		return decodeInto(x, &r.mu, &r.metrics, &colmetrics.ExportMetricsServiceResponse{})
	}
}

// decodeInto decodes x as an M, appends it to *store and returns resp in
// x's encoding.
func decodeInto[M proto.Message](x otlpsink.Export, mu *sync.Mutex, store *[]M, resp proto.Message) ([]byte, error) {
	msg := reflect.New(reflect.TypeFor[M]().Elem()).Interface().(M)
	var err error
	if x.MediaType == otlpsink.JSON {
		err = unmarshalJSON(x.Body, msg)
	} else {
		err = proto.Unmarshal(x.Body, msg)
	}
	if err != nil {
		return nil, err
	}
	mu.Lock()
	*store = append(*store, msg)
	mu.Unlock()
	if x.MediaType == otlpsink.JSON {
		return protojson.Marshal(resp)
	}
	return proto.Marshal(resp)
}

// Serve accepts exports on l until Close.
func (r *Receiver) Serve(l net.Listener) { r.sink.Serve(l) }

// Close stops the server and its connections.
func (r *Receiver) Close() error { return r.sink.Close() }

// Handler serves the OTLP paths, for use with httptest.
func (r *Receiver) Handler() http.Handler { return r.sink.Handler() }

// unmarshalJSON decodes OTLP/JSON. It differs from the canonical protobuf
// JSON mapping in one way: trace and span ids are hex, not base64 (a hex id
// is also valid base64, so decoding it as such silently yields wrong bytes).
func unmarshalJSON(body []byte, msg proto.Message) error {
	var tree any
	if err := json.Unmarshal(body, &tree); err != nil {
		return err
	}
	if err := hexIDsToBase64(tree); err != nil {
		return err
	}
	canonical, err := json.Marshal(tree)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(canonical, msg)
}

var idFields = map[string]int{"traceId": 16, "spanId": 8, "parentSpanId": 8}

func hexIDsToBase64(node any) error {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if size, isID := idFields[k]; isID {
				if s, ok := v.(string); ok && s != "" {
					b, err := hex.DecodeString(s)
					if err != nil || len(b) != size {
						return fmt.Errorf("%s %q is not %d hex-encoded bytes", k, s, size)
					}
					n[k] = base64.StdEncoding.EncodeToString(b)
					continue
				}
			}
			if err := hexIDsToBase64(v); err != nil {
				return err
			}
		}
	case []any:
		for _, v := range n {
			if err := hexIDsToBase64(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Traces returns copies of the trace exports received so far.
func (r *Receiver) Traces() []*coltrace.ExportTraceServiceRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return cloneAll(r.traces)
}

// Logs returns copies of the log exports received so far.
func (r *Receiver) Logs() []*collogs.ExportLogsServiceRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return cloneAll(r.logs)
}

// Metrics returns copies of the metric exports received so far.
func (r *Receiver) Metrics() []*colmetrics.ExportMetricsServiceRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return cloneAll(r.metrics)
}

// Requests lists the accepted exports in arrival order.
func (r *Receiver) Requests() []Request { return r.sink.Requests() }

func cloneAll[M proto.Message](in []M) []M {
	out := make([]M, len(in))
	for i, m := range in {
		out[i] = proto.Clone(m).(M)
	}
	return out
}

// WaitFor blocks until cond holds for the receiver or ctx ends; it
// re-evaluates cond on every accepted export.
func (r *Receiver) WaitFor(ctx context.Context, cond func(*Receiver) bool) error {
	return r.sink.WaitFor(ctx, func() bool { return cond(r) })
}

// Span is one received span with the resource it was exported under.
type Span struct {
	Resource map[string]string
	Scope    string
	*tracepb.Span
}

// Spans flattens every received span.
func (r *Receiver) Spans() []Span {
	var out []Span
	for _, req := range r.Traces() {
		for _, rs := range req.ResourceSpans {
			res := Attributes(rs.GetResource())
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					out = append(out, Span{Resource: res, Scope: ss.GetScope().GetName(), Span: s})
				}
			}
		}
	}
	return out
}

// LogRecord is one received log record with the resource it was exported
// under.
type LogRecord struct {
	Resource map[string]string
	Scope    string
	*logspb.LogRecord
}

// LogRecords flattens every received log record.
func (r *Receiver) LogRecords() []LogRecord {
	var out []LogRecord
	for _, req := range r.Logs() {
		for _, rl := range req.ResourceLogs {
			res := Attributes(rl.GetResource())
			for _, sl := range rl.ScopeLogs {
				for _, l := range sl.LogRecords {
					out = append(out, LogRecord{Resource: res, Scope: sl.GetScope().GetName(), LogRecord: l})
				}
			}
		}
	}
	return out
}

// MetricResources returns the resource of every received ResourceMetrics
// with the names of its metrics.
func (r *Receiver) MetricResources() []MetricResource {
	var out []MetricResource
	for _, req := range r.Metrics() {
		for _, rm := range req.ResourceMetrics {
			mr := MetricResource{Resource: Attributes(rm.GetResource())}
			for _, sm := range rm.ScopeMetrics {
				mr.Metrics = append(mr.Metrics, sm.Metrics...)
			}
			out = append(out, mr)
		}
	}
	return out
}

// MetricResource is one resource's metrics.
type MetricResource struct {
	Resource map[string]string
	Metrics  []*metricspb.Metric
}

// Attributes renders a resource's attributes as strings (other value kinds
// in their protobuf JSON form), which is how tests compare them.
func Attributes(res *resourcepb.Resource) map[string]string {
	return KeyValues(res.GetAttributes())
}

// KeyValues renders attributes as strings.
func KeyValues(kvs []*commonpb.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[kv.Key] = AnyString(kv.Value)
	}
	return out
}

// AnyString renders a value: strings as themselves, the rest as JSON.
func AnyString(v *commonpb.AnyValue) string {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return s.StringValue
	}
	b, err := protojson.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}
