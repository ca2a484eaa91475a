# The seed's first sample: Flask on its development server. Logs go through
# the standard logging module (what the OpenTelemetry logging bridge picks up)
# and print() goes to stdout (what only a log file collector sees).
import logging

from flask import Flask

logging.basicConfig(level=logging.INFO)
app = Flask(__name__)


@app.get("/hello")
def hello():
    app.logger.info("hello called")
    print("print: hello called")
    return "world!"


@app.get("/error")
def error():
    app.logger.error("error called; raising")
    print("print: error called")
    raise RuntimeError("sample error")
