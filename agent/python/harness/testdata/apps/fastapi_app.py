"""The seed's FastAPI app: the same routes, logging through the root
logger (uvicorn app:app)."""

import logging
import os

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

logging.getLogger().setLevel(logging.INFO)
logging.info("app loaded pid=%d", os.getpid(), extra={"loaded_pid": os.getpid()})

app = FastAPI()


@app.get("/hello", response_class=PlainTextResponse)
def hello(id: str = ""):
    logging.info("hello request %s", id, extra={"request_id": id, "worker_pid": os.getpid()})
    print("print from hello " + id)
    return "world! pid=%d" % os.getpid()


@app.get("/error")
def error(id: str = ""):
    logging.error("about to fail %s", id, extra={"request_id": id, "worker_pid": os.getpid()})
    raise ValueError("boom " + id)
