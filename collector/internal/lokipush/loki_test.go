package lokipush

import (
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
)

// TestLokiModeAnswers pins the answers RESPONSES.md documents.
func TestLokiModeAnswers(t *testing.T) {
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	l := DefaultLimits()
	l.Now = func() time.Time { return now }
	tests := []struct {
		name       string
		streams    []push.Stream
		wantStatus int
		wantBody   string
		wantKept   int
	}{
		{"valid", []push.Stream{{Labels: `{job="a"}`, Entries: []push.Entry{{Timestamp: now, Line: "x"}}}}, 0, "", 1},
		{"selector that does not parse", []push.Stream{
			{Labels: `{job="a"}`, Entries: []push.Entry{{Timestamp: now, Line: "x"}}},
			{Labels: `{ключ="v"}`, Entries: []push.Entry{{Timestamp: now, Line: "x"}}},
		}, 400, `couldn't parse labels: 1:2: parse error: unexpected character inside braces: 'к'`, 0},
		{"structured-metadata name Loki cannot normalise", []push.Stream{
			{Labels: `{job="a"}`, Entries: []push.Entry{{Timestamp: now, Line: "x"}, {Timestamp: now, Line: "y", StructuredMetadata: push.LabelsAdapter{{Name: "____", Value: "v"}}}}},
		}, 500, `normalization for label name "____" resulted in invalid name "____"`, 0},
		{"empty structured-metadata name", []push.Stream{
			{Labels: `{job="a"}`, Entries: []push.Entry{{Timestamp: now, Line: "y", StructuredMetadata: push.LabelsAdapter{{Name: "", Value: "v"}}}}},
		}, 500, `label name is empty`, 0},
		{"one entry too old", []push.Stream{
			{Labels: `{job="old"}`, Entries: []push.Entry{{Timestamp: now.Add(-8 * 24 * time.Hour), Line: "x"}, {Timestamp: now, Line: "y"}}},
		}, 400, `entry for stream '{job="old", service_name="old"}' has timestamp too old: 2026-11-29T01:00:00Z, oldest acceptable timestamp is: 2026-11-30T01:00:00Z`, 1},
		{"grouped", []push.Stream{
			{Labels: `{app="a"}`, Entries: []push.Entry{
				{Timestamp: now, Line: strings.Repeat("x", 262145)}, {Timestamp: now, Line: strings.Repeat("x", 262145)},
				{Timestamp: now.Add(time.Hour), Line: "future"}, {Timestamp: now, Line: "ok"},
			}},
		}, 400, `2 errors like: max entry size '262144' bytes exceeded for stream '{app="a", service_name="a"}' while adding an entry with length '262145' bytes; ` +
			`1 errors like: entry for stream '{app="a", service_name="a"}' has timestamp too new: 2026-12-07T02:00:00Z`, 1},
		{"too many labels refuses the stream", []push.Stream{
			{Labels: `{a="1", b="2", c="3", d="4", e="5", f="6", g="7", h="8", i="9", j="10", k="11", l="12", m="13", n="14", o="15", p="16"}`, Entries: []push.Entry{{Timestamp: now, Line: "x"}, {Timestamp: now, Line: "y"}}},
			{Labels: `{job="b"}`, Entries: []push.Entry{{Timestamp: now, Line: "z"}}},
		}, 400, `entry for stream '{a="1", b="2", c="3", d="4", e="5", f="6", g="7", h="8", i="9", j="10", k="11", l="12", m="13", n="14", o="15", p="16", service_name="unknown_service"}' has 16 label names; limit 15`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans := l.validate(&push.PushRequest{Streams: tt.streams})
			kept := 0
			for _, st := range ans.keep {
				kept += len(st.Entries)
			}
			if ans.status != tt.wantStatus || ans.body != tt.wantBody || kept != tt.wantKept {
				t.Errorf("answer %d %q, kept %d\nwant   %d %q, kept %d", ans.status, ans.body, kept, tt.wantStatus, tt.wantBody, tt.wantKept)
			}
		})
	}
}

func TestStoredStructuredMetadataNamesAreLokis(t *testing.T) {
	l := DefaultLimits()
	now := time.Now()
	ans := l.validate(&push.PushRequest{Streams: []push.Stream{{Labels: `{job="a"}`, Entries: []push.Entry{
		{Timestamp: now, Line: "x", StructuredMetadata: push.LabelsAdapter{{Name: "http.method", Value: "GET"}, {Name: "a__b", Value: "1"}, {Name: "9x", Value: "2"}}},
	}}}})
	got := map[string]string{}
	for _, p := range ans.keep[0].Entries[0].StructuredMetadata {
		got[p.Name] = p.Value
	}
	if got["http_method"] != "GET" || got["a_b"] != "1" || got["key_9x"] != "2" || len(got) != 3 {
		t.Errorf("stored names %v", got)
	}
}
