"""Worker entry point: load models once, recover unqueued notes, then take jobs.

Uses rq's SimpleWorker (no fork per job): a native model that has run in a process must not
be forked (a forked child can hang), and loading models per job would cost seconds each.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from types import FrameType

import redis
from rq import SimpleWorker

from hiljainen import privacy
from hiljainen.errors import HiljainenError
from hiljainen.stores import queue
from workers import jobs

SWEEP_SECONDS = 300
REFRESH_CHECK_SECONDS = 60
OUTBOX_SECONDS = 120
DIGEST_CHECK_SECONDS = 3600
RETENTION_CHECK_SECONDS = 3600  # retention_job itself runs at most once a day


def main() -> int:
    """Run one worker until it is told to stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # The Chroma client's HTTP library logs every request at INFO: one upsert a note would date
    # each anonymous note to the millisecond.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        ctx = jobs.runtime()
        conn = queue.connect(ctx.settings.redis_url)
        conn.ping()
        jobs.warm_up()
        jobs.sweep()
    except HiljainenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - e.g. Redis unreachable: one line, not a traceback
        print(f"error: worker cannot start: {exc}", file=sys.stderr)
        return 2
    _every(SWEEP_SECONDS, jobs.sweep)
    _every(REFRESH_CHECK_SECONDS, jobs.maybe_refresh)
    _every(OUTBOX_SECONDS, jobs.deliver_outbox)
    _every(DIGEST_CHECK_SECONDS, jobs.weekly_digest)
    if ctx.settings.retention_months > 0:
        _every(RETENTION_CHECK_SECONDS, lambda: privacy.retention_job(ctx.settings))
    logging.getLogger(__name__).info("worker ready")
    while True:
        worker = _Worker([queue.queue(conn)], connection=conn)
        try:
            # rq logs each job's start and end: on a quiet day one job is one note, so those lines
            # would date each note to the second, which an anonymous note's day alone must not.
            worker.work(with_scheduler=True, logging_level="WARNING")
        except redis.RedisError:  # rq's own teardown needs the Redis that just went away
            if worker.pubsub_thread is not None:
                worker.pubsub_thread.stop()
        if worker.asked_to_stop:
            return 0
        # rq quits when Redis vanishes while a job runs. Wait for Redis and carry on, re-queuing what
        # a restarted (empty) Redis lost, rather than leave notes unprocessed until someone restarts us.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log = logging.getLogger(__name__)
        log.warning("the worker loop ended without a stop request; resuming")
        _wait_for_redis(conn)
        try:
            jobs.sweep()
        except Exception:  # noqa: BLE001 - the periodic sweep tries again
            log.exception("sweep after reconnecting failed")


class _Worker(SimpleWorker):
    """A SimpleWorker that remembers whether it was told to stop (SIGTERM/SIGINT)."""

    asked_to_stop = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.asked_to_stop = True
        super().request_stop(signum, frame)


def _wait_for_redis(conn: redis.Redis) -> None:
    """Return once Redis answers (at least one second from now, so a repeating failure cannot spin)."""
    delay = 1.0
    while True:
        time.sleep(delay)
        try:
            conn.ping()
            return
        except redis.RedisError:
            delay = min(delay * 2, 30.0)


def _every(seconds: float, action: object) -> None:
    """Run `action` periodically in a daemon thread; a failure is logged and retried next time."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            try:
                action()  # type: ignore[operator]
            except Exception:  # noqa: BLE001 - the next tick retries; the worker keeps working
                logging.getLogger(__name__).exception("periodic task failed")

    threading.Thread(target=loop, daemon=True, name="periodic").start()


if __name__ == "__main__":
    sys.exit(main())
