"""The agent as a pod gets it: PYTHONPATH with the copied folder, started by
sitecustomize in a fresh interpreter (sys.executable, so every Python this
suite runs under is covered)."""

import ast
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import support

STDLIB_USED = {
    "atexit", "base64", "codecs", "collections", "email", "http", "importlib", "json", "logging", "math",
    "os", "random", "signal", "ssl", "struct", "sys", "threading", "time", "traceback", "urllib", "uuid", "zlib",
}


class SiteTest(unittest.TestCase):
    def setUp(self):
        self.rcv = support.Receiver()
        self.pod = support.PodLayout()

    def tearDown(self):
        self.rcv.close()
        self.pod.cleanup()

    def run_app(self, code, timeout=60, **env):
        e = self.pod.env(self.rcv.url, app_path=env.pop("app_path", None), **env)
        return self.pod.run(textwrap.dedent(code), e, timeout=timeout)

    def test_exports_records_with_the_pod_resource(self):
        r = self.run_app("""
            import logging, os
            logging.getLogger("app").warning("hello %s", "pod", extra={"order_id": 7})
            print(os.getpid())
        """)
        self.assertEqual(r.returncode, 0, r.stderr)
        pid = int(r.stdout.strip())
        recs = self.rcv.wait_for(lambda rs: len(rs) >= 1)
        self.assertEqual(len(recs), 1)
        rec = recs[0]
        self.assertEqual((rec["body"], rec["scope"], rec["severity"], rec["text"]), ("hello pod", "app", 13, "WARN"))
        self.assertEqual(rec["attributes"]["order_id"], 7)
        self.assertEqual(rec["resource"]["service.instance.id"], "ns.pod-1.c-%d" % pid)
        self.assertEqual(rec["resource"]["service.name"], "svc")
        self.assertEqual(rec["resource"]["k8s.pod.name"], "pod-1")
        self.assertEqual(rec["trace_id"], "")

    def test_console_output_of_an_unconfigured_app_is_unchanged(self):
        code = """
            import logging
            logging.getLogger("x").warning("careful")
            logging.getLogger("x").info("not shown, root is at WARNING")
        """
        r = self.run_app(code)
        self.assertEqual(r.stderr, "careful\n", "lastResort output, as without the agent")
        self.assertEqual([x["body"] for x in self.rcv.wait_for(lambda rs: len(rs) >= 1)], ["careful"])

    def test_basic_config_is_not_defeated(self):
        r = self.run_app("""
            import logging
            print(len(logging.getLogger().handlers))
            logging.basicConfig(level=logging.INFO, format="%(levelname)s|%(message)s")
            print(len(logging.getLogger().handlers))
            logging.info("configured")
        """)
        self.assertEqual(r.stdout.split(), ["0", "1"])
        self.assertEqual(r.stderr, "INFO|configured\n")
        self.assertEqual(len(self.rcv.wait_for(lambda rs: len(rs) >= 1)), 1)

    def test_records_logged_at_exit_are_exported(self):
        r = self.run_app("""
            import atexit, logging
            atexit.register(lambda: logging.getLogger("bye").warning("from atexit"))
            logging.getLogger("app").warning("main")
        """, OTEL_BLRP_SCHEDULE_DELAY="60000")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(x["body"] for x in self.rcv.wait_for(lambda rs: len(rs) >= 2)), ["from atexit", "main"])

    def test_steps_aside_when_the_official_sdk_is_installed(self):
        app = tempfile.mkdtemp(dir=self.pod.dir)
        os.makedirs(os.path.join(app, "opentelemetry", "sdk"))
        with open(os.path.join(app, "opentelemetry", "sdk", "__init__.py"), "w") as f:
            f.write("")
        r = self.run_app("""
            import logging
            logging.getLogger("x").warning("sdk app")
            print(type(logging.Logger.callHandlers).__name__, hasattr(logging.Logger.callHandlers, "_autotel"))
        """, app_path=app, OTEL_LOG_LEVEL="debug")
        self.assertEqual(r.stdout.split(), ["function", "False"])
        self.assertIn("steps aside", r.stderr)
        time.sleep(0.3)
        self.assertEqual(self.rcv.requests, [])

    def test_disabled_and_no_exporter(self):
        for env in ({"OTEL_SDK_DISABLED": "true"}, {"OTEL_LOGS_EXPORTER": "none"}):
            r = self.run_app("import logging; logging.warning('x')", **env)
            self.assertEqual(r.returncode, 0)
            self.assertEqual(r.stderr, "WARNING:root:x\n")
        time.sleep(0.3)
        self.assertEqual(self.rcv.requests, [])

    def test_console_exporter(self):
        r = self.run_app("import logging; logging.getLogger('c').error('to the console')", OTEL_LOGS_EXPORTER="console")
        line = [x for x in r.stdout.splitlines() if x.startswith("{")]
        self.assertEqual(len(line), 1, r.stdout)
        doc = json.loads(line[0])
        self.assertEqual((doc["body"], doc["severity_number"], doc["scope"]), ("to the console", 17, "c"))
        self.assertEqual(doc["resource"]["service.name"], "svc")

    def test_chains_the_shadowed_sitecustomize(self):
        app = tempfile.mkdtemp(dir=self.pod.dir)
        with open(os.path.join(app, "sitecustomize.py"), "w") as f:
            f.write("import os\nos.environ['CHAINED'] = __name__\n")
        r = self.run_app("import os, sitecustomize; print(os.environ.get('CHAINED'), sitecustomize.__file__)", app_path=app)
        self.assertEqual(r.stdout.split(), ["sitecustomize", os.path.join(app, "sitecustomize.py")])

    def test_a_failing_chained_sitecustomize_does_not_stop_the_app(self):
        app = tempfile.mkdtemp(dir=self.pod.dir)
        with open(os.path.join(app, "sitecustomize.py"), "w") as f:
            f.write("raise ValueError('broken site')\n")
        r = self.run_app("import logging; logging.getLogger('a').warning('runs'); print('ok')", app_path=app)
        self.assertEqual(r.stdout, "ok\n")
        self.assertIn("Error in sitecustomize; set PYTHONVERBOSE for traceback:\nValueError: broken site", r.stderr)
        self.assertEqual(len(self.rcv.wait_for(lambda rs: len(rs) >= 1)), 1, "the agent still runs")

    def test_missing_package_is_reported_and_the_app_runs(self):
        pod = support.PodLayout(with_package=False)
        try:
            r = pod.run("print('app runs')", pod.env(self.rcv.url))
        finally:
            pod.cleanup()
        self.assertEqual(r.stdout, "app runs\n")
        self.assertIn("the log agent package is missing", r.stderr)

    def test_configuration_problems_are_reported(self):
        r = self.run_app("print('ok')", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        self.assertEqual(r.stdout, "ok\n")
        self.assertIn("OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not supported", r.stderr)

    def test_print_and_stderr_capture(self):
        r = self.run_app("""
            import sys, logging
            logging.basicConfig(format="%(message)s")
            print("to stdout")
            sys.stderr.write("to stderr\\n")
            logging.getLogger("l").warning("a record, not a stderr line")
        """, AUTOTEL_PYTHON_CAPTURE_STDOUT="true", AUTOTEL_PYTHON_CAPTURE_STDERR="true")
        self.assertEqual(r.stdout, "to stdout\n")
        self.assertEqual(r.stderr, "to stderr\na record, not a stderr line\n")
        recs = self.rcv.wait_for(lambda rs: len(rs) >= 3)
        got = sorted((x["scope"], x["body"]) for x in recs)
        self.assertEqual(got, [("l", "a record, not a stderr line"), ("sys.stderr", "to stderr"), ("sys.stdout", "to stdout")])

    def test_sigterm_flushes_and_still_terminates(self):
        e = self.pod.env(self.rcv.url, OTEL_BLRP_SCHEDULE_DELAY="60000")
        code = "import logging, sys, time\nlogging.getLogger('t').warning('before SIGTERM')\nprint('ready', flush=True)\ntime.sleep(60)\n"
        p = subprocess.Popen([sys.executable, "-c", code], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
        try:
            self.assertEqual(p.stdout.readline(), "ready\n")
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(p.returncode, -signal.SIGTERM)
        self.assertEqual([x["body"] for x in self.rcv.records], ["before SIGTERM"])

    def test_sigterm_handler_can_be_switched_off(self):
        r = self.run_app("import signal; print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)")
        self.assertEqual(r.stdout, "False\n")
        r = self.run_app("import signal; print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)",
                         AUTOTEL_PYTHON_FLUSH_ON_SIGTERM="false")
        self.assertEqual(r.stdout, "True\n")

    def test_forked_child_exports_its_own_records_once(self):
        r = self.run_app("""
            import logging, os, sys
            log = logging.getLogger("f")
            log.warning("parent before fork")
            pid = os.fork()
            if pid == 0:
                log.warning("child")
                sys.exit(0)
            os.waitpid(pid, 0)
            log.warning("parent after fork")
            print(os.getpid(), pid)
        """, OTEL_BLRP_SCHEDULE_DELAY="60000")
        self.assertEqual(r.returncode, 0, r.stderr)
        parent, child = [int(x) for x in r.stdout.split()]
        recs = self.rcv.wait_for(lambda rs: len(rs) >= 3)
        got = sorted((x["body"], x["resource"]["service.instance.id"]) for x in recs)
        self.assertEqual(got, [("child", "ns.pod-1.c-%d" % child),
                               ("parent after fork", "ns.pod-1.c-%d" % parent),
                               ("parent before fork", "ns.pod-1.c-%d" % parent)])

    def test_multiprocessing_fork_child_exports_before_os_exit(self):
        r = self.run_app("""
            import logging, multiprocessing as mp
            def work():
                logging.getLogger("w").warning("in the child")
            if __name__ == "__main__":
                p = mp.get_context("fork").Process(target=work)
                p.start(); p.join()
                print(p.exitcode)
        """, OTEL_BLRP_SCHEDULE_DELAY="60000")
        self.assertEqual(r.stdout, "0\n", r.stderr)
        self.assertEqual([x["body"] for x in self.rcv.wait_for(lambda rs: len(rs) >= 1)], ["in the child"])

    def test_exit_is_bounded_when_the_collector_is_gone(self):
        self.rcv.close()
        start = time.monotonic()
        r = self.run_app("import logging; logging.getLogger('x').warning('lost')", OTEL_BLRP_EXPORT_TIMEOUT="1000")
        took = time.monotonic() - start
        self.assertLess(took, 8, "exit took %.1fs" % took)
        self.assertIn("exported 0 log records; not exported: 1", r.stderr)
        self.rcv = support.Receiver()


class CompatibilityTest(unittest.TestCase):
    """Python 3.8 syntax and standard-library imports only: the package runs
    in whatever interpreter the app image has."""

    def files(self):
        out = []
        for root, _, names in os.walk(support.SRC):
            out.extend(os.path.join(root, n) for n in names if n.endswith(".py"))
        self.assertGreater(len(out), 5)
        return out

    def test_parses_as_python_3_8(self):
        for path in self.files():
            with open(path) as f:
                src = f.read()
            if sys.version_info >= (3, 8):
                ast.parse(src, path, feature_version=(3, 8))
            for newer in (".removeprefix(", ".removesuffix(", "match ", "zip(strict", "| None", "list[", "dict[", "tuple["):
                self.assertNotIn(newer, src, "%s uses %r (newer than Python 3.8)" % (path, newer))

    def test_imports_only_the_standard_library(self):
        for path in self.files():
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    self.assertTrue(top in STDLIB_USED or top == "autotel_agent",
                                    "%s imports %s" % (path, name))
                    if hasattr(sys, "stdlib_module_names") and top != "autotel_agent":
                        self.assertIn(top, sys.stdlib_module_names)


if __name__ == "__main__":
    unittest.main()
