"""Hourly limits on the public endpoints: per address (an address is kept only as a keyed hash),
and budgets that all visitors of one public form, or of the whole service, share.

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
from dataclasses import dataclass

from flask import current_app, request

from hiljainen import resources

log = logging.getLogger(__name__)
_lock = threading.Lock()
_local: dict[str, int] = {}  # this process's counts while Redis is down, current hour only
_local_hour = -1
_seen: dict[str, tuple[int, float]] = {}  # first_from_address while Redis is down: name -> count, end
# An IPv6 /48 (one site: 65,536 /64s) may do this many times what one /64 may: one sender with a
# /48 could otherwise write from a fresh /64 each time, while a site's many real visitors share it.
SITE_FACTOR = 10
SITE_REPEATS = 5  # ... and may repeat what one /64 may do once (first_from_address) this many times


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


def _visitor_site() -> str | None:
    """The /48 network of an IPv6 visitor (None for IPv4)."""
    network = visitor_network()
    if not network.endswith("/64"):
        return None
    return str(ipaddress.ip_network(network).supernet(new_prefix=48))


def _address_key(network: str | None = None) -> str:
    return hmac.new(
        str(current_app.secret_key).encode(), (network or visitor_network()).encode(), hashlib.sha256
    ).hexdigest()[:32]


def first_from_address(kind: str, subject: str, window: int) -> bool:
    """True the first time the visitor's address does `kind` to `subject` within `window` seconds
    (e.g. "me too" on one note: new browser sessions from one address do not add up), and while an
    IPv6 visitor's /48 site has done so fewer than SITE_REPEATS times: from one site's 65,536 /64s
    one sender could otherwise add a voice each."""
    # Kept to the end of an hour, so the key's lifetime left does not tell when it was set.
    until = _hour_end(time.time() + window)
    if _repeats(f"hiljainen:once:{kind}:{subject}:{_address_key()}", until) > 1:
        return False
    site = _visitor_site()
    if site is None:
        return True
    return _repeats(f"hiljainen:once:{kind}:{subject}:{_address_key(site)}", until) <= SITE_REPEATS


def _repeats(name: str, until: int) -> int:
    """Count one more under `name`, forgotten at `until` (Unix seconds); the count so far."""
    try:
        conn = resources.get().redis()
        count = int(conn.incr(name))  # type: ignore[arg-type]
        if count == 1:
            conn.expireat(name, until)
        return count
    except Exception as exc:  # noqa: BLE001 - any Redis failure: remember here instead
        log.warning("repeat check kept in this process: Redis unavailable (%s)", exc)
        now = time.time()
        with _lock:
            for old in [k for k, (_count, end) in _seen.items() if end <= now]:
                del _seen[old]
            count, end = _seen.get(name, (0, until))
            _seen[name] = (count + 1, end)
            return count + 1


def allow(kind: str, limit: int, *, everyone: bool = False, scope: str | None = None) -> bool:
    """Count this request of `kind` for the visitor's address (an IPv6 visitor's /48 site too, at
    SITE_FACTOR times `limit`), or for all visitors together: of one `scope` (a public form) or,
    with `everyone`, of the whole service. False beyond `limit` an hour."""
    if everyone:
        return _count(kind, "everyone") <= limit
    if scope is not None:
        return _count(kind, f"scope:{scope}") <= limit
    return count_try(kind, limit) is not None


@dataclass(frozen=True)
class Counted:
    """The counters one request went into, so that it can be taken back from exactly those."""

    names: tuple[str, ...]
    hour: int


def count_try(kind: str, limit: int) -> Counted | None:
    """Count one request of `kind` for the visitor as allow() does; None beyond the limit, else
    where it was counted. For a limit on failures only (wrong receipt codes) every try is counted
    before it is looked at, so that tries in parallel cannot pass the limit, and refund() takes
    back a try that turned out right."""
    hour = int(time.time() // 3600)
    address = _counter(kind, _address_key(), hour)
    if _add(address, hour) > limit:
        return None
    # Counted only once the address is within its own limit: one refused visitor must not use up
    # the site's budget that its neighbours share.
    site = _visitor_site()
    if site is None:
        return Counted((address,), hour)
    network = _counter(kind, _address_key(site), hour)
    return Counted((address, network), hour) if _add(network, hour) <= limit * SITE_FACTOR else None


def refund(counted: Counted) -> None:
    """Take one request back from the counters it went into (an hour later too: from that hour's)."""
    for name in counted.names:
        _add(name, counted.hour, -1)


def allow_public(kind: str, per_address: int, *, budget: str, per_form: int, for_service: int,
                 form: int | None) -> bool:
    """One more public `kind` (a note, a reply, a voice): within the visitor's own limit first (a
    visitor refused there uses up nothing of the shared budgets), then within the hourly `budget`
    that all visitors of its public form (none: the service's only) and of the whole service share."""
    return (
        allow(kind, per_address)
        and (form is None or allow(budget, per_form, scope=f"touchpoint:{form}"))
        and allow(budget, for_service, everyone=True)
    )


def _counter(kind: str, key: str, hour: int) -> str:
    """The Redis name of an hour's counter of `kind` under `key`."""
    return f"hiljainen:rate:{kind}:{hour}:{key}"


def _count(kind: str, key: str) -> int:
    """Count one more request of `kind` under `key` this hour; the hour's count so far."""
    hour = int(time.time() // 3600)
    return _add(_counter(kind, key, hour), hour)


def _add(name: str, hour: int, by: int = 1) -> int:
    """Add `by` to the counter `name` of `hour` (never below 0); its count now."""
    try:
        conn = resources.get().redis()
        count = int(conn.incr(name, by))  # type: ignore[arg-type]
        if count < 0:  # taken back from a counter that lost its count (Redis restarted, say)
            count = int(conn.incr(name, -count))  # type: ignore[arg-type]
        # Gone at the end of its hour: a lifetime renewed by every request would tell how long
        # ago this address last wrote (and so, to whoever holds Redis and the key, which note).
        conn.expireat(name, _hour_end((hour + 1) * 3600))
    except Exception as exc:  # noqa: BLE001 - any Redis failure: count here instead
        log.warning("rate limit counted in this process: Redis unavailable (%s)", exc)
        count = _add_locally(name, hour, by)
    return count


def _hour_end(at: float) -> int:
    """The first full hour at or after `at` (Unix seconds), plus a minute for clocks that differ."""
    return -(-int(at) // 3600) * 3600 + 60


def _add_locally(name: str, hour: int, by: int) -> int:
    global _local_hour
    with _lock:
        if hour < _local_hour:  # taking back from an hour that is gone
            return 0
        if hour != _local_hour:
            _local.clear()
            _local_hour = hour
        _local[name] = max(0, _local.get(name, 0) + by)
        return _local[name]
