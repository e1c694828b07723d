"""Login throttling: failed logins are counted per account and per address over a window; past the
limit the login form refuses even the right password until the window has passed.

So that a stranger who knows a username cannot lock its owner out, a browser that has logged in to
an account before carries a signed device cookie, and its failures are counted for that device
alone: guesses from elsewhere lock the account everywhere but on its owner's own devices. The same
holds for the address count: guesses at made-up usernames from a shared address (a care home's
network, a proxy) lock out strangers there, but not the staff's own remembered browsers.

Counted in Redis so that every web process shares one count, as hiljainen.web.ratelimit does;
while Redis is down each process counts in its own memory. Names and addresses are kept only as
keyed hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time

from flask import current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from hiljainen import resources

log = logging.getLogger(__name__)
WINDOW = 15 * 60  # seconds
ACCOUNT_LIMIT = 5  # failed logins for one account in a window
ADDRESS_LIMIT = 20  # failed logins from one address in a window (any accounts)
DEVICE_COOKIE = "hiljainen_device"
DEVICE_DAYS = 180
DEVICE_ACCOUNTS = 5  # accounts one shared browser (a nurses' station) is remembered for
_lock = threading.Lock()
_local: dict[str, tuple[int, float]] = {}  # name -> (count, window end), while Redis is down


def _digest(value: str) -> str:
    return hmac.new(str(current_app.secret_key).encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def _key(kind: str, value: str) -> str:
    return f"hiljainen:login:{kind}:{_digest(value)}"


def _account(username: str) -> str:
    """The account as the device cookie names it: a keyed hash, so the cookie shows no usernames."""
    return _digest("account:" + username.strip().lower())[:20]


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.secret_key), salt="login-device")


def _device_accounts() -> tuple[str, list[str]]:
    """This browser's device id and the accounts it has logged in to ('' and [] if none or forged)."""
    try:
        doc = _devices().loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_DAYS * 86400)
        return str(doc["id"]), [str(a) for a in doc["accounts"]]
    except (BadData, KeyError, TypeError):
        return "", []


def _remembered(username: str) -> str:
    """This browser's device id if it has logged in to this account before, else ''."""
    device, accounts = _device_accounts()
    return device if device and _account(username) in accounts else ""


def _account_key(username: str) -> str:
    """The count this login's failures go to: the account's, or on a device that has logged in to
    the account before, that device's for the account."""
    device = _remembered(username)
    if device:
        return _key("device", f"{device}:{_account(username)}")
    return _key("user", username.strip().lower())


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    # A remembered device has its own count and leaves the address's alone both ways: anyone on a
    # shared address could otherwise fill the address count and lock every member of staff out.
    if _remembered(username):
        return [(_account_key(username), ACCOUNT_LIMIT)]
    return [(_account_key(username), ACCOUNT_LIMIT), (_key("addr", address), ADDRESS_LIMIT)]


def remember_device(response: Response, username: str) -> None:
    """After a successful login: this browser is one of the account's own devices."""
    device, accounts = _device_accounts()
    accounts = [_account(username), *(a for a in accounts if a != _account(username))][:DEVICE_ACCOUNTS]
    doc = {"id": device or secrets.token_urlsafe(16), "accounts": accounts}
    response.set_cookie(DEVICE_COOKIE, _devices().dumps(doc), max_age=DEVICE_DAYS * 86400, httponly=True,
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False), samesite="Lax")


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
    name = _account_key(username)
    try:
        resources.get().redis().delete(name)
    except Exception as exc:  # noqa: BLE001 - the count ends with its window anyway
        log.warning("login attempts not cleared: Redis unavailable (%s)", exc)
    with _lock:
        _local.pop(name, None)


def minutes(wait: int) -> int:
    """`blocked_for`'s seconds as the whole minutes a person is told to wait (at least one)."""
    return max(1, -(-wait // 60))


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
