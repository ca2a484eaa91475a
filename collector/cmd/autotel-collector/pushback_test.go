package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func newTestPushback(t *testing.T, delay time.Duration) *pushback {
	t.Helper()
	f := newPushbackFactory()
	cfg := f.CreateDefaultConfig().(*pushbackConfig)
	cfg.RetryAfter = delay
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ext, err := f.Create(context.Background(), extension.Settings{ID: componentID(t)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ext.(*pushback)
}

func TestPushbackHTTP(t *testing.T) {
	p := newTestPushback(t, 7*time.Second)
	wrap, err := p.GetHTTPHandler(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		preset string
		want   string
	}{
		{http.StatusServiceUnavailable, "", "7"},
		{http.StatusTooManyRequests, "", "7"},
		{http.StatusServiceUnavailable, "2", "2"}, // the receiver's own (from a RetryInfo) stands
		{http.StatusOK, "", ""},
		{http.StatusBadRequest, "", ""},
	} {
		h, err := wrap(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if tc.preset != "" {
				w.Header().Set("Retry-After", tc.preset)
			}
			w.WriteHeader(tc.status)
		}))
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/logs", nil))
		if got := rec.Header().Get("Retry-After"); got != tc.want || rec.Code != tc.status {
			t.Errorf("status %d (Retry-After preset %q): got %d with Retry-After %q, want %q", tc.status, tc.preset, rec.Code, got, tc.want)
		}
	}
}

func TestPushbackGRPC(t *testing.T) {
	p := newTestPushback(t, 3*time.Second)
	delayOf := func(err error) time.Duration {
		for _, d := range status.Convert(err).Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				return ri.GetRetryDelay().AsDuration()
			}
		}
		return 0
	}
	call := func(err error) error {
		_, got := p.unary(context.Background(), nil, nil, func(context.Context, any) (any, error) { return nil, err })
		return got
	}
	refused := call(status.Error(codes.Unavailable, "data refused due to high memory usage"))
	if status.Code(refused) != codes.Unavailable || delayOf(refused) != 3*time.Second {
		t.Errorf("Unavailable: got %v with delay %v, want Unavailable and 3s", refused, delayOf(refused))
	}
	if got := call(status.Error(codes.ResourceExhausted, "full")); delayOf(got) != 3*time.Second {
		t.Errorf("ResourceExhausted: delay %v, want 3s", delayOf(got))
	}
	own, _ := status.New(codes.Unavailable, "busy").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
	if got := call(own.Err()); delayOf(got) != time.Second || len(status.Convert(got).Details()) != 1 {
		t.Errorf("an existing RetryInfo was changed: %v", status.Convert(got).Details())
	}
	if got := call(status.Error(codes.InvalidArgument, "bad")); delayOf(got) != 0 {
		t.Errorf("InvalidArgument got a retry delay")
	}
	if got := call(nil); got != nil {
		t.Errorf("success became %v", got)
	}
}

func TestPushbackConfig(t *testing.T) {
	if err := (&pushbackConfig{RetryAfter: 500 * time.Millisecond}).Validate(); err == nil {
		t.Error("retry_after under 1s accepted; Retry-After counts whole seconds")
	}
}

func componentID(t *testing.T) component.ID {
	t.Helper()
	return component.NewID(pushbackType)
}
