"""The seed's Flask app (agent/python/harness/testdata/apps/flask_app.py)
with traced requests (traced.py). APP_LOGGING: basic = logging.basicConfig
at INFO (the dev server case), flask = only app.logger at INFO with Flask's
own console handler (the gunicorn case). ?id= tags every line a request
produces; ?hold=<s> keeps the worker busy, so concurrent requests spread
over gunicorn's sync workers. Added to the seed's app: the traced requests
and a print() at import."""

import logging
import os
import time

from flask import Flask, request

from traced import request_span

if os.environ.get("APP_LOGGING", "basic") == "basic":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
else:
    logging.getLogger("demo").setLevel(logging.INFO)

log = logging.getLogger("demo.app")
log.info("app loaded pid=%d", os.getpid(), extra={"loaded_pid": os.getpid()})

app = Flask(__name__)
if os.environ.get("APP_LOGGING", "basic") != "basic":
    app.logger.setLevel(logging.INFO)
# A print() at import, once per worker; it also tells the test that a
# gunicorn worker has loaded the app and is about to accept.
print("worker ready pid=%d" % os.getpid())


@app.route("/hello")
def hello():
    rid = request.args.get("id", "")
    hold = float(request.args.get("hold", "0"))
    if hold:
        time.sleep(hold)
    with request_span(request.headers.get("traceparent")):
        app.logger.info("hello request %s", rid, extra={"request_id": rid, "worker_pid": os.getpid()})
        print("print from hello " + rid)
    return "world! pid=%d" % os.getpid()


@app.route("/error")
def error():
    rid = request.args.get("id", "")
    with request_span(request.headers.get("traceparent")):
        log.error("about to fail %s", rid, extra={"request_id": rid, "worker_pid": os.getpid()})
        raise ValueError("boom " + rid)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
