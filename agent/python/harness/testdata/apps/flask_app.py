"""The seed's Flask app: GET /hello logs and prints, GET /error logs and
raises. APP_LOGGING picks how the app sets up logging:
  basic  logging.basicConfig(level=INFO) (console via the root handler)
  flask  app.logger at INFO only (console via Flask's default handler)
Query parameters: id tags the request's records, hold=<s> keeps the worker
busy (so concurrent requests spread over gunicorn's sync workers)."""

import logging
import os
import time

from flask import Flask, request

if os.environ.get("APP_LOGGING", "basic") == "basic":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
else:
    logging.getLogger("demo").setLevel(logging.INFO)

log = logging.getLogger("demo.app")
log.info("app loaded pid=%d", os.getpid(), extra={"loaded_pid": os.getpid()})

app = Flask(__name__)
if os.environ.get("APP_LOGGING", "basic") != "basic":
    app.logger.setLevel(logging.INFO)


@app.route("/hello")
def hello():
    rid = request.args.get("id", "")
    hold = float(request.args.get("hold", "0"))
    if hold:
        time.sleep(hold)
    app.logger.info("hello request %s", rid, extra={"request_id": rid, "worker_pid": os.getpid()})
    print("print from hello " + rid)
    return "world! pid=%d" % os.getpid()


@app.route("/error")
def error():
    rid = request.args.get("id", "")
    log.error("about to fail %s", rid, extra={"request_id": rid, "worker_pid": os.getpid()})
    raise ValueError("boom " + rid)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
