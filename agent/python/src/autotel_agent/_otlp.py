"""OTLP logs encoding: protobuf (written by hand) and OTLP/JSON.

The agent must have zero dependencies, so it cannot use the protobuf
runtime or the generated opentelemetry-proto classes. The part of the
schema it needs is small and frozen (opentelemetry-proto
collector/logs/v1, logs/v1, common/v1, resource/v1), so the wire format is
written directly. The tests decode this output with real protobuf and
OTLP/JSON implementations.

Records travel from the app thread as plain tuples (see Item below) and are
encoded here, in the export thread, in one batch.
"""

import codecs
import math
import struct

_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_pack_double = struct.Struct("<d").pack

_SMALL_VARINTS = [bytes((i,)) for i in range(128)]
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MASK = (1 << 64) - 1

# Item layout: one log record as the app thread hands it over.
T_TIME, T_OBSERVED, T_SEVERITY, T_SEVERITY_TEXT, T_SCOPE, T_BODY, T_ATTRS, T_TRACE_ID, T_SPAN_ID, T_FLAGS = range(10)


def varint(n):
    if n < 128:
        return _SMALL_VARINTS[n]
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def utf8(s):
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (bytes decoded with surrogateescape) are not valid
        # UTF-8 and a protobuf string must be: keep them visible, escaped.
        return s.encode("utf-8", "backslashreplace")


class Limits(object):
    """Attribute limits (OTEL_LOGRECORD_ATTRIBUTE_*_LIMIT)."""

    __slots__ = ("count", "value_length")

    def __init__(self, count=128, value_length=None):
        self.count = count
        self.value_length = value_length


NO_LIMITS = Limits(count=None, value_length=None)


def _truncate(v, n):
    t = type(v)
    if t is str or t is bytes:
        return v[:n] if len(v) > n else v
    if t is tuple or t is list:
        return tuple(_truncate(x, n) for x in v)
    return v


# --- protobuf -------------------------------------------------------------

def any_value(v):
    """Encodes one AnyValue message. Values arrive sanitized by
    sanitize(): str, bool, int, float, bytes, None, tuple/list, dict."""
    t = type(v)
    if t is str:
        b = utf8(v)
        return b"\x0a" + varint(len(b)) + b
    if t is bool:
        return b"\x10\x01" if v else b"\x10\x00"
    if t is int:
        if _INT64_MIN <= v <= _INT64_MAX:
            return b"\x18" + varint(v & _UINT64_MASK)
        b = utf8(str(v))
        return b"\x0a" + varint(len(b)) + b
    if t is float:
        return b"\x21" + _pack_double(v)
    if v is None:
        return b""
    if t is bytes:
        return b"\x3a" + varint(len(v)) + v
    if t is tuple or t is list:
        parts = []
        for x in v:
            a = any_value(x)
            parts.append(b"\x0a" + varint(len(a)) + a)
        inner = b"".join(parts)
        return b"\x2a" + varint(len(inner)) + inner
    if t is dict:
        inner = b"".join(_kv_field(b"\x0a", str(k), x) for k, x in v.items())
        return b"\x32" + varint(len(inner)) + inner
    return any_value(sanitize(v))


def _kv_field(tag, key, value):
    """One KeyValue as a length-delimited field with the given tag byte."""
    k = utf8(key)
    a = any_value(value)
    kv = b"\x0a" + varint(len(k)) + k + b"\x12" + varint(len(a)) + a
    return tag + varint(len(kv)) + kv


# Encoded KeyValue fields of log records by (key, value), for values that
# repeat from record to record (code.file.path, code.function.name,
# code.line.number, the keys of extra= fields with small values): most of a
# record's attributes are then one dict lookup. Bounded; only the export
# thread uses it.
_KV_CACHE = {}
_KV_CACHE_MAX = 4096


def _record_kv(k, v):
    t = type(v)
    if t is int or (t is str and len(v) < 256):
        ck = (k, v)
        enc = _KV_CACHE.get(ck)
        if enc is None:
            enc = _kv_field(b"\x32", k, v)
            if len(_KV_CACHE) >= _KV_CACHE_MAX:
                _KV_CACHE.clear()
            _KV_CACHE[ck] = enc
        return enc
    return _kv_field(b"\x32", k, v)


def encode_attributes(tag, attrs, limits):
    """Repeated KeyValue fields; returns (bytes, dropped_count)."""
    dropped = 0
    count = limits.count
    if count is not None and len(attrs) > count:
        dropped = len(attrs) - count
        attrs = attrs[:count]
    vl = limits.value_length
    if vl is not None:
        attrs = [(k, _truncate(v, vl)) for k, v in attrs]
    if tag == b"\x32":
        return b"".join([_record_kv(k, v) for k, v in attrs]), dropped
    return b"".join([_kv_field(tag, k, v) for k, v in attrs]), dropped


def encode_resource(attrs):
    """The Resource message for a list of (key, value)."""
    body, _ = encode_attributes(b"\x0a", attrs, NO_LIMITS)
    return body


_pack_times = struct.Struct("<BQBQ").pack  # field 1 and field 11, both fixed64
_SEVERITY_CACHE = {}


def _severity_fields(sev, text):
    k = (sev, text)
    enc = _SEVERITY_CACHE.get(k)
    if enc is None:
        enc = (b"\x10" + _SMALL_VARINTS[sev]) if sev else b""
        if text:
            b = utf8(text)
            enc += b"\x1a" + varint(len(b)) + b
        if len(_SEVERITY_CACHE) < 256:
            _SEVERITY_CACHE[k] = enc
    return enc


def encode_log_record(item, limits):
    body = any_value(item[T_BODY])
    parts = [
        _pack_times(0x09, item[T_TIME], 0x59, item[T_OBSERVED]),
        _severity_fields(item[T_SEVERITY], item[T_SEVERITY_TEXT]),
        b"\x2a", varint(len(body)), body,
    ]
    attrs = item[T_ATTRS]
    if attrs:
        enc, dropped = encode_attributes(b"\x32", attrs, limits)
        parts.append(enc)
        if dropped:
            parts.append(b"\x38" + varint(dropped))
    trace_id = item[T_TRACE_ID]
    if trace_id:
        flags = item[T_FLAGS]
        if flags:
            parts.append(b"\x45" + _pack_fixed32(flags & 0xFF))
        parts.append(b"\x4a\x10" + trace_id.to_bytes(16, "big"))
        parts.append(b"\x52\x08" + item[T_SPAN_ID].to_bytes(8, "big"))
    return b"".join(parts)


def group_by_scope(items):
    groups = {}
    for it in items:
        g = groups.get(it[T_SCOPE])
        if g is None:
            groups[it[T_SCOPE]] = [it]
        else:
            g.append(it)
    return groups


def encode_request(resource, items, limits):
    """ExportLogsServiceRequest with one ResourceLogs and one ScopeLogs per
    logger name. resource is the output of encode_resource()."""
    scope_parts = []
    for name, recs in group_by_scope(items).items():
        n = utf8(name)
        scope = b"\x0a" + varint(len(n)) + n if n else b""
        sl = [b"\x0a", varint(len(scope)), scope]
        for it in recs:
            r = encode_log_record(it, limits)
            sl.append(b"\x12")
            sl.append(varint(len(r)))
            sl.append(r)
        sl = b"".join(sl)
        scope_parts.append(b"\x12" + varint(len(sl)) + sl)
    rl = b"\x0a" + varint(len(resource)) + resource + b"".join(scope_parts)
    return b"\x0a" + varint(len(rl)) + rl


def _read_varint(buf, i):
    shift = 0
    result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf):
    """Yields (field_number, wire_type, value) of one message; enough of a
    decoder to read ExportLogsServiceResponse."""
    i = 0
    n = len(buf)
    while i < n:
        key, i = _read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _read_varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            ln, i = _read_varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        if i > n:
            raise ValueError("truncated message")
        yield field, wire, v


def decode_partial_success_proto(body):
    """(rejected_log_records, error_message) from an
    ExportLogsServiceResponse; (0, "") when absent."""
    rejected, message = 0, ""
    for field, wire, v in _fields(body):
        if field == 1 and wire == 2:
            for f2, w2, v2 in _fields(v):
                if f2 == 1 and w2 == 0:
                    rejected = v2 - (1 << 64) if v2 >= (1 << 63) else v2
                elif f2 == 2 and w2 == 2:
                    message = bytes(v2).decode("utf-8", "replace")
    return rejected, message


def decode_partial_success_json(body):
    import json
    if not body.strip():
        return 0, ""
    doc = json.loads(body.decode("utf-8", "replace"))
    ps = doc.get("partialSuccess") or doc.get("partial_success") or {}
    rejected = ps.get("rejectedLogRecords", ps.get("rejected_log_records", 0)) or 0
    return int(rejected), ps.get("errorMessage", ps.get("error_message", "")) or ""


# --- OTLP/JSON ------------------------------------------------------------
# OTLP/JSON is the protobuf JSON mapping with the OTLP exceptions: trace and
# span ids are hex (not base64) and enums are integers.

def _json_any(v):
    t = type(v)
    if t is str:
        return {"stringValue": v}
    if t is bool:
        return {"boolValue": v}
    if t is int:
        if _INT64_MIN <= v <= _INT64_MAX:
            return {"intValue": str(v)}
        return {"stringValue": str(v)}
    if t is float:
        if math.isnan(v):
            return {"doubleValue": "NaN"}
        if math.isinf(v):
            return {"doubleValue": "Infinity" if v > 0 else "-Infinity"}
        return {"doubleValue": v}
    if v is None:
        return {}
    if t is bytes:
        import base64
        return {"bytesValue": base64.b64encode(v).decode("ascii")}
    if t is tuple or t is list:
        return {"arrayValue": {"values": [_json_any(x) for x in v]}}
    if t is dict:
        return {"kvlistValue": {"values": [{"key": str(k), "value": _json_any(x)} for k, x in v.items()]}}
    return _json_any(sanitize(v))


def _json_attributes(attrs, limits):
    dropped = 0
    if limits.count is not None and len(attrs) > limits.count:
        dropped = len(attrs) - limits.count
        attrs = attrs[:limits.count]
    vl = limits.value_length
    out = [{"key": k, "value": _json_any(v if vl is None else _truncate(v, vl))} for k, v in attrs]
    return out, dropped


def json_log_record(item, limits):
    rec = {
        "timeUnixNano": str(item[T_TIME]),
        "observedTimeUnixNano": str(item[T_OBSERVED]),
    }
    if item[T_SEVERITY]:
        rec["severityNumber"] = item[T_SEVERITY]
    if item[T_SEVERITY_TEXT]:
        rec["severityText"] = item[T_SEVERITY_TEXT]
    rec["body"] = _json_any(item[T_BODY])
    if item[T_ATTRS]:
        rec["attributes"], dropped = _json_attributes(item[T_ATTRS], limits)
        if dropped:
            rec["droppedAttributesCount"] = dropped
    if item[T_TRACE_ID]:
        if item[T_FLAGS]:
            rec["flags"] = item[T_FLAGS] & 0xFF
        rec["traceId"] = "%032x" % item[T_TRACE_ID]
        rec["spanId"] = "%016x" % item[T_SPAN_ID]
    return rec


def json_resource(attrs):
    return {"attributes": [{"key": k, "value": _json_any(v)} for k, v in attrs]}


def encode_request_json(resource_json, items, limits):
    scope_logs = []
    for name, recs in group_by_scope(items).items():
        scope_logs.append({
            "scope": {"name": name} if name else {},
            "logRecords": [json_log_record(it, limits) for it in recs],
        })
    import json  # only the http/json protocol needs it
    doc = {"resourceLogs": [{"resource": resource_json, "scopeLogs": scope_logs}]}
    # ensure_ascii=False keeps non-Latin text at its UTF-8 size.
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8", _JSON_SURROGATES)


def _escape_surrogates_in_json(err):
    # A lone surrogate cannot be UTF-8. It becomes the same visible text as
    # in protobuf (utf8() above): a backslash and uXXXX, where the
    # backslash itself must be escaped inside a JSON string.
    text = err.object[err.start:err.end]
    return "".join("\\\\u%04x" % ord(c) for c in text), err.end


_JSON_SURROGATES = "autotel.json_surrogates"
codecs.register_error(_JSON_SURROGATES, _escape_surrogates_in_json)


# --- values ---------------------------------------------------------------

def sanitize(v, _depth=0):
    """Turns an arbitrary Python value into one the encoders accept, the way
    the OpenTelemetry SDK does for log attributes: primitives, sequences and
    mappings are kept, anything else becomes str(value). Runs in the app
    thread so that app objects are never touched from the export thread."""
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None or t is bytes:
        return v
    if _depth > 8:
        return _safe_str(v)
    if t is tuple or t is list:
        return tuple(sanitize(x, _depth + 1) for x in v)
    if t is dict:
        return dict((str(k), sanitize(x, _depth + 1)) for k, x in v.items())
    # Subclasses (IntEnum, str subclasses, OrderedDict, ...) are reduced to
    # their base type so the encoders only see exact types.
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (tuple, list, set, frozenset)):
        return tuple(sanitize(x, _depth + 1) for x in v)
    if isinstance(v, dict):
        return dict((str(k), sanitize(x, _depth + 1)) for k, x in v.items())
    return _safe_str(v)


def _safe_str(v):
    try:
        return str(v)
    except Exception:  # an app object whose __str__ fails must not lose the record
        return "<unprintable %s>" % type(v).__name__
