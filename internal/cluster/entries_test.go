package cluster

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrintEntries(t *testing.T) {
	// What VictoriaLogs answers: one object per line; its encoder escapes
	// quotes, backslashes and control and HTML characters as \uXXXX.
	in := `{"_time":"2026-01-01T00:00:00Z","_stream":"{container=\"sample\",pod=\"p\"}","_msg":"{\"body\":\"hello called\",\"x\":\"a\u003cb\"}"}
{"_stream":"{pod=\"p\"}","_msg":"Traceback:\n\tline \"2\" ünïcode \\ end"}

{"_msg":"no stream"}
`
	var out bytes.Buffer
	if err := PrintEntries(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := `{container="sample",pod="p"} {"body":"hello called","x":"a<b"}
{pod="p"} Traceback:
	line "2" ünïcode \ end
 no stream
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestPrintEntriesRejectsGarbage(t *testing.T) {
	err := PrintEntries(strings.NewReader(`{"_msg":"ok"}`+"\n"+`<html>502</html>`), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "entry 2") {
		t.Errorf("want an error naming entry 2, got %v", err)
	}
}
