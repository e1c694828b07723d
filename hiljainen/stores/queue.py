"""The job queue (rq on Redis). The web side enqueues by dotted name: it never imports workers."""

from __future__ import annotations

from collections.abc import Sequence

import redis
from rq import Queue, Retry

from hiljainen.errors import ServiceUnavailable

QUEUE_NAME = "hiljainen"
PROCESS_JOB = "workers.jobs.process"
REFRESH_JOB = "workers.jobs.refresh_themes"
JOB_TIMEOUT = 600
# A job record holds note ids and the exact time it was queued; for an anonymous note that time is
# more than the note keeps (its day). Records go soon: finished ones after 10 minutes, failed ones
# after a day (rq keeps failed jobs a year by default). A failed note is found again by the sweep.
RESULT_TTL = 600
FAILURE_TTL = 24 * 3600


def connect(url: str) -> redis.Redis:
    """A Redis connection that fails fast instead of hanging a web request."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=30)


def queue(conn: redis.Redis) -> Queue:
    """The one queue the service uses."""
    return Queue(QUEUE_NAME, connection=conn, default_timeout=JOB_TIMEOUT)


def enqueue_process(conn: redis.Redis, ids: Sequence[int], batch_size: int = 64) -> int:
    """Queue processing of these notes in batches; returns the number of jobs queued.

    Raises ServiceUnavailable when Redis cannot be reached: the notes are already safe in
    SQL and the sweeper will queue them later.
    """
    batches = [list(ids[i : i + batch_size]) for i in range(0, len(ids), batch_size)]
    if not batches:
        return 0
    q = queue(conn)
    try:
        q.enqueue_many(
            [
                Queue.prepare_data(
                    PROCESS_JOB,
                    args=(batch,),
                    retry=Retry(max=3, interval=[5, 30, 120]),
                    description=f"process {len(batch)} notes",
                    result_ttl=RESULT_TTL,
                    failure_ttl=FAILURE_TTL,
                )
                for batch in batches
            ]
        )
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"queue unavailable: {exc}") from None
    return len(batches)


REFRESH_JOB_ID = "hiljainen-refresh-themes"
REFRESH_LOCK = "hiljainen:lock:enqueue-refresh"


def enqueue_refresh(conn: redis.Redis) -> str:
    """Queue a theme refresh unless one is already waiting or running; returns its job id."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        # Check-then-enqueue under a lock: every worker's timer and the web's button call this, and
        # without it two callers both push the id, so two workers run the same refresh at once.
        with conn.lock(REFRESH_LOCK, timeout=10, blocking_timeout=10):
            try:
                current = Job.fetch(REFRESH_JOB_ID, connection=conn)
                if current.get_status() in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED):
                    return REFRESH_JOB_ID
            except NoSuchJobError:
                pass
            job = queue(conn).enqueue(
                REFRESH_JOB,
                job_id=REFRESH_JOB_ID,
                job_timeout=3600,
                description="refresh themes",
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
            )
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"queue unavailable: {exc}") from None
    return str(job.id)
