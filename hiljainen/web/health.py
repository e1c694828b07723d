"""Health: database, Redis, Chroma and worker status, as JSON."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import func, select, text

from hiljainen import resources
from hiljainen.models import Observation
from hiljainen.stores.vectors import count_vectors

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Each component's state; HTTP 503 when the database is down (nothing works without it)."""
    if request.args.get("quick"):
        return jsonify(status="ok")
    parts = {"database": _database(), "redis": _redis(), "chroma": _chroma(), "workers": _workers()}
    overall = "ok" if all(part["ok"] for part in parts.values()) else "degraded"
    return jsonify({**parts, "status": overall}), 200 if parts["database"]["ok"] else 503


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
