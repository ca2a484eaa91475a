// Package ports finds free loopback TCP ports for test servers.
package ports

import (
	"fmt"
	"net"
)

// TB is the part of testing.TB the helpers use, so that the package does
// not import testing.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Pick returns a TCP port on 127.0.0.1 that was free a moment ago: the
// kernel chose it for a listener that is closed again before returning.
// Another process may take it in between; callers bind it promptly.
func Pick() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Free is Pick for tests: it fails t when no port can be had.
func Free(t TB) int {
	t.Helper()
	p, err := Pick()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// Addr is Free as "127.0.0.1:PORT".
func Addr(t TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", Free(t))
}
