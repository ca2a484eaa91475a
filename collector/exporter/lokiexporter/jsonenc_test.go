package lokiexporter

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The oracle is what upstream did: encoding/json over pcommon's AsRaw().
func marshalRaw(t *testing.T, v pcommon.Value) string {
	t.Helper()
	b, err := json.Marshal(v.AsRaw())
	if err != nil {
		t.Fatalf("oracle json.Marshal: %v", err)
	}
	return string(b)
}

func TestAppendJSONValueMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		set  func(v pcommon.Value)
	}{
		{"plain string", func(v pcommon.Value) { v.SetStr("hello world") }},
		{"quotes and backslash", func(v pcommon.Value) { v.SetStr(`say "hi" \ bye`) }},
		{"html", func(v pcommon.Value) { v.SetStr("<a href='x'>&amp;</a>") }},
		{"control characters", func(v pcommon.Value) { v.SetStr("a\x00b\x01\b\f\n\r\t\x1f\x7f") }},
		{"unicode", func(v pcommon.Value) { v.SetStr("ключ 日本語 emoji 🎉") }},
		{"line separators", func(v pcommon.Value) { v.SetStr("a\u2028b\u2029c") }},
		{"invalid utf8", func(v pcommon.Value) { v.SetStr("a\xffb\xc3(c\xed\xa0\x80") }},
		{"empty string", func(v pcommon.Value) { v.SetStr("") }},
		{"int", func(v pcommon.Value) { v.SetInt(-9223372036854775808) }},
		{"bool", func(v pcommon.Value) { v.SetBool(true) }},
		{"bytes", func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte{0, 1, 2, 250, 251}) }},
		{"empty bytes", func(v pcommon.Value) { v.SetEmptyBytes() }},
		{"map sorted with nesting", func(v pcommon.Value) {
			m := v.SetEmptyMap()
			m.PutStr("z", "last")
			m.PutInt("a", 1)
			m.PutEmptyMap("m").PutDouble("x", 1.5)
			m.PutEmptySlice("s").AppendEmpty().SetStr("e")
			m.PutStr("B", "upper sorts first")
			m.PutEmpty("nil")
		}},
		{"empty map", func(v pcommon.Value) { v.SetEmptyMap() }},
		{"empty slice", func(v pcommon.Value) { v.SetEmptySlice() }},
		{"slice of mixed", func(v pcommon.Value) {
			s := v.SetEmptySlice()
			s.AppendEmpty().SetInt(3)
			s.AppendEmpty().SetBool(false)
			s.AppendEmpty().SetEmptyMap().PutStr("k", "v")
			s.AppendEmpty()
		}},
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 1e-6, 9.99e-7, 1e-7, 1.5e-10, 1e20, 1e21, 123456789012345678901234.0, math.MaxFloat64, math.SmallestNonzeroFloat64, 3.141592653589793} {
		f := f
		tests = append(tests, struct {
			name string
			set  func(v pcommon.Value)
		}{fmt.Sprintf("double %g", f), func(v pcommon.Value) { v.SetDouble(f) }})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := pcommon.NewValueEmpty()
			tt.set(v)
			got, err := appendJSONValue(nil, v)
			if err != nil {
				t.Fatalf("appendJSONValue: %v", err)
			}
			if want := marshalRaw(t, v); string(got) != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestAppendJSONValueRejectsWhatEncodingJSONRejects(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		v := pcommon.NewValueEmpty()
		m := v.SetEmptyMap()
		m.PutDouble("x", f)
		if _, err := json.Marshal(v.AsRaw()); err == nil {
			t.Fatalf("oracle accepted %v", f)
		}
		if _, err := appendJSONValue(nil, v); err == nil {
			t.Errorf("appendJSONValue accepted %v, encoding/json does not", f)
		}
	}
}

// randomValue builds arbitrary nested values; the alphabet leans on the
// characters encoding/json treats specially.
func randomValue(r *rand.Rand, v pcommon.Value, depth int) {
	alphabet := []string{"a", "Z", "0", " ", `"`, `\`, "<", ">", "&", "\n", "\t", "\x00", "\x1f", "é", "ключ", "\u2028", "\xff", "🎉", ".", "_"}
	str := func() string {
		var b strings.Builder
		for n := r.IntN(8); n > 0; n-- {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	kind := r.IntN(8)
	if depth > 2 && kind >= 6 {
		kind = 0
	}
	switch kind {
	case 0, 1:
		v.SetStr(str())
	case 2:
		v.SetInt(r.Int64() - r.Int64())
	case 3:
		v.SetDouble(math.Float64frombits(r.Uint64()&^(0x7ff<<52)) * math.Pow(10, float64(r.IntN(60)-30)))
	case 4:
		v.SetBool(r.IntN(2) == 0)
	case 5:
		b := make([]byte, r.IntN(6))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		v.SetEmptyBytes().FromRaw(b)
	case 6:
		m := v.SetEmptyMap()
		for n := r.IntN(5); n > 0; n-- {
			randomValue(r, m.PutEmpty(str()), depth+1)
		}
	case 7:
		s := v.SetEmptySlice()
		for n := r.IntN(4); n > 0; n-- {
			randomValue(r, s.AppendEmpty(), depth+1)
		}
	}
}

func TestAppendJSONValueRandomised(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		v := pcommon.NewValueEmpty()
		randomValue(r, v, 0)
		got, err := appendJSONValue(nil, v)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if want := marshalRaw(t, v); string(got) != want {
			t.Fatalf("case %d:\ngot  %s\nwant %s", i, got, want)
		}
	}
}
