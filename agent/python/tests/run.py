"""Runs the unit tests with the interpreter that runs this file and ends
with one line test.sh reads: PYRESULT <version> passed=N failed=M.
A skipped test counts as failed: every test here must run."""

import os
import platform
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
result = unittest.TextTestRunner(verbosity=int(os.environ.get("VERBOSE", "1"))).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses) + len(result.skipped)
passed = result.testsRun - (len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses) + len(result.skipped))
print("PYRESULT %s passed=%d failed=%d" % (platform.python_version(), passed, failed))
sys.exit(0 if failed == 0 else 1)
