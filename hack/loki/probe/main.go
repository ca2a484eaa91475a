// Command probe pushes edge-case log streams to a running Loki, exactly as
// autotel's loki exporter sends them (snappy-compressed protobuf to
// /loki/api/v1/push), and prints, as Markdown, each request, Loki's status
// code and exact response body, and what a query afterwards finds stored.
// docs/loki-responses.md records its output; the exporter's handling of
// Loki's refusals is built on those facts, not on guesses.
//
// Usage: go run ./probe -addr http://127.0.0.1:3100   (from hack/loki)
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
)

type entry struct {
	age  time.Duration // how long before the push's "now" (negative: in the future)
	line string
	sm   []push.LabelAdapter
}

type stream struct {
	labels  string // Loki's text form, e.g. {probe="x", a="b"}
	entries []entry
}

type step struct {
	what    string
	streams []stream
}

type probeCase struct {
	id, title string
	steps     []step
	// query, when set, replaces the default query back {probe="<run>-<id>"}.
	query string
	// plain asks for Loki's default response encoding instead of
	// categorized labels (which shows structured metadata apart).
	plain bool
}

func main() {
	addr := flag.String("addr", "http://127.0.0.1:3100", "Loki's HTTP address")
	only := flag.String("case", "", "run only the case with this id")
	flag.Parse()
	if err := run(*addr, *only); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(addr, only string) error {
	// One run id keeps the streams of repeated runs against the same Loki
	// apart (and clear of Loki's out-of-order window from an earlier run).
	run := fmt.Sprintf("r%d", time.Now().Unix())
	for _, c := range cases(run) {
		if only != "" && c.id != only {
			continue
		}
		fmt.Printf("### %s: %s\n\n", c.id, c.title)
		now := time.Now()
		for i, s := range c.steps {
			if len(c.steps) > 1 {
				fmt.Printf("Push %d: %s\n\n", i+1, s.what)
			} else {
				fmt.Printf("Push: %s\n\n", s.what)
			}
			describe(s.streams)
			status, ctype, body, err := pushStreams(addr, now, s.streams)
			if err != nil {
				return fmt.Errorf("case %s: %w", c.id, err)
			}
			fmt.Printf("Response: **%d** (Content-Type `%s`), body:\n\n```\n%s\n```\n\n", status, ctype, clip(body, 3000))
		}
		// The querier asks the ingesters only about the last 3h
		// (query_ingesters_within); older entries are found only once
		// flushed to the store, so flush before reading back.
		if err := flush(addr); err != nil {
			return fmt.Errorf("case %s: %w", c.id, err)
		}
		q, shown := fmt.Sprintf(`{probe=%q}`, run+"-"+c.id), fmt.Sprintf(`{probe="<run>-%s"}`, c.id)
		if c.query != "" {
			q, shown = c.query, strings.ReplaceAll(c.query, run, "<run>")
		}
		stored, err := query(addr, q, now, !c.plain)
		if err != nil {
			return fmt.Errorf("case %s: query back: %w", c.id, err)
		}
		enc := "categorize-labels encoding"
		if c.plain {
			enc = "default encoding"
		}
		fmt.Printf("Stored (query_range `%s`, forward, %s):\n\n```\n%s```\n\n", shown, enc, stored)
	}
	return nil
}

// lbl builds a stream's label text with the case's probe label first.
func lbl(run, id string, extra ...string) string {
	parts := append([]string{fmt.Sprintf("probe=%q", run+"-"+id)}, extra...)
	return "{" + strings.Join(parts, ", ") + "}"
}

func cases(run string) []probeCase {
	ok := func(id, line string) entry { return entry{age: time.Second, line: id + " " + line} }
	sm := func(id, key, value string) entry {
		return entry{age: time.Second, line: id + " with metadata " + key, sm: []push.LabelAdapter{{Name: key, Value: value}}}
	}
	var c []probeCase
	add := func(id, title string, steps ...step) { c = append(c, probeCase{id: id, title: title, steps: steps}) }
	// with changes the last added case's query back.
	with := func(query string, plain bool) { c[len(c)-1].query, c[len(c)-1].plain = query, plain }
	one := func(what string, streams ...stream) step { return step{what: what, streams: streams} }

	// 1. Names: structured metadata keys and stream label names.
	add("sm-underscores", "structured metadata key `____`", one("1 stream, 1 entry with structured metadata `____=v`",
		stream{lbl(run, "sm-underscores"), []entry{sm("sm-underscores", "____", "v")}}))
	add("sm-nonascii", "structured metadata key `ключ` (non-ASCII)", one("1 stream, 1 entry with structured metadata `ключ=значение`",
		stream{lbl(run, "sm-nonascii"), []entry{sm("sm-nonascii", "ключ", "значение")}}))
	add("sm-dotted", "structured metadata key with a dot `trace.id`", one("1 stream, 1 entry with structured metadata `trace.id=abc`",
		stream{lbl(run, "sm-dotted"), []entry{sm("sm-dotted", "trace.id", "abc")}}))
	add("sm-digit", "structured metadata key starting with a digit `1key`", one("1 stream, 1 entry with structured metadata `1key=v`",
		stream{lbl(run, "sm-digit"), []entry{sm("sm-digit", "1key", "v")}}))
	add("sm-empty", "empty structured metadata key", one("1 stream, 1 entry with structured metadata `\"\"=v`",
		stream{lbl(run, "sm-empty"), []entry{sm("sm-empty", "", "v")}}))
	add("sm-sanitized", "structured metadata keys Loki rewrites", one("1 stream, 1 entry with metadata `a__b`, `_x`, `__x__`, `ключ_1`, `x.y-z`, `1`",
		stream{lbl(run, "sm-sanitized"), []entry{{age: time.Second, line: "sm-sanitized keys", sm: []push.LabelAdapter{
			{Name: "a__b", Value: "1"}, {Name: "_x", Value: "2"}, {Name: "__x__", Value: "3"}, {Name: "ключ_1", Value: "4"}, {Name: "x.y-z", Value: "5"}, {Name: "1", Value: "6"}}}}}))
	add("sm-bad-beside-good", "an entry with metadata key `____` beside valid entries and streams, in one push",
		one("2 streams: {probe=…, s=\"a\"} with a valid entry then one with metadata `____=v`; {probe=…, s=\"b\"} with a valid entry",
			stream{lbl(run, "sm-bad-beside-good", `s="a"`), []entry{{age: 2 * time.Second, line: "sm-bad-beside-good a valid"}, sm("sm-bad-beside-good", "____", "v")}},
			stream{lbl(run, "sm-bad-beside-good", `s="b"`), []entry{ok("sm-bad-beside-good", "b valid")}}))
	add("invalid-utf8", "invalid UTF-8 in a line and in a metadata value", one("1 stream, 1 entry: line `bad \\xff line`, metadata `k=\\xffv`",
		stream{lbl(run, "invalid-utf8"), []entry{{age: time.Second, line: "invalid-utf8 bad \xff line", sm: []push.LabelAdapter{{Name: "k", Value: "\xffv"}}}}}))
	add("label-underscores", "label name `____`", one("1 stream `{probe=…, ____=\"v\"}`",
		stream{lbl(run, "label-underscores", `____="v"`), []entry{ok("label-underscores", "line")}}))
	add("label-nonascii", "label name `ключ` (non-ASCII), unquoted", one("1 stream `{probe=…, ключ=\"v\"}`",
		stream{lbl(run, "label-nonascii", `ключ="v"`), []entry{ok("label-nonascii", "line")}}))
	add("label-nonascii-quoted", "label name `ключ` (non-ASCII), quoted as Prometheus 3 allows", one("1 stream `{probe=…, \"ключ\"=\"v\"}`",
		stream{lbl(run, "label-nonascii-quoted", `"ключ"="v"`), []entry{ok("label-nonascii-quoted", "line")}}))
	with(fmt.Sprintf(`{probe=%q}`, run+"-label-nonascii-quoted"), true)
	add("label-dotted", "label name with a dot `service.name`, unquoted", one("1 stream `{probe=…, service.name=\"v\"}`",
		stream{lbl(run, "label-dotted", `service.name="v"`), []entry{ok("label-dotted", "line")}}))
	add("label-dotted-quoted", "label name with a dot, quoted `\"service.name\"`", one("1 stream `{probe=…, \"service.name\"=\"v\"}`",
		stream{lbl(run, "label-dotted-quoted", `"service.name"="v"`), []entry{ok("label-dotted-quoted", "line")}}))
	with(fmt.Sprintf(`{probe=%q}`, run+"-label-dotted-quoted"), true)
	add("label-digit", "label name starting with a digit `1abc`", one("1 stream `{probe=…, 1abc=\"v\"}`",
		stream{lbl(run, "label-digit", `1abc="v"`), []entry{ok("label-digit", "line")}}))
	add("label-digit-quoted", "label name starting with a digit, quoted `\"1abc\"`", one("1 stream `{probe=…, \"1abc\"=\"v\"}`",
		stream{lbl(run, "label-digit-quoted", `"1abc"="v"`), []entry{ok("label-digit-quoted", "line")}}))
	with(fmt.Sprintf(`{probe=%q}`, run+"-label-digit-quoted"), true)
	add("label-empty", "empty label name", one("1 stream `{probe=…, \"\"=\"v\"}`",
		stream{lbl(run, "label-empty", `""="v"`), []entry{ok("label-empty", "line")}}))
	add("label-empty-value", "label with an empty value", one("1 stream `{probe=…, a=\"\"}`",
		stream{lbl(run, "label-empty-value", `a=""`), []entry{ok("label-empty-value", "line")}}))
	add("label-reserved", "label name with the reserved prefix `__name`", one("1 stream `{probe=…, __name=\"v\"}`",
		stream{lbl(run, "label-reserved", `__name="v"`), []entry{ok("label-reserved", "line")}}))
	add("label-dunder-name", "label name `__name__`", one("1 stream `{probe=…, __name__=\"v\"}`",
		stream{lbl(run, "label-dunder-name", `__name__="v"`), []entry{ok("label-dunder-name", "line")}}))
	add("labels-none", "empty label set `{}`", one("1 stream `{}`",
		stream{"{}", []entry{ok("labels-none", run)}}))
	with(fmt.Sprintf(`{service_name="unknown_service"} |= %q`, "labels-none "+run), false)
	add("labels-bad-beside-good", "one stream with a bad label name beside a valid stream, in one push",
		one("2 streams: `{probe=…, 1abc=\"v\"}` and `{probe=…, ok=\"yes\"}`, 1 entry each",
			stream{lbl(run, "labels-bad-beside-good", `1abc="v"`), []entry{ok("labels-bad-beside-good", "bad stream")}},
			stream{lbl(run, "labels-bad-beside-good", `ok="yes"`), []entry{ok("labels-bad-beside-good", "good stream")}}))

	// 2. One push mixing refused and valid entries.
	many := []string{}
	for i := 1; i <= 15; i++ {
		many = append(many, fmt.Sprintf("l%02d=\"v\"", i))
	}
	id := "labels-15"
	add(id, "15 labels (the limit) sent", one("1 stream: probe + l01..l14",
		stream{lbl(run, id, many[:14]...), []entry{ok(id, "line")}}))
	id = "mixed"
	add(id, "3 streams mixing refused and valid entries", one(
		"stream A with 16 labels (probe + l01..l15), 2 entries; stream B {probe=…, s=\"b\"} with 5 entries: "+
			"valid (age 1s), a 262145-byte line (256 KiB + 1), an entry 8 days old, an entry 15 minutes in the future, valid (age 0.5s); "+
			"stream C {probe=…, s=\"c\"} with 2 valid entries",
		stream{lbl(run, id, many...), []entry{ok(id, "A1 too many labels"), {age: 500 * time.Millisecond, line: id + " A2 too many labels"}}},
		stream{lbl(run, id, `s="b"`), []entry{
			{age: 3 * time.Second, line: id + " B1 valid"},
			{age: 2500 * time.Millisecond, line: id + " B2 long " + strings.Repeat("x", 256*1024+1-len(id+" B2 long "))},
			{age: 8 * 24 * time.Hour, line: id + " B3 eight days old"},
			{age: -15 * time.Minute, line: id + " B4 fifteen minutes ahead"},
			{age: 500 * time.Millisecond, line: id + " B5 valid"},
		}},
		stream{lbl(run, id, `s="c"`), []entry{{age: 2 * time.Second, line: id + " C1 valid"}, {age: time.Second, line: id + " C2 valid"}}},
	))
	id = "line-limit"
	add(id, "line exactly 256 KiB", one("1 stream, 1 entry whose line is 262144 bytes",
		stream{lbl(run, id), []entry{{age: time.Second, line: id + " " + strings.Repeat("x", 256*1024-len(id+" "))}}}))
	id = "future-edge"
	add(id, "entries 9 and 11 minutes in the future", one("1 stream: +9m, +11m",
		stream{lbl(run, id), []entry{{age: -9 * time.Minute, line: id + " nine minutes ahead"}, {age: -11 * time.Minute, line: id + " eleven minutes ahead"}}}))
	id = "old-edge"
	add(id, "entries 6 days and 7 days + 1 hour old", one("1 stream: -6d, -7d1h",
		stream{lbl(run, id), []entry{{age: 7*24*time.Hour + time.Hour, line: id + " seven days one hour old"}, {age: 6 * 24 * time.Hour, line: id + " six days old"}}}))
	id = "all-refused"
	add(id, "every entry of the push refused (two too-old, one too long)", one("1 stream: -8d, -9d, a 262145-byte line",
		stream{lbl(run, id), []entry{
			{age: 9 * 24 * time.Hour, line: id + " nine days old"},
			{age: 8 * 24 * time.Hour, line: id + " eight days old"},
			{age: time.Second, line: id + " long " + strings.Repeat("y", 256*1024+1-len(id+" long "))},
		}}))

	// 3. Length limits, ordering, duplicates.
	id = "label-name-1025"
	add(id, "label name of 1025 bytes", one("1 stream with a label named `n` × 1025",
		stream{lbl(run, id, strings.Repeat("n", 1025)+`="v"`), []entry{ok(id, "line")}}))
	id = "label-name-1024"
	add(id, "label name of 1024 bytes", one("1 stream with a label named `n` × 1024",
		stream{lbl(run, id, strings.Repeat("n", 1024)+`="v"`), []entry{ok(id, "line")}}))
	id = "label-value-2049"
	add(id, "label value of 2049 bytes", one("1 stream with `a=\"v…\"`, the value `v` × 2049",
		stream{lbl(run, id, `a="`+strings.Repeat("v", 2049)+`"`), []entry{ok(id, "line")}}))
	id = "label-value-2048"
	add(id, "label value of 2048 bytes", one("1 stream with `a=\"v…\"`, the value `v` × 2048",
		stream{lbl(run, id, `a="`+strings.Repeat("v", 2048)+`"`), []entry{ok(id, "line")}}))
	id = "ooo-in-push"
	add(id, "out-of-order entries within one push", one("1 stream: ages 1s, 3s, 2s (newest first, then older)",
		stream{lbl(run, id), []entry{{age: time.Second, line: id + " t-1s"}, {age: 3 * time.Second, line: id + " t-3s"}, {age: 2 * time.Second, line: id + " t-2s"}}}))
	id = "ooo-across-pushes"
	add(id, "an older entry after a newer one, across pushes",
		one("1 stream, 1 entry at age 1s", stream{lbl(run, id), []entry{{age: time.Second, line: id + " t-1s"}}}),
		one("same stream, entries at age 30m and 3h (older than the first push)", stream{lbl(run, id), []entry{
			{age: 30 * time.Minute, line: id + " t-30m"}, {age: 3 * time.Hour, line: id + " t-3h"}}}))
	id = "dup-in-push"
	add(id, "duplicate entries within one push", one("1 stream: the same (timestamp, line) twice, then the same timestamp with another line",
		stream{lbl(run, id), []entry{{age: time.Second, line: id + " same"}, {age: time.Second, line: id + " same"}, {age: time.Second, line: id + " other line, same timestamp"}}}))
	id = "dup-across-pushes"
	add(id, "the same entry pushed twice (a retried push)",
		one("1 stream, 1 entry", stream{lbl(run, id), []entry{{age: time.Second, line: id + " retried"}}}),
		one("the identical request again", stream{lbl(run, id), []entry{{age: time.Second, line: id + " retried"}}}))
	id = "dup-sm-differs"
	add(id, "same timestamp and line, different structured metadata", one("1 stream: 2 entries, same (timestamp, line), metadata k=1 and k=2",
		stream{lbl(run, id), []entry{
			{age: time.Second, line: id + " same", sm: []push.LabelAdapter{{Name: "k", Value: "1"}}},
			{age: time.Second, line: id + " same", sm: []push.LabelAdapter{{Name: "k", Value: "2"}}}}}))

	// Last, as it spends the tenant's rate-limit budget: one push larger
	// than the default ingestion burst (ingestion_burst_size_mb 6).
	id = "rate-limit"
	var big []entry
	for i := 0; i < 28; i++ {
		big = append(big, entry{age: time.Duration(28-i) * time.Millisecond, line: fmt.Sprintf("%s %02d %s", id, i, strings.Repeat("z", 256*1024-len(id)-4))})
	}
	add(id, "one push over the ingestion burst (28 lines of 256 KiB = 7 MiB)", one("1 stream, 28 entries of 262144 bytes", stream{lbl(run, id), big}))
	return c
}

func describe(streams []stream) {
	fmt.Println("```")
	for _, s := range streams {
		fmt.Printf("stream %s\n", clip(s.labels, 160))
		for _, e := range s.entries {
			meta := ""
			if len(e.sm) > 0 {
				var kv []string
				for _, l := range e.sm {
					kv = append(kv, fmt.Sprintf("%q=%q", l.Name, l.Value))
				}
				meta = " metadata " + strings.Join(kv, ",")
			}
			fmt.Printf("  age %-8s line %s%s\n", e.age, clip(e.line, 60), meta)
		}
	}
	fmt.Print("```\n\n")
}

func pushStreams(addr string, now time.Time, streams []stream) (int, string, string, error) {
	req := push.PushRequest{}
	for _, s := range streams {
		ps := push.Stream{Labels: s.labels}
		for _, e := range s.entries {
			ps.Entries = append(ps.Entries, push.Entry{Timestamp: now.Add(-e.age), Line: e.line, StructuredMetadata: e.sm})
		}
		req.Streams = append(req.Streams, ps)
	}
	raw, err := req.Marshal()
	if err != nil {
		return 0, "", "", fmt.Errorf("marshal push request: %w", err)
	}
	resp, err := http.Post(addr+"/loki/api/v1/push", "application/x-protobuf", bytes.NewReader(snappy.Encode(nil, raw)))
	if err != nil {
		return 0, "", "", fmt.Errorf("push: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", "", fmt.Errorf("read push response: %w", err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body), nil
}

// flush asks the ingester to write its chunks to the store, where the
// querier finds entries of any age; it returns once they are searchable.
func flush(addr string) error {
	resp, err := http.Post(addr+"/flush", "", nil)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("flush: status %d", resp.StatusCode)
	}
	// /flush starts the flush and returns; 2s was enough in every run
	// measured (docs/loki-responses.md).
	time.Sleep(2 * time.Second)
	return nil
}

type queryResponse struct {
	Status string `json:"status"`
	Data   struct {
		Result []struct {
			Stream map[string]string   `json:"stream"`
			Values [][]json.RawMessage `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// query returns the stored streams matching selector, one stream per block:
// its labels, then each entry's timestamp offset from now, line and (with
// Loki's categorize-labels encoding) structured metadata.
func query(addr, selector string, now time.Time, categorize bool) (string, error) {
	v := url.Values{}
	v.Set("query", selector)
	v.Set("start", fmt.Sprint(now.Add(-10*24*time.Hour).UnixNano()))
	v.Set("end", fmt.Sprint(now.Add(time.Hour).UnixNano()))
	v.Set("limit", "1000")
	v.Set("direction", "forward")
	req, err := http.NewRequest(http.MethodGet, addr+"/loki/api/v1/query_range?"+v.Encode(), nil)
	if err != nil {
		return "", err
	}
	if categorize {
		req.Header.Set("X-Loki-Response-Encoding-Flags", "categorize-labels")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("query failed: %d %s\n", resp.StatusCode, body), nil
	}
	var qr queryResponse
	if err := json.Unmarshal(body, &qr); err != nil {
		return "", fmt.Errorf("decode query response %q: %w", clip(string(body), 200), err)
	}
	if len(qr.Data.Result) == 0 {
		return "(nothing)\n", nil
	}
	var b strings.Builder
	for _, s := range qr.Data.Result {
		keys := make([]string, 0, len(s.Stream))
		for k := range s.Stream {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			val := s.Stream[k]
			if k == "probe" {
				val = "<run>-" + val[strings.Index(val, "-")+1:]
			}
			kv = append(kv, fmt.Sprintf("%s=%q", clip(k, 40), clip(val, 40)))
		}
		fmt.Fprintf(&b, "stream {%s}\n", strings.Join(kv, ", "))
		for _, val := range s.Values {
			var ts, line string
			_ = json.Unmarshal(val[0], &ts)
			_ = json.Unmarshal(val[1], &line)
			var nanos int64
			fmt.Sscan(ts, &nanos)
			age := now.Sub(time.Unix(0, nanos)).Round(time.Millisecond)
			extra := ""
			if len(val) > 2 {
				extra = " " + string(val[2])
			}
			fmt.Fprintf(&b, "  age %-8s len %-6d line %s%s\n", age, len(line), clip(line, 60), extra)
		}
	}
	return b.String(), nil
}

func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.Trim(fmt.Sprintf("%q", s), `"`)
	}
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:n], len(s))
}
