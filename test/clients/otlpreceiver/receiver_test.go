package otlpreceiver_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"net"
	"net/http"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/autotel/autotel/test/clients/otlpreceiver"
	"github.com/autotel/autotel/testkit/otlpsink"
)

func start(t *testing.T) (*otlpreceiver.Receiver, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := otlpreceiver.New()
	r.Serve(l)
	t.Cleanup(func() { _ = r.Close() })
	return r, "http://" + l.Addr().String()
}

func post(t *testing.T, url, contentType, encoding string, body []byte) (int, string, []byte) {
	t.Helper()
	a, err := otlpsink.Post(nil, url, contentType, encoding, body)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status, a.Header.Get("Content-Type"), a.Body
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func TestProtobufGzipTraces(t *testing.T) {
	r, base := start(t)
	traceID, _ := hex.DecodeString("5b8efff798038103d269b633813fc60c")
	msg := &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "svc"),
			{Key: "n", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 7}}}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "GET /", TraceId: traceID, SpanId: traceID[:8]}}}},
	}}}
	raw, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(raw)
	_ = w.Close()

	code, ctype, body := post(t, base+"/v1/traces", "application/x-protobuf", "gzip", gz.Bytes())
	if code != http.StatusOK || ctype != "application/x-protobuf" {
		t.Fatalf("status %d, content type %q, body %q", code, ctype, body)
	}
	if err := proto.Unmarshal(body, &coltrace.ExportTraceServiceResponse{}); err != nil {
		t.Errorf("response is not an ExportTraceServiceResponse: %v", err)
	}
	spans := r.Spans()
	if len(spans) != 1 || spans[0].Name != "GET /" || !bytes.Equal(spans[0].TraceId, traceID) {
		t.Fatalf("spans = %v", spans)
	}
	if got := spans[0].Resource; got["service.name"] != "svc" || got["n"] != `{"intValue":"7"}` {
		t.Errorf("resource = %v", got)
	}
}

// OTLP/JSON carries ids as hex; decoding them as protobuf JSON's base64
// would not fail, it would produce wrong ids. This pins the difference.
func TestJSONHexIDs(t *testing.T) {
	r, base := start(t)
	body := []byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
	  "scopeLogs":[{"scope":{"name":"pino"},"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":9,
	  "body":{"stringValue":"hello"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","someFutureField":1}]}]}]}`)
	code, ctype, out := post(t, base+"/v1/logs", "application/json; charset=utf-8", "", body)
	if code != http.StatusOK || ctype != "application/json" {
		t.Fatalf("status %d, content type %q, body %q", code, ctype, out)
	}
	logs := r.LogRecords()
	if len(logs) != 1 {
		t.Fatalf("log records = %v", logs)
	}
	l := logs[0]
	if hex.EncodeToString(l.TraceId) != "5b8efff798038103d269b633813fc60c" || hex.EncodeToString(l.SpanId) != "eee19b7ec3c1b174" {
		t.Errorf("ids = %x / %x", l.TraceId, l.SpanId)
	}
	if l.Body.GetStringValue() != "hello" || l.Scope != "pino" || l.Resource["service.name"] != "svc" || l.SeverityNumber != 9 {
		t.Errorf("record = %v", l)
	}

	code, _, _ = post(t, base+"/v1/metrics", "application/json", "", []byte(`{"resourceMetrics":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"b"}}]},"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asInt":"1"}]}}]}]}]}`))
	if mr := r.MetricResources(); code != http.StatusOK || len(mr) != 1 || mr[0].Resource["a"] != "b" || mr[0].Metrics[0].GetName() != "m" {
		t.Errorf("status %d, metrics %v", code, mr)
	}
}

func TestRejects(t *testing.T) {
	r, base := start(t)
	for _, tc := range []struct {
		name, path, ctype, encoding string
		body                        string
		want                        int
	}{
		{"unknown content type", "/v1/traces", "text/plain", "", "x", http.StatusUnsupportedMediaType},
		{"id that is not hex", "/v1/traces", "application/json", "", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"W46/95gDgQPSabYzgT/GDA=="}]}]}]}`, http.StatusBadRequest},
		{"broken protobuf", "/v1/logs", "application/x-protobuf", "", "\xff\xff\xff", http.StatusBadRequest},
		{"unknown encoding", "/v1/logs", "application/x-protobuf", "br", "", http.StatusBadRequest},
		{"unknown path", "/v1/profiles", "application/x-protobuf", "", "", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, body := post(t, base+tc.path, tc.ctype, tc.encoding, []byte(tc.body)); code != tc.want {
				t.Errorf("status %d (%s), want %d", code, body, tc.want)
			}
		})
	}
	resp, err := http.Get(base + "/v1/traces")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", resp.StatusCode)
	}
	if n := len(r.Requests()); n != 0 {
		t.Errorf("%d rejected requests were stored", n)
	}
}

func TestWaitFor(t *testing.T) {
	r, base := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.WaitFor(ctx, func(r *otlpreceiver.Receiver) bool { return len(r.Spans()) > 0 }); err == nil {
		t.Fatal("WaitFor returned without data")
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		raw, _ := proto.Marshal(&coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "late"}}}}}}})
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/traces", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, func(r *otlpreceiver.Receiver) bool { return len(r.Spans()) > 0 }); err != nil {
		t.Fatal(err)
	}
}
