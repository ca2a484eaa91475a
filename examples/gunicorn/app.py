# The seed's second sample: Flask served by Gunicorn (python3 -m gunicorn
# app:app). GET /hello logs at INFO and prints; GET /error logs, then raises.
import logging

from flask import Flask

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("sample")
app = Flask(__name__)


@app.get("/hello")
def hello():
    log.info("hello called")
    print("print: hello called")
    return "world!"


@app.get("/error")
def error():
    log.error("error called; raising")
    print("print: error called")
    raise RuntimeError("sample error")
