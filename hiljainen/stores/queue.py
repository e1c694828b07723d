"""The job queue (rq on Redis). The web side enqueues by dotted name: it never imports workers."""

from __future__ import annotations

import uuid

import redis
from rq import Queue, Retry

from hiljainen.errors import ServiceUnavailable

QUEUE_NAME = "hiljainen"
PROCESS_JOB = "workers.jobs.process"
REFRESH_JOB = "workers.jobs.refresh_themes"
JOB_TIMEOUT = 600
# A processing job carries no note ids: it takes the notes waiting in SQL (workers.jobs.process).
# rq keeps the exact times a job was queued, started and ended; with an id beside them those times
# would date an anonymous note to the second, which is more than the note keeps (its day). Records
# still go soon: finished ones after 10 minutes, failed ones after a day (rq keeps failed jobs a
# year by default). Notes a failed job leaves waiting are found again by the sweep.
RESULT_TTL = 600
FAILURE_TTL = 24 * 3600
PROCESS_JOB_PREFIX = "process-"
PROCESS_LOCK = "hiljainen:lock:enqueue-process"


def connect(url: str) -> redis.Redis:
    """A Redis connection that fails fast instead of hanging a web request."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=30)


def queue(conn: redis.Redis) -> Queue:
    """The one queue the service uses."""
    return Queue(QUEUE_NAME, connection=conn, default_timeout=JOB_TIMEOUT)


def enqueue_process(conn: redis.Redis, waiting: int, batch_size: int = 256) -> int:
    """Make sure a processing job waits in the queue for each batch of `waiting` notes, counting
    those already waiting; returns the number of jobs queued now.

    One note sent adds no job while another job waits (it will take the note along); a backlog of
    several batches gets a job per batch, so that several workers share it. Raises
    ServiceUnavailable when Redis cannot be reached: the notes are already safe in SQL and the
    sweeper will queue them later.
    """
    wanted = -(-waiting // max(batch_size, 1))
    if wanted <= 0:
        return 0
    try:
        # Count-then-enqueue under a lock, so that callers at the same moment do not each add a job.
        with conn.lock(PROCESS_LOCK, timeout=10, blocking_timeout=10):
            q = queue(conn)
            missing = wanted - sum(1 for i in q.get_job_ids() if i.startswith(PROCESS_JOB_PREFIX))
            if missing <= 0:
                return 0
            q.enqueue_many(
                [
                    Queue.prepare_data(
                        PROCESS_JOB,
                        job_id=f"{PROCESS_JOB_PREFIX}{uuid.uuid4().hex}",
                        retry=Retry(max=3, interval=[5, 30, 120]),
                        description="process waiting notes",
                        result_ttl=RESULT_TTL,
                        failure_ttl=FAILURE_TTL,
                    )
                    for _ in range(missing)
                ]
            )
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"queue unavailable: {exc}") from None
    return missing


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
