package wait_test

import (
	"fmt"
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
