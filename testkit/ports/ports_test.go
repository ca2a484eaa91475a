package ports_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/autotel/autotel/testkit/ports"
)

func TestFreeIsBindable(t *testing.T) {
	seen := map[int]bool{}
	for range 5 {
		p := ports.Free(t)
		if p <= 0 || p > 65535 {
			t.Fatalf("port %d out of range", p)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d from Free cannot be bound: %v", p, err)
		}
		l.Close()
		seen[p] = true
	}
	if len(seen) < 2 {
		t.Errorf("five calls gave one port %v: the kernel should pick different ones", seen)
	}
	if a := ports.Addr(t); !strings.HasPrefix(a, "127.0.0.1:") {
		t.Errorf("Addr = %q, want 127.0.0.1:PORT", a)
	}
}
