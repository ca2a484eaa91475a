package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The `pushback` extension tells OTLP senders when to come back. The OTLP
// receiver refuses data it cannot take (memory_limiter, a full sending
// queue) with HTTP 503 / gRPC Unavailable but no delay, so SDKs fall back to
// their own short backoff and hammer a collector that is already
// struggling. The receiver already writes Retry-After when the refusal
// carries a gRPC RetryInfo, but no component in the pipeline attaches one.
// This extension is a server middleware (confighttp/configgrpc
// `middlewares`), so the receiver is used as released, not forked: it adds
// `Retry-After: <seconds>` to HTTP 429/503 answers that lack one, and a
// RetryInfo detail to gRPC Unavailable/ResourceExhausted errors that lack
// one; OTLP exporters (the Go, Python, Java SDKs) honour both.
var pushbackType = component.MustNewType("pushback")

type pushbackConfig struct {
	// RetryAfter is the delay suggested to refused senders.
	RetryAfter time.Duration `mapstructure:"retry_after"`
}

func (c *pushbackConfig) Validate() error {
	if c.RetryAfter < time.Second {
		return errors.New("pushback: retry_after must be at least 1s (Retry-After counts whole seconds)")
	}
	return nil
}

func newPushbackFactory() extension.Factory {
	return extension.NewFactory(pushbackType,
		func() component.Config { return &pushbackConfig{RetryAfter: 5 * time.Second} },
		func(_ context.Context, _ extension.Settings, cfg component.Config) (extension.Extension, error) {
			return &pushback{delay: cfg.(*pushbackConfig).RetryAfter}, nil
		},
		component.StabilityLevelAlpha)
}

type pushback struct {
	component.StartFunc
	component.ShutdownFunc
	delay time.Duration
}

var (
	_ extensionmiddleware.HTTPServer = (*pushback)(nil)
	_ extensionmiddleware.GRPCServer = (*pushback)(nil)
)

func (p *pushback) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	seconds := strconv.Itoa(int(p.delay / time.Second))
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&retryAfterWriter{ResponseWriter: w, seconds: seconds}, r)
		}), nil
	}, nil
}

// retryAfterWriter adds Retry-After when the status is written.
type retryAfterWriter struct {
	http.ResponseWriter
	seconds string
	wrote   bool
}

func (w *retryAfterWriter) WriteHeader(code int) {
	if !w.wrote && (code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", w.seconds)
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *retryAfterWriter) Write(b []byte) (int, error) {
	w.wrote = true // an implicit 200
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *retryAfterWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (p *pushback) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(p.unary)}, nil
}

func (p *pushback) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	return resp, p.withRetryInfo(err)
}

// withRetryInfo adds a RetryInfo detail to a throttling status without one.
func (p *pushback) withRetryInfo(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok || (st.Code() != codes.Unavailable && st.Code() != codes.ResourceExhausted) {
		return err
	}
	for _, d := range st.Details() {
		if _, has := d.(*errdetails.RetryInfo); has {
			return err
		}
	}
	withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(p.delay)})
	if derr != nil {
		return err
	}
	return withInfo.Err()
}
