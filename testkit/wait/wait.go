// Package wait polls a condition until it holds or a timeout passes.
package wait

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Interval is how often the helpers poll.
const Interval = 100 * time.Millisecond

// Until calls cond every interval until it returns true, and reports
// whether it did before timeout. cond's last state (its second result) is
// returned for the caller's message; an interval of 0 means Interval.
func Until(timeout, interval time.Duration, cond func() (bool, string)) (bool, string) {
	if interval <= 0 {
		interval = Interval
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return true, state
		}
		if !time.Now().Before(deadline) {
			return false, state
		}
		time.Sleep(min(interval, time.Until(deadline)+time.Millisecond))
	}
}

// Err is Until as an error naming what was awaited and cond's last state.
func Err(timeout time.Duration, what string, cond func() (bool, string)) error {
	if ok, state := Until(timeout, 0, cond); !ok {
		if state != "" {
			return fmt.Errorf("timed out after %v waiting for %s; last: %s", timeout, what, state)
		}
		return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
	}
	return nil
}

// TB is the part of testing.TB For uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// For fails t when cond does not hold within timeout; the message names
// what was awaited and cond's last state.
func For(t TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if err := Err(timeout, what, cond); err != nil {
		t.Fatalf("%v", err)
	}
}

// HTTPOK reports whether GET url answers 200 within 2 s: a readiness
// condition for Until and For.
func HTTPOK(url string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// TLSServing is a condition that holds once addr completes a TLS handshake
// (any certificate: it checks liveness, not trust); its state is the last
// dial error.
func TLSServing(addr string) (bool, string) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // liveness only
	if err != nil {
		return false, err.Error()
	}
	_ = conn.Close()
	return true, ""
}

// NoError adapts a condition that reports what is still wrong as an error.
func NoError(cond func() error) func() (bool, string) {
	return func() (bool, string) {
		if err := cond(); err != nil {
			return false, err.Error()
		}
		return true, ""
	}
}

// Listening is a condition that holds once a TCP connection to addr
// (host:port) is accepted; its state is the last dial error.
func Listening(addr string) (bool, string) {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false, err.Error()
	}
	_ = c.Close()
	return true, ""
}
