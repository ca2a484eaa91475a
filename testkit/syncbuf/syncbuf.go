// Package syncbuf is a byte buffer that a running process's stdout and
// stderr goroutines and the test reading it may use at the same time.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer whose contents may be read while it is written.
// The zero value is an empty buffer ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Len is the number of bytes written so far.
func (s *Buffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// Tail returns at most the last n bytes written, for failure messages
// that should show how a process ended without its whole log.
func (s *Buffer) Tail(n int) string { return Tail(s.String(), n) }

// Tail returns at most the last n bytes of str.
func Tail(str string, n int) string {
	if len(str) > n {
		return str[len(str)-n:]
	}
	return str
}
