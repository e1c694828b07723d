"""Error pages for people: a 4xx or 5xx says what happened, in the interface language, on the
app's own layout (readable on a phone) with a way back. The API, and a page's script that sent
JSON, get the same in JSON."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

_PAGES = {
    403: (lazy_gettext("Not allowed"),
          lazy_gettext("Your account cannot open this page. Log in with another account, or ask "
                       "a leader for access.")),
    404: (lazy_gettext("Page not found"),
          lazy_gettext("The address may be mistyped or the page removed. If you came from a QR "
                       "code, tell the staff: they can print a new one.")),
    405: (lazy_gettext("This page cannot be opened this way"),
          lazy_gettext("Go back and use the page's own buttons and links.")),
    413: (lazy_gettext("Too much at once"),
          lazy_gettext("The text or file sent was too large. Go back and send less at a time.")),
}
_EXPIRED = (lazy_gettext("The form could not be sent"),
            lazy_gettext("The page was open for a long time or its security check failed. Go back, "
                         "copy your text, reload the page and send it again."))
_OTHER = (lazy_gettext("Something went wrong"),
          lazy_gettext("Nothing was changed. Go back and try again in a moment."))


def init_app(app: Flask) -> None:
    """Answer every HTTP error outside the API with the error page."""
    app.register_error_handler(HTTPException, page)


def page(exc: HTTPException) -> Any:
    """The error page for `exc` (JSON under /api/, as the API's own handlers answer)."""
    code = exc.code or 500
    headers = exc.get_response().headers
    keep = {k: v for k, v in headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}
    if request.path.startswith("/api/"):
        return jsonify(error=exc.description or exc.name), code, keep
    expired = isinstance(exc, CSRFError)
    title, text = _EXPIRED if expired else _PAGES.get(code, _OTHER)
    # The CSRF check's own reason ("The CSRF token is missing.") helps whoever gets the report.
    detail = exc.description if expired else None
    if request.is_json:  # a page's script sent JSON: it reads the answer as JSON too
        return jsonify(error=f"{title}. {text}", detail=detail), code, keep
    page = render_template("error.html", code=code, title=title, text=text, detail=detail)
    return page, code, keep
