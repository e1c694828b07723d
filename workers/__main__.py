"""Worker entry point: load models once, recover unqueued notes, then take jobs.

Uses rq's SimpleWorker (no fork per job): a native model that has run in a process must not
be forked (a forked child can hang), and loading models per job would cost seconds each.
"""

from __future__ import annotations

import logging
import sys
import threading

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
    try:
        ctx = jobs.context()
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
    worker = SimpleWorker([queue.queue(conn)], connection=conn)
    worker.work(with_scheduler=True)
    return 0


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
