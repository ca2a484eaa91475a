"""multiprocessing children of every start method, and a fork Pool: each
logs a known number of records; none of them does anything for telemetry."""

import logging
import multiprocessing as mp
import os

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("mp")

PER_CHILD = 5


def work(method, idx):
    for i in range(PER_CHILD):
        log.info("child %s %d record %d", method, idx, i,
                 extra={"method": method, "child": idx, "seq": i, "child_pid": os.getpid()})
    print("print from %s child %d" % (method, idx))


def pool_task(x):
    log.info("pool task %d", x, extra={"method": "pool", "task": x, "child_pid": os.getpid()})
    return os.getpid()


if __name__ == "__main__":
    log.info("parent start", extra={"method": "parent", "child_pid": os.getpid()})
    for method in ("fork", "spawn", "forkserver"):
        ctx = mp.get_context(method)
        procs = [ctx.Process(target=work, args=(method, i)) for i in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
            if p.exitcode != 0:
                raise SystemExit("%s child exited with %s" % (method, p.exitcode))
    pool = mp.get_context("fork").Pool(2)
    pids = pool.map(pool_task, range(6))
    pool.close()
    pool.join()
    log.info("parent done", extra={"method": "parent", "child_pid": os.getpid()})
