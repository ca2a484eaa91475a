"""A broken agent for the rollback e2e test (docs/rollback.md).

It stands in for an agent that does not match the app's Python or libc:
Python runs sitecustomize before the app, and this one makes it exit
non-zero at start, as such an agent's import error does.
"""

import sys

sys.stderr.write("autotel-test: this agent image is broken on purpose; exiting 3\n")
sys.exit(3)
