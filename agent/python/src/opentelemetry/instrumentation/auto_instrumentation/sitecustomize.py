"""Bootstrap of autotel's Python log agent.

The operator puts this folder first on PYTHONPATH, so Python's `site`
imports this file, before the application, in every Python process of the
container. It starts the agent and then runs the sitecustomize this one
shadows (the image's or the app's own), as if it had been imported
directly. Nothing here may stop the app from starting.

No __init__.py in opentelemetry/ or opentelemetry/instrumentation/: they
stay namespace folders, so they never hide an app's own OpenTelemetry
packages that sit later on sys.path.
"""

import os
import sys


def _start_agent():
    try:
        import autotel_agent
    except ImportError as e:
        sys.stderr.write("autotel-python: the log agent package is missing next to sitecustomize (%s); "
                         "logs are not exported\n" % e)
        return
    try:
        autotel_agent.start()
    except Exception as e:  # the app starts even if the agent cannot
        sys.stderr.write("autotel-python: the log agent did not start: %s: %s; logs are not exported\n"
                         % (type(e).__name__, e))


def _chain():
    """Runs the next sitecustomize on sys.path after this folder and makes
    it the `sitecustomize` module, as if this one were not there."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    if spec.origin and os.path.abspath(spec.origin) == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        # What site.py prints when a sitecustomize fails: the app still starts.
        sys.stderr.write("Error in sitecustomize; set PYTHONVERBOSE for traceback:\n%s: %s\n"
                         % (type(e).__name__, e))


_start_agent()
try:
    _chain()
except Exception as e:  # finding the other sitecustomize must not stop the app
    sys.stderr.write("autotel-python: could not run the shadowed sitecustomize: %s: %s\n" % (type(e).__name__, e))
