package lokiexporter

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/go-logfmt/logfmt"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// appendLogfmtLine builds upstream's logfmt line: the body's own logfmt pairs
// (or msg=<body>), then traceID, spanID, severity and flags replacing or
// appending, then attribute_*, resource_* and instrumentation_scope_* pairs.
// The key/value list is handed to go-logfmt, the library upstream used, so
// quoting and the treatment of odd keys are the same bytes.
func appendLogfmtLine(dst []byte, lr plog.LogRecord, attrs, resAttrs []keyValue, scope pcommon.InstrumentationScope) ([]byte, error) {
	keyvals := bodyToKeyvals(lr.Body())
	if id := lr.TraceID(); !id.IsEmpty() {
		keyvals = replaceOrAppend(keyvals, "traceID", hex.EncodeToString(id[:]))
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		keyvals = replaceOrAppend(keyvals, "spanID", hex.EncodeToString(id[:]))
	}
	if s := lr.SeverityText(); s != "" {
		keyvals = replaceOrAppend(keyvals, "severity", s)
	}
	if f := uint32(lr.Flags()); f != 0 {
		keyvals = replaceOrAppend(keyvals, "flags", f)
	}
	for _, kv := range attrs {
		keyvals = append(keyvals, valueToKeyvals("attribute_"+kv.key, kv.value)...)
	}
	for _, kv := range resAttrs {
		keyvals = append(keyvals, valueToKeyvals("resource_"+kv.key, kv.value)...)
	}
	if name := scope.Name(); name != "" {
		keyvals = append(keyvals, "instrumentation_scope_name", name)
		if v := scope.Version(); v != "" {
			keyvals = append(keyvals, "instrumentation_scope_version", v)
		}
		for k, v := range scope.Attributes().All() {
			keyvals = append(keyvals, valueToKeyvals("instrumentation_scope_attribute_"+k, v)...)
		}
	}
	line, err := logfmt.MarshalKeyvals(keyvals...)
	if err != nil {
		return dst, err
	}
	return append(dst, line...), nil
}

func bodyToKeyvals(body pcommon.Value) []any {
	switch body.Type() {
	case pcommon.ValueTypeEmpty:
		return nil
	case pcommon.ValueTypeStr:
		if kv, err := parseLogfmt(body.Str()); err == nil {
			return kv
		}
		return []any{"msg", body.Str()}
	case pcommon.ValueTypeMap:
		return valueToKeyvals("", body)
	case pcommon.ValueTypeSlice:
		return valueToKeyvals("body", body)
	default:
		return []any{"msg", body.AsRaw()}
	}
}

// parseLogfmt reads the first logfmt record of the body (upstream reads only
// one record, so text after a newline is lost there too).
func parseLogfmt(line string) ([]any, error) {
	var keyvals []any
	dec := logfmt.NewDecoder(strings.NewReader(line))
	dec.ScanRecord()
	for dec.ScanKeyval() {
		keyvals = append(keyvals, dec.Key(), dec.Value())
	}
	if err := dec.Err(); err != nil {
		return nil, err
	}
	return keyvals, nil
}

func valueToKeyvals(key string, v pcommon.Value) []any {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return nil
	case pcommon.ValueTypeStr:
		return []any{key, v.Str()}
	case pcommon.ValueTypeBool:
		return []any{key, v.Bool()}
	case pcommon.ValueTypeInt:
		return []any{key, v.Int()}
	case pcommon.ValueTypeDouble:
		return []any{key, v.Double()}
	case pcommon.ValueTypeMap:
		prefix := ""
		if key != "" {
			prefix = key + "_"
		}
		var keyvals []any
		for k, mv := range v.Map().All() {
			keyvals = append(keyvals, valueToKeyvals(prefix+k, mv)...)
		}
		return keyvals
	case pcommon.ValueTypeSlice:
		prefix := ""
		if key != "" {
			prefix = key + "_"
		}
		var keyvals []any
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			keyvals = append(keyvals, valueToKeyvals(prefix+strconv.Itoa(i), s.At(i))...)
		}
		return keyvals
	default:
		return []any{key, v.AsRaw()}
	}
}

func replaceOrAppend(keyvals []any, key string, value any) []any {
	for i := 0; i < len(keyvals); i += 2 {
		if keyvals[i] == key {
			keyvals[i+1] = value
			return keyvals
		}
	}
	return append(keyvals, key, value)
}
