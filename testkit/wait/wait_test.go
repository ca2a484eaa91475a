package wait_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/wait"
)

func TestUntilHolds(t *testing.T) {
	n := 0
	ok, state := wait.Until(time.Minute, time.Millisecond, func() (bool, string) {
		n++
		return n == 3, fmt.Sprint(n)
	})
	if !ok || state != "3" || n != 3 {
		t.Fatalf("Until = %v, %q after %d calls; want true, \"3\" after 3", ok, state, n)
	}
}

func TestErrNamesWhatAndLastState(t *testing.T) {
	calls := 0
	err := wait.Err(50*time.Millisecond, "the moon", func() (bool, string) { calls++; return false, "still night" })
	if err == nil || !strings.Contains(err.Error(), "the moon") || !strings.Contains(err.Error(), "still night") {
		t.Fatalf("Err = %v; want a timeout naming what and the last state", err)
	}
	if calls < 1 {
		t.Fatal("cond never called")
	}
}

type fakeT struct{ msg string }

func (f *fakeT) Helper()                        {}
func (f *fakeT) Fatalf(format string, a ...any) { f.msg = fmt.Sprintf(format, a...) }

func TestForFails(t *testing.T) {
	var ft fakeT
	wait.For(&ft, 10*time.Millisecond, "x", func() (bool, string) { return false, "" })
	if !strings.Contains(ft.msg, "waiting for x") {
		t.Fatalf("For did not fail t: %q", ft.msg)
	}
	ft = fakeT{}
	wait.For(&ft, time.Second, "y", func() (bool, string) { return true, "" })
	if ft.msg != "" {
		t.Fatalf("For failed although cond held: %q", ft.msg)
	}
}

func TestHTTPOK(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if !wait.HTTPOK(srv.URL + "/ok") {
		t.Error("200 not OK")
	}
	if wait.HTTPOK(srv.URL + "/starting") {
		t.Error("503 taken for OK")
	}
	srv.Close()
	if wait.HTTPOK(srv.URL + "/ok") {
		t.Error("a closed server taken for OK")
	}
}

func TestTLSServing(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	if ok, state := wait.TLSServing(addr); !ok {
		t.Fatalf("TLS server not seen serving: %s", state)
	}
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	if ok, _ := wait.TLSServing(plain.Listener.Addr().String()); ok {
		t.Error("a plain HTTP server taken for TLS")
	}
	srv.Close()
	if ok, state := wait.TLSServing(addr); ok || state == "" {
		t.Errorf("closed server: %v, %q", ok, state)
	}
}

func TestNoError(t *testing.T) {
	n := 0
	err := wait.Err(time.Minute, "three calls", wait.NoError(func() error {
		if n++; n < 3 {
			return fmt.Errorf("call %d", n)
		}
		return nil
	}))
	if err != nil || n != 3 {
		t.Fatalf("Err = %v after %d calls", err, n)
	}
	err = wait.Err(10*time.Millisecond, "never", wait.NoError(func() error { return fmt.Errorf("broken") }))
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Err = %v, want the last error", err)
	}
}

func TestListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if ok, state := wait.Listening(addr); !ok {
		t.Fatalf("listener not seen: %s", state)
	}
	l.Close()
	if ok, state := wait.Listening(addr); ok || state == "" {
		t.Errorf("closed listener: %v, %q", ok, state)
	}
}
