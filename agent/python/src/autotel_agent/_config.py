"""Configuration from the standard OpenTelemetry environment variables
(plus the few AUTOTEL_PYTHON_* switches this agent adds).

Invalid values never stop the app: they fall back to the default and are
listed in Config.problems so the agent can report them once on stderr.
"""

import os
import sys


def unquote(s):
    # urllib.parse costs every Python process of the pod several ms to
    # import; percent-encoding is rare in these variables.
    if "%" not in s:
        return s
    from urllib.parse import unquote as real_unquote
    return real_unquote(s)

# Variables this agent introduces (everything else is standard).
CAPTURE_STDOUT = "AUTOTEL_PYTHON_CAPTURE_STDOUT"
CAPTURE_STDERR = "AUTOTEL_PYTHON_CAPTURE_STDERR"
FLUSH_ON_SIGTERM = "AUTOTEL_PYTHON_FLUSH_ON_SIGTERM"

DEFAULT_ENDPOINT = "http://localhost:4318"
LOGS_PATH = "v1/logs"

PROTOBUF = "http/protobuf"
JSON = "http/json"

# Exporter names the official SDK accepts in OTEL_LOGS_EXPORTER that mean
# "OTLP over HTTP"; the seed's Instrumentation uses otlp_proto_http.
_OTLP_NAMES = ("otlp", "otlp_proto_http")


class Config(object):
    def __init__(self):
        self.disabled = False
        self.otlp = False
        self.console = False
        self.service_name = None
        self.resource_attributes = []
        self.endpoint = DEFAULT_ENDPOINT + "/" + LOGS_PATH
        self.protocol = PROTOBUF
        self.headers = []
        self.compression = None
        self.timeout = 10.0
        self.certificate = None
        self.client_certificate = None
        self.client_key = None
        self.schedule_delay = 1.0
        self.export_timeout = 30.0
        self.max_queue_size = 2048
        self.max_export_batch_size = 512
        self.attribute_count_limit = 128
        self.attribute_value_length_limit = None
        self.code_attributes = True
        self.capture_stdout = False
        self.capture_stderr = False
        self.flush_on_sigterm = True
        self.debug = False
        self.problems = []

    @property
    def exit_timeout(self):
        """How long process exit may wait for the last export: the export
        timeout, but never more than 10 s so a dead collector cannot hold
        a pod's shutdown for long."""
        return min(self.export_timeout, 10.0)


def _get(env, name):
    v = env.get(name)
    if v is None:
        return None
    v = v.strip()
    return v or None


def _signal(env, name):
    """OTEL_EXPORTER_OTLP_LOGS_<name>, else OTEL_EXPORTER_OTLP_<name>: the
    signal-specific variable replaces the generic one entirely."""
    v = _get(env, "OTEL_EXPORTER_OTLP_LOGS_" + name)
    if v is not None:
        return v, "OTEL_EXPORTER_OTLP_LOGS_" + name
    return _get(env, "OTEL_EXPORTER_OTLP_" + name), "OTEL_EXPORTER_OTLP_" + name


def _bool(env, name, default, problems):
    v = _get(env, name)
    if v is None:
        return default
    low = v.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    problems.append("%s=%r is not true or false; using %s" % (name, v, "true" if default else "false"))
    return default


def _number(env, name, default, problems, minimum=0, integer=True):
    v = _get(env, name)
    if v is None:
        return default
    try:
        n = int(v) if integer else float(v)
    except ValueError:
        problems.append("%s=%r is not a number; using %s" % (name, v, default))
        return default
    if n < minimum:
        problems.append("%s=%r is below %s; using %s" % (name, v, minimum, default))
        return default
    return n


def parse_key_values(value, name, problems):
    """k=v,k2=v2 with percent-encoded keys and values, as the spec defines
    for OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS. Later keys
    override earlier ones (the webhook may repeat k8s.pod.name)."""
    out = {}
    if not value:
        return []
    for item in value.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            problems.append("%s: ignoring %r (not key=value)" % (name, item.strip()))
            continue
        k, v = item.split("=", 1)
        k = unquote(k.strip())
        if not k:
            problems.append("%s: ignoring %r (empty key)" % (name, item.strip()))
            continue
        out.pop(k, None)
        out[k] = unquote(v.strip())
    return list(out.items())


def logs_endpoint(env, problems):
    specific = _get(env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    if specific is not None:
        url, var = specific, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
    else:
        base = _get(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
        var = "OTEL_EXPORTER_OTLP_ENDPOINT"
        if base is None:
            base = DEFAULT_ENDPOINT
        url = base + LOGS_PATH if base.endswith("/") else base + "/" + LOGS_PATH
    problem = check_url(url)
    if problem:
        problems.append("%s=%r %s; OTLP export is off" % (var, url, problem))
        return None
    return url


def check_url(url):
    """Why url cannot be an OTLP/HTTP endpoint, or None. Parsing is left to
    the exporter (urllib.parse, imported when the first record is sent)."""
    low = url.lower()
    for scheme in ("http://", "https://"):
        if low.startswith(scheme):
            rest = url[len(scheme):]
            host = rest.split("/", 1)[0].split("?", 1)[0]
            if not host or host.startswith(":"):
                return "has no host"
            port = host.rsplit("]", 1)[-1]
            if ":" in port:
                p = port.rsplit(":", 1)[1]
                if not p.isdigit() or not 0 < int(p) < 65536:
                    return "has an invalid port"
            return None
    return "is not an http:// or https:// URL"


def load(env=None):
    if env is None:
        env = os.environ
    c = Config()
    p = c.problems

    c.disabled = _bool(env, "OTEL_SDK_DISABLED", False, p)
    c.debug = (_get(env, "OTEL_LOG_LEVEL") or "").lower() == "debug"

    exporters = _get(env, "OTEL_LOGS_EXPORTER") or "otlp"
    for name in exporters.split(","):
        name = name.strip().lower()
        if name in _OTLP_NAMES:
            c.otlp = True
            if name == "otlp_proto_http":
                c.protocol = PROTOBUF
        elif name == "console":
            c.console = True
        elif name in ("none", ""):
            pass
        else:
            p.append("OTEL_LOGS_EXPORTER: %r is not supported by the autotel Python log agent "
                     "(supported: otlp, otlp_proto_http, console, none); ignoring it" % name)

    c.service_name = _get(env, "OTEL_SERVICE_NAME")
    c.resource_attributes = parse_key_values(env.get("OTEL_RESOURCE_ATTRIBUTES", ""), "OTEL_RESOURCE_ATTRIBUTES", p)

    if c.otlp:
        if "otlp_proto_http" not in exporters.lower():
            proto, var = _signal(env, "PROTOCOL")
            if proto is not None:
                proto = proto.lower()
                if proto in (PROTOBUF, JSON):
                    c.protocol = proto
                else:
                    p.append("%s=%r is not supported by the autotel Python log agent "
                             "(supported: http/protobuf, http/json); OTLP export is off" % (var, proto))
                    c.otlp = False
        endpoint = logs_endpoint(env, p)
        if endpoint is None:
            c.otlp = False
        else:
            c.endpoint = endpoint

        headers, var = _signal(env, "HEADERS")
        c.headers = parse_key_values(headers or "", var, p)

        comp, var = _signal(env, "COMPRESSION")
        if comp is not None:
            comp = comp.lower()
            if comp == "gzip":
                c.compression = "gzip"
            elif comp != "none":
                p.append("%s=%r is not supported (gzip, none); sending uncompressed" % (var, comp))

        t, var = _signal(env, "TIMEOUT")
        if t is not None:
            # The specification gives milliseconds.
            c.timeout = _number({var: t}, var, 10000, p, minimum=1, integer=False) / 1000.0

        c.certificate = _signal(env, "CERTIFICATE")[0]
        c.client_certificate = _signal(env, "CLIENT_CERTIFICATE")[0]
        c.client_key = _signal(env, "CLIENT_KEY")[0]

    c.schedule_delay = _number(env, "OTEL_BLRP_SCHEDULE_DELAY", 1000, p, integer=False) / 1000.0
    c.export_timeout = _number(env, "OTEL_BLRP_EXPORT_TIMEOUT", 30000, p, minimum=1, integer=False) / 1000.0
    c.max_queue_size = _number(env, "OTEL_BLRP_MAX_QUEUE_SIZE", 2048, p, minimum=1)
    c.max_export_batch_size = _number(env, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", 512, p, minimum=1)
    if c.max_export_batch_size > c.max_queue_size:
        p.append("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=%d exceeds OTEL_BLRP_MAX_QUEUE_SIZE=%d; using the queue size"
                 % (c.max_export_batch_size, c.max_queue_size))
        c.max_export_batch_size = c.max_queue_size

    count = _number(env, "OTEL_ATTRIBUTE_COUNT_LIMIT", 128, p)
    c.attribute_count_limit = _number(env, "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", count, p)
    length = _number(env, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", None, p)
    c.attribute_value_length_limit = _number(env, "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", length, p)

    c.code_attributes = _bool(env, "OTEL_PYTHON_LOG_CODE_ATTRIBUTES", True, p)
    c.capture_stdout = _bool(env, CAPTURE_STDOUT, False, p)
    c.capture_stderr = _bool(env, CAPTURE_STDERR, False, p)
    c.flush_on_sigterm = _bool(env, FLUSH_ON_SIGTERM, True, p)
    return c


def default_service_name():
    """unknown_service:<executable>, as the specification asks when
    OTEL_SERVICE_NAME and service.name are both unset."""
    exe = os.path.basename(sys.executable or "") or "python"
    return "unknown_service:" + exe
