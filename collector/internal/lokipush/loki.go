package lokipush

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/loki/pkg/push"

	"github.com/autotel/autotel/collector/internal/lokilimits"
)

// Limits makes the endpoint validate pushes the way Grafana Loki v3 does
// (single binary, limits_config of the same names) and answer with Loki's
// status codes and bodies; RESPONSES.md beside this file lists them and
// where each comes from. A zero field switches that check off.
type Limits struct {
	lokilimits.Limits
	// Now is Loki's clock; time.Now when nil.
	Now func() time.Time
}

// DefaultLimits are Loki's defaults (lokilimits.Defaults).
func DefaultLimits() Limits { return Limits{Limits: lokilimits.Defaults()} }

// StartLoki starts an endpoint that behaves like Loki for the cases in
// RESPONSES.md: whole-request failures store nothing; per-entry and
// per-stream refusals store everything else and answer 400 with the list.
func StartLoki(l Limits) (*Server, error) {
	s, err := Start(nil, false)
	if err != nil {
		return nil, err
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	s.loki = &l
	return s, nil
}

// discoverServiceName is Loki's default discover_service_name list: the
// first of these labels present gives the service_name label Loki adds.
var discoverServiceName = []string{"service", "app", "application", "app_name", "name",
	"app_kubernetes_io_name", "container", "container_name", "k8s_container_name",
	"component", "workload", "job", "k8s_job_name"}

type lokiAnswer struct {
	status int
	body   string
	keep   []push.Stream // what Loki stores
}

// validate decides Loki's answer to req and what it stores.
func (l *Limits) validate(req *push.PushRequest) lokiAnswer {
	type parsed struct {
		labels  []label
		entries []push.Entry
	}
	streams := make([]parsed, 0, len(req.Streams))
	// Whole-request failures first, as Loki's request parsing does them:
	// a selector that does not parse (400), a structured-metadata name its
	// normaliser refuses (500); nothing is stored.
	for _, st := range req.Streams {
		ls, err := parseLabels(st.Labels)
		if err != nil {
			return lokiAnswer{status: 400, body: "couldn't parse labels: " + err.Error()}
		}
		entries := make([]push.Entry, len(st.Entries))
		for i, e := range st.Entries {
			entries[i] = e
			if len(e.StructuredMetadata) == 0 {
				continue
			}
			sm := make([]push.LabelAdapter, len(e.StructuredMetadata))
			for j, p := range e.StructuredMetadata {
				name, err := normalizeName(p.Name)
				if err != nil {
					return lokiAnswer{status: 500, body: err.Error()}
				}
				sm[j] = push.LabelAdapter{Name: name, Value: p.Value}
			}
			entries[i].StructuredMetadata = sm
		}
		streams = append(streams, parsed{ls, entries})
	}

	var errs groupedErrors
	var keep []push.Stream
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	for _, st := range streams {
		ls := addServiceName(st.labels)
		sel := labelsString(ls)
		n := len(ls)
		if hasLabel(ls, "service_name") {
			n-- // Loki does not count the label it adds itself
		}
		if l.MaxLabelNamesPerSeries > 0 && n > l.MaxLabelNamesPerSeries {
			errs.add(fmt.Sprintf("entry for stream '%s' has %d label names; limit %d", sel, n, l.MaxLabelNamesPerSeries))
			continue
		}
		if msg := l.labelLengths(sel, ls); msg != "" {
			errs.add(msg)
			continue
		}
		out := push.Stream{Labels: sel}
		for _, e := range st.entries {
			ts := e.Timestamp.UnixNano()
			switch {
			case l.RejectOldSamplesMaxAge > 0 && ts < now.Add(-l.RejectOldSamplesMaxAge).UnixNano():
				errs.add(fmt.Sprintf("entry for stream '%s' has timestamp too old: %v, oldest acceptable timestamp is: %v",
					sel, e.Timestamp.UTC().Format(time.RFC3339), now.Add(-l.RejectOldSamplesMaxAge).UTC().Format(time.RFC3339)))
			case l.CreationGracePeriod > 0 && ts > now.Add(l.CreationGracePeriod).UnixNano():
				errs.add(fmt.Sprintf("entry for stream '%s' has timestamp too new: %v", sel, e.Timestamp.UTC().Format(time.RFC3339)))
			case l.MaxLineSize > 0 && len(e.Line) > l.MaxLineSize:
				errs.add(fmt.Sprintf("max entry size '%d' bytes exceeded for stream '%s' while adding an entry with length '%d' bytes", l.MaxLineSize, sel, len(e.Line)))
			default:
				out.Entries = append(out.Entries, e)
			}
		}
		if len(out.Entries) > 0 {
			keep = append(keep, out)
		}
	}
	if len(errs.order) > 0 {
		return lokiAnswer{status: 400, body: errs.String(), keep: keep}
	}
	return lokiAnswer{keep: keep}
}

func (l *Limits) labelLengths(sel string, ls []label) string {
	for _, p := range ls {
		if l.MaxLabelNameLength > 0 && len(p.name) > l.MaxLabelNameLength {
			return fmt.Sprintf("stream '%s' has label name too long: '%s'", sel, p.name)
		}
		if l.MaxLabelValueLength > 0 && len(p.value) > l.MaxLabelValueLength {
			return fmt.Sprintf("stream '%s' has label value too long: '%s'", sel, p.value)
		}
	}
	return ""
}

// groupedErrors formats like Loki's GroupedErrors: identical messages are
// counted, "<n> errors like: <msg>" when there is more than one message or
// more than one of it, items joined by "; " (Loki's order is a map's; ours
// is first appearance).
type groupedErrors struct {
	order []string
	count map[string]int
}

func (g *groupedErrors) add(msg string) {
	if g.count == nil {
		g.count = map[string]int{}
	}
	if g.count[msg] == 0 {
		g.order = append(g.order, msg)
	}
	g.count[msg]++
}

func (g *groupedErrors) String() string {
	var b strings.Builder
	for i, msg := range g.order {
		if i > 0 {
			b.WriteString("; ")
		}
		if n := g.count[msg]; len(g.order) > 1 || n > 1 {
			fmt.Fprintf(&b, "%d errors like: ", n)
		}
		b.WriteString(msg)
	}
	return b.String()
}

type label struct{ name, value string }

func hasLabel(ls []label, name string) bool {
	for _, l := range ls {
		if l.name == name {
			return true
		}
	}
	return false
}

func addServiceName(ls []label) []label {
	if hasLabel(ls, "service_name") {
		return ls
	}
	value := "unknown_service"
	for _, name := range discoverServiceName {
		found := false
		for _, l := range ls {
			if l.name == name && l.value != "" {
				value, found = l.value, true
				break
			}
		}
		if found {
			break
		}
	}
	out := append(append([]label(nil), ls...), label{"service_name", value})
	sortLabels(out)
	return out
}

func sortLabels(ls []label) {
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].name < ls[j-1].name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}

// labelsString is Prometheus' labels.String(): sorted, values Go-quoted.
func labelsString(ls []label) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l.value))
	}
	b.WriteByte('}')
	return b.String()
}

// parseLabels accepts the stream selectors Loki's parser accepts for pushes:
// `{name="value", ...}`, names [a-zA-Z_][a-zA-Z0-9_]*, values quoted.
func parseLabels(s string) ([]label, error) {
	in := strings.TrimSpace(s)
	if !strings.HasPrefix(in, "{") || !strings.HasSuffix(in, "}") {
		return nil, fmt.Errorf("1:1: parse error: unexpected input %q", s)
	}
	// rest stays a suffix of in minus its closing brace, so columns are
	// len(in) - len(rest).
	rest := strings.TrimLeft(in[1:len(in)-1], " ")
	var ls []label
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] == '_' || rest[i] >= 'a' && rest[i] <= 'z' || rest[i] >= 'A' && rest[i] <= 'Z' || i > 0 && rest[i] >= '0' && rest[i] <= '9') {
			i++
		}
		if i == 0 {
			r := []rune(rest)[0]
			return nil, fmt.Errorf("1:%d: parse error: unexpected character inside braces: %q", len(in)-len(rest), r)
		}
		name := rest[:i]
		rest = strings.TrimLeft(rest[i:], " ")
		if !strings.HasPrefix(rest, "=") {
			return nil, fmt.Errorf("1:%d: parse error: unexpected character after label name %q", len(in)-len(rest), name)
		}
		rest = strings.TrimLeft(rest[1:], " ")
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, fmt.Errorf("1:%d: parse error: unterminated quoted string", len(in)-len(rest))
		}
		v, _ := strconv.Unquote(q)
		ls = append(ls, label{name, v})
		rest = strings.TrimLeft(rest[len(q):], " ")
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("1:%d: parse error: unexpected character: %q", len(in)-len(rest), rest[0])
		}
		rest = strings.TrimLeft(rest[1:], " ")
	}
	sortLabels(ls)
	return ls, nil
}

// normalizeName is the structured-metadata name rule of Loki v3
// (Prometheus otlptranslator LabelNamer, zero configuration), with its two
// refusals, which fail the whole push with HTTP 500.
func normalizeName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("label name is empty")
	}
	inner, affix := name, len(name) >= 4 && strings.HasPrefix(name, "__") && strings.HasSuffix(name, "__")
	if affix {
		inner = name[2 : len(name)-2]
	}
	var b strings.Builder
	if affix {
		b.WriteString("__")
	}
	run := false
	for _, r := range inner {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
			run = false
		} else if !run {
			b.WriteByte('_')
			run = true
		}
	}
	if affix {
		b.WriteString("__")
	}
	out := b.String()
	if out[0] >= '0' && out[0] <= '9' {
		out = "key_" + out
	}
	if strings.Trim(out, "_") == "" {
		return "", fmt.Errorf("normalization for label name %q resulted in invalid name %q", name, out)
	}
	return out, nil
}
