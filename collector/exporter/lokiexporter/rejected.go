package lokiexporter

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/grafana/loki/pkg/push"
)

// Loki answers 400 to a push in two ways (Loki v3 distributor and ingester):
//
//   - The request could not be read (body, encoding, a stream selector that
//     does not parse): nothing was stored.
//   - Validation refused some entries or streams: everything else WAS
//     stored, and the body lists what was refused. The distributor collects
//     one message per refused entry (timestamp too old/new, line too long,
//     structured metadata too large/many/disallowed) or per refused stream
//     (too many label names, label name/value too long, duplicate label,
//     selector error, missing labels), then groups identical messages:
//     "<msg>" alone, or "<n> errors like: <msg>" items joined by "; ". The
//     ingester refuses entries of a stream too far behind its newest entry
//     (out of order) and ends its answer with
//     "total ignored: <n> out of <m> for stream: <labels>".
//
// countRefused counts the entries of req that such an answer refused. A
// stream-level message refuses all of that stream's entries; the stream is
// found by its labels (Loki may have added service_name to them). exact is
// false when the answer is not entirely made of messages it knows, or was
// cut; the caller then counts every record of the request, an upper bound.
func countRefused(body string, truncated bool, req *push.PushRequest) (int, bool) {
	total := 0
	for _, st := range req.Streams {
		total += len(st.Entries)
	}
	body = strings.TrimSpace(body)
	if truncated || body == "" {
		return total, false
	}
	if m := ingesterIgnored.FindAllStringSubmatch(body, -1); m != nil {
		n := 0
		for _, g := range m {
			v, err := strconv.Atoi(g[1])
			if err != nil {
				return total, false
			}
			n += v
		}
		return min(n, total), n > 0
	}

	starts := itemStart.FindAllStringSubmatchIndex(body, -1)
	if len(starts) == 0 || starts[0][0] != 0 {
		return total, false
	}
	n := 0
	for i, m := range starts {
		end := len(body)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		times := 1
		if m[2] >= 0 {
			v, err := strconv.Atoi(body[m[2]:m[3]])
			if err != nil {
				return total, false
			}
			times = v
		}
		msg := body[m[4]:end]
		k, ok := classify(msg)
		if !ok {
			return total, false
		}
		if k.entryLevel {
			n += times
			continue
		}
		entries, found := streamEntries(req, k.labels)
		if !found {
			return total, false
		}
		n += entries
	}
	if n == 0 {
		return total, false
	}
	return min(n, total), true
}

var (
	ingesterIgnored = regexp.MustCompile(`total ignored: (\d+) out of \d+`)
	// An item of a grouped answer starts the body or follows "; ".
	itemStart = regexp.MustCompile(`(?:^|; )(?:(\d+) errors like: )?((?i)entry for stream '|max entry size '|stream '|error parsing labels '|error at least one label pair|missing required labels )`)

	entryMessages = []*regexp.Regexp{
		regexp.MustCompile(`^entry for stream '.*' has timestamp too old: \S+, oldest acceptable timestamp is: \S+$`),
		regexp.MustCompile(`^entry for stream '.*' has timestamp too new: \S+$`),
		regexp.MustCompile(`^(?i)max entry size '\d+' bytes exceeded for stream '.*' while adding an entry with length '\d+' bytes$`),
		regexp.MustCompile(`^stream '.*' (has structured metadata too large|has too many structured metadata labels|includes structured metadata, but this feature is disallowed)\b.* Loki administrator to (increase|enable) it\.$`),
	}
	streamMessages = []*regexp.Regexp{
		regexp.MustCompile(`^entry for stream '(.*)' has \d+ label names; limit \d+$`),
		regexp.MustCompile(`^stream '(.*)' has (label name too long|label value too long|duplicate label name): '.*'$`),
		regexp.MustCompile(`^(?i)error parsing labels '(.*)' with error: `),
		regexp.MustCompile(`^missing required labels .* for user .* for stream (\{.*\})$`),
	}
)

type refusal struct {
	entryLevel bool
	labels     string
}

func classify(msg string) (refusal, bool) {
	msg = strings.TrimSpace(msg)
	// Stream messages first: "entry for stream '...' has N label names" is
	// about the stream, though it starts like the entry messages.
	for _, re := range streamMessages {
		if m := re.FindStringSubmatch(msg); m != nil {
			return refusal{labels: m[1]}, true
		}
	}
	if strings.HasPrefix(msg, "error at least one label pair is required per stream") {
		return refusal{labels: "{}"}, true
	}
	for _, re := range entryMessages {
		if re.MatchString(msg) {
			return refusal{entryLevel: true}, true
		}
	}
	return refusal{}, false
}

// streamEntries finds the stream Loki names and returns its entry count.
// Loki may have added its service_name label to the selector we sent.
func streamEntries(req *push.PushRequest, named string) (int, bool) {
	want, ok := parseSelector(named)
	if !ok {
		return 0, false
	}
	for _, st := range req.Streams {
		have, ok := parseSelector(st.Labels)
		if !ok {
			continue
		}
		if sameLabels(have, want) {
			return len(st.Entries), true
		}
		if _, sent := have["service_name"]; !sent {
			if _, added := want["service_name"]; added {
				trimmed := make(map[string]string, len(want))
				for k, v := range want {
					if k != "service_name" {
						trimmed[k] = v
					}
				}
				if sameLabels(have, trimmed) {
					return len(st.Entries), true
				}
			}
		}
	}
	return 0, false
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// parseSelector reads `{a="x", b="y"}` as Prometheus' labels.String() and
// our own appendLabelSet write it (values Go-quoted).
func parseSelector(s string) (map[string]string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	out := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, false
		}
		name := strings.TrimSpace(s[:eq])
		rest := strings.TrimLeft(s[eq+1:], " ")
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, false
		}
		v, err := strconv.Unquote(q)
		if err != nil {
			return nil, false
		}
		out[name] = v
		s = strings.TrimLeft(rest[len(q):], " ")
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, false
		}
		s = strings.TrimLeft(s[1:], " ")
	}
	return out, true
}
