"""Transports: OTLP over HTTP (protobuf or JSON) and the console exporter.

http.client is used directly (not urllib): it does no logging, honours no
proxy variables meant for the app's own traffic, and lets one keep-alive
connection serve every export of the process.
"""

import time

from . import _otlp
from ._config import JSON

RETRYABLE_STATUS = frozenset((408, 429, 500, 502, 503, 504))
MAX_RESPONSE = 1 << 20


class Result(object):
    """Outcome of one attempt. retry_after is the server's Retry-After in
    seconds, or None."""

    __slots__ = ("ok", "retryable", "retry_after", "rejected", "message")

    def __init__(self, ok, retryable=False, retry_after=None, rejected=0, message=""):
        self.ok = ok
        self.retryable = retryable
        self.retry_after = retry_after
        self.rejected = rejected
        self.message = message


def parse_retry_after(value, now=None):
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class OTLPHTTPExporter(object):
    def __init__(self, config, version):
        self._config = config
        self._https = config.endpoint.lower().startswith("https:")
        self._json = config.protocol == JSON
        self._headers = {
            "Content-Type": "application/json" if self._json else "application/x-protobuf",
            "User-Agent": "autotel-python/%s" % version,
        }
        if config.compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        for k, v in config.headers:
            self._headers[k] = v
        self._http = None
        self._ssl_context = None
        self._conn = None

    def prepare(self):
        """Imports what sending needs. Called once, from the app thread that
        starts the export thread: every Python process in the pod runs the
        agent, and most never log, so they should not pay for http.client;
        and an import in the export thread could hold an import lock at the
        moment another thread forks."""
        import http.client
        import zlib  # noqa: F401 - gzip, imported here for the same reason
        from urllib.parse import urlsplit
        u = urlsplit(self._config.endpoint)
        self._host = u.hostname
        self._port = u.port or (443 if self._https else 80)
        self._path = (u.path or "/") + ("?" + u.query if u.query else "")
        self._http = http.client
        if self._https:
            import ssl
            ctx = ssl.create_default_context(cafile=self._config.certificate)
            if self._config.client_certificate:
                ctx.load_cert_chain(self._config.client_certificate, self._config.client_key)
            self._ssl_context = ctx

    def encode(self, resource, items, limits):
        if self._json:
            body = _otlp.encode_request_json(resource.json, items, limits)
        else:
            body = _otlp.encode_request(resource.proto, items, limits)
        if self._config.compression == "gzip":
            import zlib
            c = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container
            body = c.compress(body) + c.flush()
        return body

    def _connection(self, timeout):
        if self._conn is None:
            if self._https:
                self._conn = self._http.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._ssl_context)
            else:
                self._conn = self._http.HTTPConnection(self._host, self._port, timeout=timeout)
        else:
            self._conn.timeout = timeout
            if self._conn.sock is not None:
                self._conn.sock.settimeout(timeout)
        return self._conn

    def close(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def forget_connection(self):
        """After fork: the socket belongs to the parent's exchange with the
        collector; the child must neither use nor shut it down."""
        self._conn = None

    def send(self, body, timeout):
        conn = self._connection(timeout)
        try:
            conn.request("POST", self._path, body=body, headers=self._headers)
            resp = conn.getresponse()
            status = resp.status
            data = resp.read(MAX_RESPONSE)
            retry_after = resp.getheader("Retry-After")
            content_type = resp.getheader("Content-Type") or ""
            if resp.will_close:
                self.close()
        except (OSError, self._http.HTTPException) as e:
            # Connection refused/reset, timeouts, DNS, TLS, malformed replies:
            # all transient from the agent's point of view.
            self.close()
            return Result(False, retryable=True, message="%s: %s" % (type(e).__name__, e))
        if 200 <= status < 300:
            rejected, msg = 0, ""
            try:
                if "json" in content_type:
                    rejected, msg = _otlp.decode_partial_success_json(data)
                elif data:
                    rejected, msg = _otlp.decode_partial_success_proto(data)
            except (ValueError, IndexError, TypeError):
                pass  # an unreadable success response is still a success
            return Result(True, rejected=rejected, message=msg)
        text = data[:200].decode("utf-8", "replace").strip()
        return Result(False, retryable=status in RETRYABLE_STATUS,
                      retry_after=parse_retry_after(retry_after),
                      message="HTTP %d from %s%s" % (status, self._config.endpoint, (": " + text) if text else ""))


class ConsoleExporter(object):
    """OTEL_LOGS_EXPORTER=console: one JSON object per record on stdout, in
    the field names of the SDK's console output, one line each so that line
    based log collectors keep one record per line."""

    def __init__(self, stream_getter):
        self._stream = stream_getter

    def export(self, resource, items):
        out = self._stream()
        if out is None:
            return
        import json
        lines = []
        for it in items:
            rec = {
                "body": it[_otlp.T_BODY],
                "severity_number": it[_otlp.T_SEVERITY],
                "severity_text": it[_otlp.T_SEVERITY_TEXT] or None,
                "attributes": dict(it[_otlp.T_ATTRS] or ()),
                "timestamp": _iso(it[_otlp.T_TIME]),
                "observed_timestamp": _iso(it[_otlp.T_OBSERVED]),
                "trace_id": "0x%032x" % it[_otlp.T_TRACE_ID] if it[_otlp.T_TRACE_ID] else None,
                "span_id": "0x%016x" % it[_otlp.T_SPAN_ID] if it[_otlp.T_TRACE_ID] else None,
                "trace_flags": it[_otlp.T_FLAGS] if it[_otlp.T_TRACE_ID] else None,
                "resource": resource.dict,
                "scope": it[_otlp.T_SCOPE],
            }
            lines.append(json.dumps(rec, default=_json_default, ensure_ascii=False))
        out.write("\n".join(lines) + "\n")
        out.flush()


def _json_default(v):
    if isinstance(v, bytes):
        import base64
        return base64.b64encode(v).decode("ascii")
    return str(v)


def _iso(ns):
    s, frac = divmod(ns, 1000000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%06dZ" % (frac // 1000)
