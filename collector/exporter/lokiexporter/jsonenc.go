package lokiexporter

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The upstream exporter builds each JSON line with encoding/json over
// pcommon's AsRaw() maps: one map, one interface value and one reflection walk
// per attribute per record. These appenders write the very same bytes
// (encoding/json's escaping, float formatting and sorted map keys) straight
// from pdata into a reused buffer, which is where most of the exporter's CPU
// went. jsonenc_test.go checks them against encoding/json.

var errUnsupportedFloat = errors.New("json: unsupported value")

const hexDigits = "0123456789abcdef"

// htmlSafe reports the ASCII bytes encoding/json (with HTML escaping, as
// json.Marshal does) copies verbatim into a string.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		switch b {
		case '"', '\\', '<', '>', '&':
		default:
			t[b] = true
		}
	}
	return t
}()

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers, so
		// encoding/json escapes them; so must we to stay byte-identical.
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendJSONFloat follows encoding/json's float64 encoder: shortest
// representation, exponent form only outside [1e-6, 1e21), and a two-digit
// negative exponent shortened to one digit.
func appendJSONFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("%w: %s", errUnsupportedFloat, strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

func appendJSONValue(dst []byte, v pcommon.Value) ([]byte, error) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendJSONString(dst, v.Str()), nil
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(dst, v.Int(), 10), nil
	case pcommon.ValueTypeDouble:
		return appendJSONFloat(dst, v.Double())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(dst, v.Bool()), nil
	case pcommon.ValueTypeBytes:
		raw := v.Bytes().AsRaw()
		if len(raw) == 0 {
			// AsRaw gives a nil slice, which encoding/json writes as null.
			return append(dst, "null"...), nil
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, raw)
		return append(dst, '"'), nil
	case pcommon.ValueTypeMap:
		var kvs []keyValue
		for k, mv := range v.Map().All() {
			kvs = append(kvs, keyValue{k, mv})
		}
		return appendJSONObject(dst, sortDedup(kvs))
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		dst = append(dst, '[')
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendJSONValue(dst, s.At(i)); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	default:
		return append(dst, "null"...), nil
	}
}

// keyValue is one attribute of a map being encoded; the encoders take
// filtered, sorted slices of them instead of pcommon.Map so removed
// attributes never need a copy of the map.
type keyValue struct {
	key   string
	value pcommon.Value
}

// sortDedup orders attributes the way encoding/json orders map keys and, like
// AsRaw() building a Go map, keeps the last of duplicate keys.
func sortDedup(kvs []keyValue) []keyValue {
	if len(kvs) < 2 {
		return kvs
	}
	if len(kvs) <= 12 {
		// Insertion sort: stable, allocation-free, fastest for typical
		// attribute counts.
		for i := 1; i < len(kvs); i++ {
			for j := i; j > 0 && kvs[j].key < kvs[j-1].key; j-- {
				kvs[j], kvs[j-1] = kvs[j-1], kvs[j]
			}
		}
	} else {
		slices.SortStableFunc(kvs, func(a, b keyValue) int { return strings.Compare(a.key, b.key) })
	}
	out := kvs[:0]
	for i := range kvs {
		if i+1 < len(kvs) && kvs[i+1].key == kvs[i].key {
			continue
		}
		out = append(out, kvs[i])
	}
	return out
}

func appendJSONObject(dst []byte, kvs []keyValue) ([]byte, error) {
	dst = append(dst, '{')
	for i, kv := range kvs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, kv.key)
		dst = append(dst, ':')
		var err error
		if dst, err = appendJSONValue(dst, kv.value); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}
