package lokiexporter

import (
	"strconv"
	"strings"
	"unicode"
)

// normalizeLabel turns an attribute name into a Loki label name.
//
// It first applies the upstream exporter's rule (Prometheus' NormalizeLabel
// without the PermissiveLabelSanitization gate): every rune that is not a
// letter or digit becomes '_', a leading digit gets "key_", a single leading
// '_' gets "key". Upstream keeps non-ASCII letters, which Loki rejects with a
// 400 for the whole push (one odd attribute name then drops every stream of
// the batch); only for such names do we apply the same rule with ASCII-only
// letters, so every name upstream sends successfully stays byte-identical.
func normalizeLabel(name string) string {
	n := normalizeWith(name, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })
	if validLabelName(n) || n == "" {
		return n
	}
	return normalizeWith(name, isASCIIAlnum)
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
