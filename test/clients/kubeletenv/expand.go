package kubeletenv

import (
	"strings"
	"unicode/utf8"
)

// Expand replaces $(NAME) references in s the way the kubelet does for
// literal environment values, command and args: lookup says whether NAME is
// defined and its value; an undefined reference is kept verbatim, $$ is an
// escaped $, an unterminated $( and a $ before any other character are kept.
func Expand(s string, lookup func(name string) (string, bool)) string {
	var b strings.Builder
	last := 0 // start of the input not yet written
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		b.WriteString(s[last:i])
		next, size := utf8.DecodeRuneInString(s[i+1:])
		switch next {
		case '$':
			b.WriteByte('$')
			i += size
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Only the "$(" is consumed; the rest is scanned again, so a
				// later complete reference still expands.
				b.WriteString("$(")
				i++
				break
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			// Written as the decoded rune: an invalid byte becomes U+FFFD,
			// as it does in the kubelet.
			b.WriteByte('$')
			b.WriteRune(next)
			i += size
		}
		last = i + 1
	}
	return b.String() + s[last:]
}
