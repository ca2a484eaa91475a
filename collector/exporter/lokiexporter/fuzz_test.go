package lokiexporter

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// lokiLabelName is Loki's label-name rule, written here independently of
// validLabelName so the fuzz test does not check the code with itself.
var lokiLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// FuzzTranslate translates batches built from the fuzz bytes (attribute
// names and values of every type, hints, bodies, severities, scopes) under a
// configuration also taken from the bytes, and checks what must hold for any
// input:
//
//   - translation never panics;
//   - every record is either sent or counted as dropped, never both or lost;
//   - every stream's labels parse as a Loki label set, each name matching
//     Loki's [a-zA-Z_][a-zA-Z0-9_]*, sorted and unique, within the configured
//     label limits (an empty set `{}` is fine: Loki 3 stores it under
//     service_name="unknown_service", docs/loki-responses.md);
//   - every structured-metadata name is one Loki accepts;
//   - every line is valid UTF-8, or is (a prefix of) a raw-format string
//     body, which is sent as it came; lines respect max_line_size; with the
//     JSON format and no loki.format hint, every line is JSON.
//
// `go test` runs the seeds in testdata/fuzz/FuzzTranslate (plus those added
// below). To search for new inputs, e.g. for five minutes:
//
//	go test -run '^$' -fuzz '^FuzzTranslate$' -fuzztime 5m ./exporter/lokiexporter/
//
// A failing input is written to testdata/fuzz/FuzzTranslate; commit it with
// the fix so it stays a regression test.
func FuzzTranslate(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("service.name=shop k8s.pod.name=p-1 loki.resource.labels=pod,namespace body"))
	f.Add([]byte{2, 1, 1, 1, 0, 3, 0xf4, 0xff, 0xfe, 'a', 0xc3, 5, 7, 9, 11, 13})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzBytes{data: data}
		var cfgFormat string
		var limits LimitsConfig
		tr := testTranslator(t, func(c *Config) {
			c.Format = in.pick("json", "logfmt", "raw")
			cfgFormat = c.Format
			c.StructuredMetadata.LogAttributes = in.bool()
			c.StructuredMetadata.ResourceAttributes = in.bool()
			if in.bool() {
				c.KubernetesLabels.Enabled = true
			}
			c.StableInstanceLabel = in.bool()
			c.DefaultLabelsEnabled = map[string]bool{}
			for _, name := range defaultLabelNames {
				if in.intn(4) == 0 {
					c.DefaultLabelsEnabled[name] = false
				}
			}
			if in.bool() {
				c.Limits.MaxLineSize = []int{0, 16, 200, 262144}[in.intn(4)]
				c.Limits.TruncateLongLines = c.Limits.MaxLineSize > 0 && in.bool()
				c.Limits.MaxLabelNamesPerSeries = in.intn(5)
				c.Limits.MaxLabelNameLength = []int{0, 6, 1024}[in.intn(3)]
				c.Limits.MaxLabelValueLength = []int{0, 6, 2048}[in.intn(3)]
			}
			limits = c.Limits
		})
		ld, rawBodies, formatHinted := in.logs()

		c := tr.convert(ld)
		lines := c.lines()
		sent := 0
		for _, tb := range c.tenants {
			for _, s := range c.pushRequest(tb, lines).Streams {
				names, err := parseLokiLabels(s.Labels)
				if err != nil {
					t.Fatalf("stream labels %q: %v", s.Labels, err)
				}
				// Loki does not count a service_name label against the limit.
				counted := len(names)
				if slices.Contains(names, "service_name") {
					counted--
				}
				if limit := limits.MaxLabelNamesPerSeries; limit > 0 && counted > limit {
					t.Fatalf("stream %s has %d labels besides service_name, over max_label_names_per_series %d", s.Labels, counted, limit)
				}
				for _, n := range names {
					if limit := limits.MaxLabelNameLength; limit > 0 && len(n) > limit {
						t.Fatalf("stream %s: label name %q is longer than max_label_name_length %d", s.Labels, n, limit)
					}
				}
				for _, e := range s.Entries {
					sent++
					checkLine(t, e.Line, rawBodies, limits, cfgFormat == "json" && !formatHinted)
					for _, sm := range e.StructuredMetadata {
						if !lokiLabelName.MatchString(sm.Name) || strings.Trim(sm.Name, "_") == "" {
							t.Fatalf("structured metadata name %q is not one Loki accepts", sm.Name)
						}
					}
				}
			}
		}
		if n := ld.LogRecordCount(); sent+c.dropped != n {
			t.Fatalf("%d records in, %d sent + %d dropped", n, sent, c.dropped)
		}
	})
}

func checkLine(t *testing.T, line string, rawBodies []string, limits LimitsConfig, wantJSON bool) {
	t.Helper()
	if limit := limits.MaxLineSize; limit > 0 && len(line) > limit {
		t.Fatalf("line of %d bytes sent, over max_line_size %d: %q", len(line), limit, line)
	}
	if !utf8.ValidString(line) {
		raw := false
		for _, b := range rawBodies {
			if strings.HasPrefix(b, line) {
				raw = true
				break
			}
		}
		if !raw {
			t.Fatalf("line is not valid UTF-8 and is no raw body as it came: %q", line)
		}
	}
	if wantJSON && !limits.TruncateLongLines && !json.Valid([]byte(line)) {
		t.Fatalf("JSON-format line is not JSON: %q", line)
	}
}

// parseLokiLabels parses a stream selector as Loki's push API reads it,
// `{name="value", ...}` with Go-quoted values, and returns the names after
// checking each one and their order.
func parseLokiLabels(s string) ([]string, error) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, fmt.Errorf("not a {...} label set")
	}
	rest := s[1 : len(s)-1]
	var names []string
	for rest != "" {
		if len(names) > 0 {
			var ok bool
			if rest, ok = strings.CutPrefix(rest, ", "); !ok {
				return nil, fmt.Errorf("labels not separated by \", \" at %q", rest)
			}
		}
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, fmt.Errorf("no '=' after %q", rest)
		}
		if !lokiLabelName.MatchString(name) {
			return nil, fmt.Errorf("label name %q does not match %s", name, lokiLabelName)
		}
		if len(names) > 0 && names[len(names)-1] >= name {
			return nil, fmt.Errorf("label %q after %q: names must be sorted and unique", name, names[len(names)-1])
		}
		quoted, err := strconv.QuotedPrefix(after)
		if err != nil {
			return nil, fmt.Errorf("label %s: value is not a quoted string: %w", name, err)
		}
		names = append(names, name)
		rest = after[len(quoted):]
	}
	return names, nil
}

// fuzzBytes turns fuzz bytes into choices; once they run out every choice
// is the first option.
type fuzzBytes struct{ data []byte }

func (f *fuzzBytes) next() byte {
	if len(f.data) == 0 {
		return 0
	}
	b := f.data[0]
	f.data = f.data[1:]
	return b
}

func (f *fuzzBytes) intn(n int) int                { return int(f.next()) % n }
func (f *fuzzBytes) bool() bool                    { return f.next()&1 == 1 }
func (f *fuzzBytes) pick(options ...string) string { return options[f.intn(len(options))] }

// str mostly picks from options and sometimes takes raw bytes: any string,
// invalid UTF-8 and non-ASCII letters included.
func (f *fuzzBytes) str(options ...string) string {
	b := f.next()
	if b < 0xf0 {
		return options[int(b)%len(options)]
	}
	n := min(int(b-0xf0), len(f.data))
	s := string(f.data[:n])
	f.data = f.data[n:]
	return s
}

var (
	fuzzAttrNames = []string{"service.name", "service.namespace", "service.instance.id", "process.pid", "k8s.namespace.name",
		"k8s.pod.name", "k8s.container.name", "level", "pod", "namespace", "http.method", "exporter", "job", "instance",
		"__name__", "_x", "1abc", "ключ", "a.b", "a", "", "tenant", "code.lineno"}
	fuzzStrValues = []string{"shop", "", "p-1", "base-42", "42", "debug", `with "quotes" and \ backslash`, "日本", "line\nbreak", "a=b c=d"}
)

func (f *fuzzBytes) value(v pcommon.Value, depth int) {
	switch f.intn(8) {
	case 0, 1:
		v.SetStr(f.str(fuzzStrValues...))
	case 2:
		v.SetInt(int64(f.intn(100)) - 1)
	case 3:
		v.SetBool(f.bool())
	case 4:
		v.SetDouble([]float64{0.5, -1, 1e300}[f.intn(3)])
	case 5:
		v.SetEmptyBytes().FromRaw([]byte(f.str("", "\x00\xff", "abc")))
	case 6:
		m := v.SetEmptyMap()
		if depth < 2 {
			f.attrs(m, depth+1, 3)
		}
	case 7:
		s := v.SetEmptySlice()
		for n := f.intn(3); n > 0 && depth < 2; n-- {
			f.value(s.AppendEmpty(), depth+1)
		}
	}
}

func (f *fuzzBytes) attrs(m pcommon.Map, depth, most int) {
	for n := f.intn(most + 1); n > 0; n-- {
		f.value(m.PutEmpty(f.str(fuzzAttrNames...)), depth)
	}
}

// hints adds the exporter's loki.* hints; it reports whether it set a
// loki.format hint.
func (f *fuzzBytes) hints(m pcommon.Map, labelsHint string) bool {
	if f.intn(3) == 0 {
		if f.bool() {
			m.PutStr(labelsHint, strings.Join([]string{f.str(fuzzAttrNames...), f.str(fuzzAttrNames...)}, f.pick(",", ", ")))
		} else {
			s := m.PutEmptySlice(labelsHint)
			for n := f.intn(3); n > 0; n-- {
				s.AppendEmpty().SetStr(f.str(fuzzAttrNames...))
			}
		}
	}
	if f.intn(5) == 0 {
		m.PutStr(hintTenant, f.pick("tenant", "missing"))
	}
	if f.intn(5) == 0 {
		m.PutStr(hintFormat, f.str("json", "logfmt", "raw", "yaml"))
		return true
	}
	return false
}

// logs builds a batch, the string bodies of records that may be sent in the
// raw format, and whether any loki.format hint was set.
func (f *fuzzBytes) logs() (ld plog.Logs, rawBodies []string, formatHinted bool) {
	ld = plog.NewLogs()
	for n := 1 + f.intn(3); n > 0; n-- {
		rl := ld.ResourceLogs().AppendEmpty()
		res := rl.Resource().Attributes()
		f.attrs(res, 0, 6)
		formatHinted = f.hints(res, hintResources) || formatHinted
		for m := 1 + f.intn(2); m > 0; m-- {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(f.str("", "lib", "ключ"))
			if f.bool() {
				sl.Scope().SetVersion("1.0")
				f.attrs(sl.Scope().Attributes(), 1, 2)
			}
			for k := f.intn(5); k > 0; k-- {
				lr := sl.LogRecords().AppendEmpty()
				lr.SetTimestamp(pcommon.Timestamp([]uint64{0, 1, 1e18, 1<<63 - 1}[f.intn(4)]))
				if f.bool() {
					lr.SetObservedTimestamp(pcommon.Timestamp(1e18))
				}
				lr.SetSeverityNumber(plog.SeverityNumber([]int32{0, 9, 17, 24, 25, -1, 1 << 30}[f.intn(7)]))
				lr.SetSeverityText(f.str("", "INFO", "warn", "ключ"))
				if f.bool() {
					lr.SetTraceID(pcommon.TraceID{1, 2, 3})
					lr.SetSpanID(pcommon.SpanID{4, 5})
					lr.SetFlags(plog.LogRecordFlags(f.intn(3)))
				}
				if f.intn(5) != 0 {
					f.value(lr.Body(), 0)
				}
				if lr.Body().Type() == pcommon.ValueTypeStr {
					rawBodies = append(rawBodies, lr.Body().Str())
				}
				f.attrs(lr.Attributes(), 0, 4)
				formatHinted = f.hints(lr.Attributes(), hintAttributes) || formatHinted
			}
		}
	}
	return ld, rawBodies, formatHinted
}
