# The seed's third sample: FastAPI served by Uvicorn. Both routes log
# through the root logger; /hello also prints, /error then raises.
import logging

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

logging.basicConfig(level=logging.INFO)
log = logging.getLogger()
app = FastAPI()


@app.get("/hello", response_class=PlainTextResponse)
def hello():
    log.info("hello called")
    print("print: hello called")
    return "world!"


@app.get("/error")
def error():
    log.error("error called; raising")
    print("print: error called")
    raise RuntimeError("sample error")
