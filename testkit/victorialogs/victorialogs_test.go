package victorialogs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/victorialogs"
)

// A real VictoriaLogs: push one Loki line, read it back with its labels,
// and check the process is gone after the test's cleanup stop.
func TestPushQueryStop(t *testing.T) {
	bin, err := victorialogs.Bin("../..")
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	t.Run("server", func(t *testing.T) {
		s := victorialogs.Start(t, bin)
		pid = s.Proc.Pid()
		line := `{"body":"hello","attributes":{"k":"v"}}`
		push := map[string]any{"streams": []any{map[string]any{
			"stream": map[string]string{"job": "kit", "pod": "p-1"},
			"values": [][]string{{fmt.Sprint(time.Now().UnixNano()), line}},
		}}}
		b, _ := json.Marshal(push)
		resp, err := http.Post(s.PushURL(), "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("push: HTTP %d", resp.StatusCode)
		}
		rows := s.QueryT(t, `job:="kit"`)
		if len(rows) != 1 {
			t.Fatalf("got %d rows, want 1: %v", len(rows), rows)
		}
		if rows[0].Msg() != line {
			t.Errorf("_msg = %q, want the pushed line verbatim %q", rows[0].Msg(), line)
		}
		if l := rows[0].Labels(); l["pod"] != "p-1" || l["job"] != "kit" || l["_msg"] != "" {
			t.Errorf("labels = %v", l)
		}
		if rows := s.QueryT(t, `job:="other"`); len(rows) != 0 {
			t.Errorf("query for another job matched %v", rows)
		}
		if _, err := s.Query(`job:=(`); err == nil {
			t.Error("a malformed LogsQL query gave no error")
		}
		// Stopped and started again where it was, the data is still there.
		if err := s.Proc.Stop(proc.StopGrace); err != nil {
			t.Fatal(err)
		}
		again := victorialogs.StartAt(t, bin, s.Addr, s.DataDir)
		if rows := again.QueryT(t, `job:="kit"`); len(rows) != 1 || rows[0].Msg() != line {
			t.Errorf("after a restart on %s: %v", again.Addr, rows)
		}
		pid = again.Proc.Pid()
	})
	if proc.Alive(pid) {
		t.Errorf("VictoriaLogs pid %d still running after the test's cleanup", pid)
	}
}
