"""Login throttling: failed logins are counted per account and per address over a window; past the
limit the login form refuses even the right password until the window has passed.

Counted in Redis so that every web process shares one count, as hiljainen.web.ratelimit does;
while Redis is down each process counts in its own memory. Names and addresses are kept only as
keyed hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time

from flask import current_app

from hiljainen import resources

log = logging.getLogger(__name__)
WINDOW = 15 * 60  # seconds
ACCOUNT_LIMIT = 5  # failed logins for one account in a window
ADDRESS_LIMIT = 20  # failed logins from one address in a window (any accounts)
_lock = threading.Lock()
_local: dict[str, tuple[int, float]] = {}  # name -> (count, window end), while Redis is down


def _key(kind: str, value: str) -> str:
    digest = hmac.new(str(current_app.secret_key).encode(), value.encode(), hashlib.sha256)
    return f"hiljainen:login:{kind}:{digest.hexdigest()[:32]}"


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    return [(_key("user", username.strip().lower()), ACCOUNT_LIMIT), (_key("addr", address), ADDRESS_LIMIT)]


def blocked_for(username: str, address: str) -> int:
    """Seconds until a login for this account from this address may be tried again; 0 if it may now."""
    wait = 0
    for name, limit in _keys(username, address):
        count, ttl = _read(name)
        if count >= limit:
            wait = max(wait, ttl, 1)
    return wait


def failed(username: str, address: str) -> None:
    """Count one failed login."""
    for name, _limit in _keys(username, address):
        try:
            conn = resources.get().redis()
            pipe = conn.pipeline()
            pipe.incr(name)
            pipe.expire(name, WINDOW, nx=True)
            pipe.execute()
        except Exception as exc:  # noqa: BLE001 - any Redis failure: count here instead
            log.warning("login attempts counted in this process: Redis unavailable (%s)", exc)
            with _lock:
                count, end = _local.get(name, (0, 0.0))
                now = time.time()
                _local[name] = (count + 1, end) if end > now else (1, now + WINDOW)


def succeeded(username: str) -> None:
    """A right password before the limit clears the account's count (the address count stays)."""
    name = _key("user", username.strip().lower())
    try:
        resources.get().redis().delete(name)
    except Exception as exc:  # noqa: BLE001 - the count ends with its window anyway
        log.warning("login attempts not cleared: Redis unavailable (%s)", exc)
    with _lock:
        _local.pop(name, None)


def _read(name: str) -> tuple[int, int]:
    try:
        conn = resources.get().redis()
        raw, ttl = conn.get(name), conn.ttl(name)
        return int(raw or 0), max(int(ttl), 0)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - Redis down: this process's own count
        with _lock:
            count, end = _local.get(name, (0, 0.0))
            left = int(end - time.time())
            return (count, left) if left > 0 else (0, 0)
