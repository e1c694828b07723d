"""Database outages (down, restarting, disk full) answered as 503 with a clear message, never a 500."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, jsonify, render_template_string, request
from flask_babel import gettext as _

from hiljainen import db

# Standalone on purpose: base.html and the normal pages read the database, which is what failed.
_OUTAGE_PAGE = """<!doctype html><html lang="{{ locale }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Hiljainen</title>
<link rel="stylesheet" href="{{ url_for('static', filename='app.css') }}"></head>
<body><main><h1>Hiljainen</h1><p class="error" role="alert">{{ message }}</p>
{% if text %}<p>{{ kept }}</p><textarea rows="8" readonly>{{ text }}</textarea>{% endif %}
</main></body></html>"""


def message(kind: str) -> str:
    """What to tell people when the database is full or cannot be reached."""
    if kind == "full":
        return _("The data folder is full, so nothing can be saved right now. Tell the administrator.")
    return _("The database cannot be reached right now. Please try again in a moment.")


def init_app(app: Flask) -> None:
    """A database that is down or out of disk space is a 503 with a clear message, never a 500."""
    def answer(exc: Exception) -> Any:
        kind = db.outage(exc)
        if kind is None:
            raise exc  # a bug, not an outage: the normal 500 path logs it
        app.logger.warning("database %s: %s", kind, exc)
        g.user = None  # its attributes would be reloaded from the database that just failed
        said, headers = message(kind), {"Retry-After": "30"}
        if request.path.startswith("/api/") or request.is_json:
            return jsonify(error=said), 503, headers
        draft = request.form.get("text", "") if request.method == "POST" else ""
        kept = _("Your text was not saved. It is kept here: copy it and send it again later.")
        page = render_template_string(_OUTAGE_PAGE, message=said, text=draft, kept=kept)
        return page, 503, headers

    for error in db.OUTAGE_ERRORS:
        app.register_error_handler(error, answer)
