package lokiexporter

import (
	"strconv"
	"strings"
	"unicode"
)

// normalizeLabel turns an attribute name into a Loki stream-label name, or
// reports that no name Loki accepts can be made from it.
//
// It first applies the upstream exporter's rule (Prometheus' NormalizeLabel
// without the PermissiveLabelSanitization gate): every rune that is not a
// letter or digit becomes '_', a leading digit gets "key_", a single leading
// '_' gets "key". Upstream keeps non-ASCII letters, which Loki's label parser
// refuses ([a-zA-Z_][a-zA-Z0-9_]*), failing the whole push; only for such
// names is the same rule applied with ASCII-only letters, so every name
// upstream sends successfully stays byte-identical. A name left without any
// ASCII letter or digit (`ключ` -> `____`, `日本`, `-`) is refused: Loki
// treats names made only of underscores as invalid (its OTLP/structured-
// metadata normalisation rejects them and fails the whole push with them),
// and such a name would collide with every other name of its length anyway.
func normalizeLabel(name string) (string, bool) {
	n := normalizeWith(name, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })
	if !validLabelName(n) {
		n = normalizeWith(name, isASCIIAlnum)
	}
	return n, validLabelName(n) && !onlyUnderscores(n)
}

// normalizeSMName turns an attribute name into the structured-metadata name
// Loki stores, or reports that Loki refuses the name.
//
// Loki (v3.x distributor and OTLP ingestion alike) passes every structured-
// metadata name through Prometheus' otlptranslator LabelNamer with its zero
// configuration: each run of characters outside [a-zA-Z0-9] becomes one '_'
// (so '_' runs collapse too), a name of at least four bytes that starts and
// ends with "__" keeps those affixes around its sanitised middle, a leading
// digit gets "key_". If the result is only underscores (or the name is
// empty) Loki fails the WHOLE push (HTTP 500, "normalization for label name
// %q resulted in invalid name %q" / "label name is empty"), which is what
// made one `ключ` attribute cost every other record of the batch. Sending
// Loki's own result means the name we send is the name Loki stores, so
// queries can use what the exporter logs.
func normalizeSMName(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	inner, affix := name, false
	if len(name) >= 4 && strings.HasPrefix(name, "__") && strings.HasSuffix(name, "__") {
		inner, affix = name[2:len(name)-2], true
	}
	b := make([]byte, 0, len(name)+4)
	if affix {
		b = append(b, "__"...)
	}
	run := false
	for _, r := range inner {
		if isASCIIAlnum(r) {
			b = append(b, byte(r))
			run = false
		} else if !run {
			b = append(b, '_')
			run = true
		}
	}
	if affix {
		b = append(b, "__"...)
	}
	out := string(b)
	if out != "" && out[0] >= '0' && out[0] <= '9' {
		out = "key_" + out
	}
	return out, !onlyUnderscores(out)
}

func onlyUnderscores(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			return false
		}
	}
	return true
}

func normalizeWith(name string, keep func(rune) bool) string {
	if name == "" {
		return name
	}
	name = strings.Map(func(r rune) rune {
		if keep(r) {
			return r
		}
		return '_'
	}, name)
	// Upstream tests the first byte, not the first rune; same here.
	if unicode.IsDigit(rune(name[0])) {
		return "key_" + name
	}
	if strings.HasPrefix(name, "_") && !strings.HasPrefix(name, "__") {
		return "key" + name
	}
	return name
}

func isASCIIAlnum(r rune) bool {
	return r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
}

// validLabelName is Loki's label-name rule, [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// labelPair is a final (sanitised) Loki label.
type labelPair struct{ name, value string }

// appendLabelSet writes the stream selector exactly like prometheus
// model.LabelSet.String(), which upstream used as stream key and as the
// labels sent: names sorted, `{a="x", b="y"}`, values Go-quoted. pairs must
// already be sorted by name and unique.
func appendLabelSet(dst []byte, pairs []labelPair) []byte {
	dst = append(dst, '{')
	for i, p := range pairs {
		if i > 0 {
			dst = append(dst, ',', ' ')
		}
		dst = append(dst, p.name...)
		dst = append(dst, '=')
		dst = strconv.AppendQuote(dst, p.value)
	}
	return append(dst, '}')
}
