"""Per-address hourly limits on the public endpoints; an address is kept only as a keyed hash.

Counted in Redis, so every web process shares one count. While Redis is down each process
counts in its own memory instead: a down queue must neither stop people from writing nor open
the public forms to a flood.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
import time

from flask import current_app, request

from hiljainen import resources

log = logging.getLogger(__name__)
_lock = threading.Lock()
_local: dict[str, int] = {}  # this process's counts while Redis is down, current hour only
_local_hour = -1
_seen: dict[str, float] = {}  # first_from_address while Redis is down: name -> end of its window


def visitor_network() -> str:
    """The visitor's address as every limit counts it: an IPv6 address by its /64 network, because
    one phone or household is given a whole /64 and could write from a new address each time."""
    raw = request.remote_addr or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # an IPv4 client behind a dual-stack socket
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return raw


def _address_key() -> str:
    return hmac.new(
        str(current_app.secret_key).encode(), visitor_network().encode(), hashlib.sha256
    ).hexdigest()[:32]


def first_from_address(kind: str, subject: str, window: int) -> bool:
    """True the first time the visitor's address does `kind` to `subject` within `window` seconds
    (e.g. "me too" on one note: new browser sessions from one address do not add up)."""
    name = f"hiljainen:once:{kind}:{subject}:{_address_key()}"
    try:
        # Kept to the end of an hour, so the key's lifetime left does not tell when it was set.
        until = _hour_end(time.time() + window)
        return bool(resources.get().redis().set(name, 1, nx=True, exat=until))
    except Exception as exc:  # noqa: BLE001 - any Redis failure: remember here instead
        log.warning("repeat check kept in this process: Redis unavailable (%s)", exc)
        now = time.time()
        with _lock:
            for old in [k for k, end in _seen.items() if end <= now]:
                del _seen[old]
            if name in _seen:
                return False
            _seen[name] = now + window
            return True


def allow(kind: str, limit: int, *, everyone: bool = False) -> bool:
    """Count this request of `kind` for the visitor's address (or, with `everyone`, for all
    visitors together); False beyond `limit` an hour."""
    key = "everyone" if everyone else _address_key()
    hour = int(time.time() // 3600)
    name = f"hiljainen:rate:{kind}:{hour}:{key}"
    try:
        conn = resources.get().redis()
        count = int(conn.incr(name))  # type: ignore[arg-type]
        # Gone at the end of its hour: a lifetime renewed by every request would tell how long
        # ago this address last wrote (and so, to whoever holds Redis and the key, which note).
        conn.expireat(name, _hour_end((hour + 1) * 3600))
    except Exception as exc:  # noqa: BLE001 - any Redis failure: count here instead
        log.warning("rate limit counted in this process: Redis unavailable (%s)", exc)
        count = _count_locally(name, hour)
    return count <= limit


def _hour_end(at: float) -> int:
    """The first full hour at or after `at` (Unix seconds), plus a minute for clocks that differ."""
    return -(-int(at) // 3600) * 3600 + 60


def _count_locally(name: str, hour: int) -> int:
    global _local_hour
    with _lock:
        if hour != _local_hour:
            _local.clear()
            _local_hour = hour
        _local[name] = _local.get(name, 0) + 1
        return _local[name]
