# Placeholder for autotel's Python agent, used by hack/cluster-images.sh until
# agent/python/build-tree.sh exists. It sits where the real agent's
# sitecustomize.py sits, so a pod that starts with the operator's PYTHONPATH
# proves the whole path: image -> init container copy -> emptyDir -> import.
import os
import sys

print(
    "autotel-python-agent-placeholder: loaded in pid %d, OTEL_SERVICE_NAME=%s"
    % (os.getpid(), os.environ.get("OTEL_SERVICE_NAME", "")),
    file=sys.stderr,
    flush=True,
)
