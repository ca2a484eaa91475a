"""The seed's FastAPI app (agent/python/harness/testdata/apps/fastapi_app.py)
with traced requests (traced.py): the same routes, logging through the
root logger."""

import logging
import os

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from traced import request_span

logging.getLogger().setLevel(logging.INFO)
logging.info("app loaded pid=%d", os.getpid(), extra={"loaded_pid": os.getpid()})

app = FastAPI()
# A print() at import, once per worker.
print("worker ready pid=%d" % os.getpid())


@app.get("/hello", response_class=PlainTextResponse)
def hello(request: Request, id: str = ""):
    with request_span(request.headers.get("traceparent")):
        logging.info("hello request %s", id, extra={"request_id": id, "worker_pid": os.getpid()})
        print("print from hello " + id)
    return "world! pid=%d" % os.getpid()


@app.get("/error")
def error(request: Request, id: str = ""):
    with request_span(request.headers.get("traceparent")):
        logging.error("about to fail %s", id, extra={"request_id": id, "worker_pid": os.getpid()})
        raise ValueError("boom " + id)
