"""Health: ok or degraded for anyone; database, Redis, Chroma and worker status for an admin or
on the machine itself (/healthz/details, direct loopback only), as JSON."""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, request
from sqlalchemy import func, select, text

from hiljainen import resources
from hiljainen.models import Observation, Role
from hiljainen.stores.vectors import count_vectors

bp = Blueprint("health", __name__)


# Seconds the public answer is reused for: each check opens connections to every store, and anyone
# may ask, as often as they like.
PUBLIC_ANSWER_SECONDS = 15.0

# Headers a reverse proxy adds: a request that carries one came from elsewhere, whatever its address.
_FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP", "X-Forwarded-Host")


@bp.get("/healthz")
def healthz() -> Any:
    """ok or degraded, nothing more for the public (counts and server addresses help an attacker);
    a logged-in admin sees each component. HTTP 503 when the database is down."""
    if request.args.get("quick"):
        return jsonify(status="ok")
    user = g.get("user")
    if user is not None and user.role == Role.ADMIN:
        parts = _parts()
        status, code = _state(parts)
        return jsonify({**parts, "status": status}), code
    # One answer per web process for a few seconds, whoever asks.
    kept = current_app.extensions.setdefault("health", {})
    if "at" not in kept or time.monotonic() - kept["at"] >= PUBLIC_ANSWER_SECONDS:
        status, code = _state(_parts())
        kept.update(status=status, code=code, at=time.monotonic())
    return jsonify(status=kept["status"]), kept["code"]


def _state(parts: dict[str, dict[str, Any]]) -> tuple[str, int]:
    """ok or degraded, and the HTTP status: 503 when the database is down."""
    status = "ok" if all(part["ok"] for part in parts.values()) else "degraded"
    return status, 200 if parts["database"]["ok"] else 503


@bp.get("/healthz/details")
def details() -> Any:
    """Each component's state, for monitoring on the machine itself: answered only to a direct
    loopback connection (404 to anything else, also to anything that came through a proxy)."""
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:  # no address, or a Unix socket
        loopback = False
    if not loopback or any(request.headers.get(h) for h in _FORWARDED):
        abort(404)
    parts = _parts()
    status, code = _state(parts)
    return jsonify({**parts, **_children(), "status": status}), code


def _children() -> dict[str, Any]:
    # Under `hiljainen serve`: each child's state and how often it was restarted.
    path = resources.get().settings.data_dir / "children.json"
    try:
        return {"children": json.loads(path.read_text())}
    except (OSError, ValueError):
        return {}


def _parts() -> dict[str, dict[str, Any]]:
    return {"database": _database(), "redis": _redis(), "chroma": _chroma(), "workers": _workers()}


def _database() -> dict[str, Any]:
    try:
        db = resources.session()
        db.execute(text("SELECT 1"))
        waiting = db.scalar(select(func.count()).where(Observation.processed_at.is_(None)))
        return {"ok": True, "unprocessed_notes": waiting}
    except Exception as exc:  # noqa: BLE001 - reported, not raised: this is the health page
        return {"ok": False, "error": type(exc).__name__}


def _redis() -> dict[str, Any]:
    try:
        conn = resources.get().redis()
        conn.ping()
        from hiljainen.stores.queue import queue

        return {"ok": True, "queued_jobs": queue(conn).count}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)[:200]}


def _chroma() -> dict[str, Any]:
    # Counted without loading the embedding model: health must stay cheap for a fresh web process.
    settings = resources.get().settings
    try:
        return {"ok": True, "vectors": count_vectors(settings.chroma_url, settings.chroma_collection)}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)[:200]}


def _workers() -> dict[str, Any]:
    try:
        from rq import Worker

        workers = Worker.all(connection=resources.get().redis())
        return {
            "ok": bool(workers),
            "count": len(workers),
            "states": sorted(str(w.get_state()) for w in workers),
        }
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)[:200]}
