package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/autotel/autotel/collector/internal/lokipush"
	"github.com/autotel/autotel/testkit/ports"
)

// TestPushbackTellsSendersWhenToComeBack: with the sending queue full
// (one slot, one consumer stuck on a slow store), the real collector's OTLP
// receiver refuses, and the pushback middleware makes the refusal say when
// to retry: Retry-After over HTTP, RetryInfo over gRPC.
func TestPushbackTellsSendersWhenToComeBack(t *testing.T) {
	s, err := lokipush.Start(func(string, int) (int, string) {
		time.Sleep(3 * time.Second)
		return 0, ""
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	httpPort, grpcPort, healthPort, metricsPort := ports.Free(t), ports.Free(t), ports.Free(t), ports.Free(t)
	cfg := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http: {endpoint: 127.0.0.1:%d, middlewares: [{id: pushback}]}
      grpc: {endpoint: 127.0.0.1:%d, middlewares: [{id: pushback}]}
exporters:
  loki:
    endpoint: %s
    sending_queue: {enabled: true, queue_size: 1, num_consumers: 1}
`, httpPort, grpcPort, s.URL) + serviceYAML(healthPort, metricsPort, "{receivers: [otlp], exporters: [loki]}", "pushback: {retry_after: 9s}")
	startCollector(t, cfg, fmt.Sprintf("http://127.0.0.1:%d/", healthPort), fmt.Sprintf("127.0.0.1:%d", metricsPort))

	body := seedRequest(t, 0, 10)
	var refusedHTTP *http.Response
	for i := 0; i < 10 && refusedHTTP == nil; i++ {
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/logs", httpPort), "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			refusedHTTP = resp
		}
	}
	if refusedHTTP == nil {
		t.Fatal("no request refused with the queue full")
	}
	if refusedHTTP.StatusCode != http.StatusServiceUnavailable || refusedHTTP.Header.Get("Retry-After") != "9" {
		t.Errorf("refusal: HTTP %d, Retry-After %q; want 503 with Retry-After 9", refusedHTTP.StatusCode, refusedHTTP.Header.Get("Retry-After"))
	}

	cc, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := plogotlp.NewGRPCClient(cc)
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	var refused error
	for i := 0; i < 10 && refused == nil; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, refused = client.Export(ctx, req)
		cancel()
	}
	if refused == nil {
		t.Fatal("no gRPC export refused with the queue full")
	}
	st := status.Convert(refused)
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if st.Code() != codes.Unavailable || delay != 9*time.Second {
		t.Errorf("gRPC refusal %v with retry delay %v; want Unavailable with RetryInfo 9s", st, delay)
	}
}
