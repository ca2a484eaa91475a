import io
import logging
import sys
import types
import unittest

import support  # noqa: F401
from autotel_agent import _bridge, _diag, _otlp

T = _otlp

# The OpenTelemetry logging handler's table (opentelemetry-instrumentation-
# logging, std_to_otel), written out independently of the agent's formula.
CONTRIB = {}
for _lv in range(10, 54):
    _decade, _step = divmod(_lv, 10)
    CONTRIB[_lv] = {1: 5, 2: 9, 3: 13, 4: 17, 5: 21}[_decade] + {0: 0, 1: 1, 2: 2}.get(_step, 3)


class Local(object):
    busy = False


def record(msg="m", args=(), level=logging.INFO, name="app", exc_info=None, extra=None):
    logger = logging.getLogger(name)
    return logger.makeRecord(name, level, "/x/app.py", 7, msg, args, exc_info, "fn", extra)


class SeverityTest(unittest.TestCase):
    def test_every_level(self):
        for lv in range(0, 70):
            want = 0 if lv < 10 else 24 if lv > 53 else CONTRIB[lv]
            self.assertEqual(_bridge.severity_number(lv), want, lv)
            self.assertEqual(_bridge.map_record(record(level=lv))[T.T_SEVERITY], want, lv)

    def test_text(self):
        self.assertEqual(_bridge.map_record(record(level=logging.WARNING))[T.T_SEVERITY_TEXT], "WARN")
        self.assertEqual(_bridge.map_record(record(level=logging.CRITICAL))[T.T_SEVERITY_TEXT], "FATAL")
        self.assertEqual(_bridge.map_record(record(level=logging.ERROR))[T.T_SEVERITY_TEXT], "ERROR")
        self.assertEqual(_bridge.map_record(record(level=25))[T.T_SEVERITY_TEXT], "Level 25")


class BodyTest(unittest.TestCase):
    def test_formatted(self):
        self.assertEqual(_bridge.map_record(record("a %s %d", ("b", 3)))[T.T_BODY], "a b 3")

    def test_formatter_result_reused(self):
        r = record("a %s", ("b",))
        logging.Formatter().format(r)
        r.args = ("changed",)  # reuse is observable: the formatted text wins
        self.assertEqual(_bridge.map_record(r)[T.T_BODY], "a b")

    def test_structured_and_objects(self):
        self.assertEqual(_bridge.map_record(record({"k": [1]}))[T.T_BODY], {"k": (1,)})
        self.assertEqual(_bridge.map_record(record(None))[T.T_BODY], "None")
        self.assertEqual(_bridge.map_record(record(ValueError("v")))[T.T_BODY], "v")

    def test_bad_args_do_not_lose_the_record(self):
        self.assertEqual(_bridge.map_record(record("a %d", ("x",)))[T.T_BODY], "a %d")


class AttributesTest(unittest.TestCase):
    def test_extra_and_code(self):
        it = _bridge.map_record(record(extra={"order_id": 42, "obj": object}))
        attrs = dict(it[T.T_ATTRS])
        self.assertEqual(attrs["order_id"], 42)
        self.assertEqual(attrs["obj"], str(object))
        self.assertEqual((attrs["code.file.path"], attrs["code.function.name"], attrs["code.line.number"]), ("/x/app.py", "fn", 7))
        for reserved in _bridge.RESERVED:
            self.assertNotIn(reserved, attrs)
        self.assertEqual(it[T.T_SCOPE], "app")

    def test_no_code_attributes(self):
        self.assertEqual(_bridge.map_record(record(), code_attributes=False)[T.T_ATTRS], ())

    def test_formatter_fields_are_not_extras(self):
        r = record()
        logging.Formatter("%(asctime)s %(message)s").format(r)
        self.assertEqual(_bridge.map_record(r, code_attributes=False)[T.T_ATTRS], ())

    def test_exception(self):
        try:
            raise KeyError("k", "second")
        except KeyError:
            ei = sys.exc_info()
        attrs = dict(_bridge.map_record(record(exc_info=ei))[T.T_ATTRS])
        self.assertEqual(attrs["exception.type"], "KeyError")
        self.assertEqual(attrs["exception.message"], "k", "args[0], as the OpenTelemetry handler does")
        self.assertTrue(attrs["exception.stacktrace"].startswith("Traceback (most recent call last):"))
        attrs = dict(_bridge.map_record(record(exc_info=(None, None, None)))[T.T_ATTRS])
        self.assertNotIn("exception.type", attrs)
        try:
            raise RuntimeError()
        except RuntimeError:
            attrs = dict(_bridge.map_record(record(exc_info=sys.exc_info()))[T.T_ATTRS])
        self.assertNotIn("exception.message", attrs)


class TraceContextTest(unittest.TestCase):
    def fake_api(self, trace_id, span_id, flags):
        ctx = types.SimpleNamespace(trace_id=trace_id, span_id=span_id, trace_flags=flags,
                                    is_valid=bool(trace_id and span_id))
        span = types.SimpleNamespace(get_span_context=lambda: ctx)
        mod = types.ModuleType("opentelemetry.trace")
        mod.get_current_span = lambda: span
        return mod

    def test_ids_only_with_a_valid_span(self):
        saved = sys.modules.get("opentelemetry.trace")
        try:
            sys.modules.pop("opentelemetry.trace", None)
            it = _bridge.map_record(record())
            self.assertEqual((it[T.T_TRACE_ID], it[T.T_SPAN_ID], it[T.T_FLAGS]), (0, 0, 0))
            sys.modules["opentelemetry.trace"] = self.fake_api(0, 0, 0)
            self.assertEqual(_bridge.map_record(record())[T.T_TRACE_ID], 0)
            sys.modules["opentelemetry.trace"] = self.fake_api(7, 8, 1)
            it = _bridge.map_record(record())
            self.assertEqual((it[T.T_TRACE_ID], it[T.T_SPAN_ID], it[T.T_FLAGS]), (7, 8, 1))
        finally:
            if saved is None:
                sys.modules.pop("opentelemetry.trace", None)
            else:
                sys.modules["opentelemetry.trace"] = saved


class BridgeTest(unittest.TestCase):
    def setUp(self):
        self.items = []
        self.local = Local()
        self.diag = _diag.Diag(stream=io.StringIO())
        self.bridge = _bridge.Bridge(self.items.append, self.local, self.diag)
        self.bridge.install()
        self.root = logging.getLogger()
        self.saved = (self.root.handlers[:], self.root.level)
        self.root.handlers = []

    def tearDown(self):
        self.bridge.uninstall()
        self.root.handlers, self.root.level = self.saved
        self.root.setLevel(self.saved[1])

    def bodies(self):
        return [i[T.T_BODY] for i in self.items]

    def test_installs_no_visible_handler(self):
        self.assertEqual(logging.getLogger().handlers, [])
        self.assertFalse(logging.getLogger("x.y").hasHandlers())

    def test_propagation_decides(self):
        a = logging.getLogger("bridge.a")
        b = logging.getLogger("bridge.a.b")
        b.setLevel(logging.INFO)
        b.info("exported")
        a.propagate = False
        try:
            b.info("stops at a")
        finally:
            a.propagate = True
        logging.getLogger().warning("root itself")
        self.assertEqual(self.bodies(), ["exported", "root itself"])

    def test_console_handlers_run_first_and_unchanged(self):
        out = io.StringIO()
        h = logging.StreamHandler(out)
        h.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        self.root.addHandler(h)
        logging.getLogger("bridge.c").warning("w %d", 1)
        self.assertEqual(out.getvalue(), "W" "ARNING w 1\n")
        self.assertEqual(self.bodies(), ["w 1"])

    def test_basic_config_still_configures(self):
        out = io.StringIO()
        logging.basicConfig(stream=out, level=logging.INFO, format="%(name)s|%(message)s")
        logging.getLogger("bridge.bc").info("hi")
        self.assertEqual(out.getvalue(), "bridge.bc|hi\n")
        self.assertEqual(len(self.root.handlers), 1)

    def test_recursion_is_cut(self):
        # Something on the export path logs (a library, a warning): that
        # record must not be exported again, or each export feeds the next.
        logger = logging.getLogger("bridge.rec")

        def emitting(item):
            self.items.append(item)
            logger.warning("logged while exporting")

        self.bridge.uninstall()
        self.bridge = _bridge.Bridge(emitting, self.local, self.diag)
        self.bridge.install()
        logger.warning("outer")
        self.assertEqual(self.bodies(), ["outer"])

    def test_busy_thread_is_ignored(self):
        self.local.busy = True
        logging.getLogger("bridge.busy").warning("from the export thread")
        self.local.busy = False
        self.assertEqual(self.items, [])

    def test_agent_errors_never_reach_the_app(self):
        def broken(item):
            raise RuntimeError("agent bug")

        self.bridge.uninstall()
        self.bridge = _bridge.Bridge(broken, self.local, self.diag)
        self.bridge.install()
        logging.getLogger("bridge.err").warning("still fine")
        self.assertEqual(self.diag.internal_errors, 1)
        self.assertIn("agent bug", self.diag._stream.getvalue())
        self.assertFalse(self.local.busy)

    def test_double_install_refused(self):
        with self.assertRaises(RuntimeError):
            _bridge.Bridge(self.items.append, self.local, self.diag).install()

    def test_uninstall_restores(self):
        self.bridge.uninstall()
        logging.getLogger("bridge.off").warning("not exported")
        self.assertEqual(self.items, [])
        self.assertFalse(hasattr(logging.Logger.callHandlers, "_autotel"))
        self.bridge.install()


if __name__ == "__main__":
    unittest.main()
