"""The API's rate limit: requests per token per minute (HILJAINEN_API_RATE_LIMIT).

A token belongs to another system, so the limit follows the token, not the address. Counted in
Redis so that every web process shares one count, as hiljainen.web.ratelimit does; while Redis is
down each process counts in its own memory, so a down queue opens no flood either."""

from __future__ import annotations

import logging
import math
import threading
import time

from hiljainen import resources

log = logging.getLogger(__name__)
WINDOW = 60  # seconds
_lock = threading.Lock()
_local: dict[str, int] = {}  # this process's counts while Redis is down, current window only
_local_window = -1


def wait_for(token_hash: str, limit: int) -> int:
    """Count one request of the token with this hash; 0 if it may go on, else the seconds until it
    may. Counted by hash, not by row id: databases sharing one Redis (tests, a staging copy) reuse
    ids, and one token's requests must not use up another's."""
    if limit <= 0:
        return 0
    now = time.time()
    window = int(now // WINDOW)
    name = f"hiljainen:api:{token_hash[:32]}:{window}"
    try:
        conn = resources.get().redis()
        pipe = conn.pipeline()
        pipe.incr(name)
        pipe.expire(name, WINDOW, nx=True)
        count = int(pipe.execute()[0])
    except Exception as exc:  # noqa: BLE001 - any Redis failure: count here instead
        log.warning("API rate limit counted in this process: Redis unavailable (%s)", exc)
        count = _count_locally(name, window)
    if count <= limit:
        return 0
    return max(math.ceil((window + 1) * WINDOW - now), 1)


def _count_locally(name: str, window: int) -> int:
    global _local_window
    with _lock:
        if window != _local_window:
            _local.clear()
            _local_window = window
        _local[name] = _local.get(name, 0) + 1
        return _local[name]
