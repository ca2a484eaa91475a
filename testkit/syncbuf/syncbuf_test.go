package syncbuf_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/autotel/autotel/testkit/syncbuf"
)

// Run with -race: concurrent writers and a reader must not race.
func TestConcurrentWrites(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("ab"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if b.Len() != 8*100*2 || strings.Count(b.String(), "ab") != 800 {
		t.Fatalf("lost writes: len %d", b.Len())
	}
}

func TestTail(t *testing.T) {
	var b syncbuf.Buffer
	_, _ = b.Write([]byte("0123456789"))
	if got := b.Tail(3); got != "789" {
		t.Errorf("Tail(3) = %q", got)
	}
	if got := b.Tail(30); got != "0123456789" {
		t.Errorf("Tail(30) = %q", got)
	}
}
