"""Request values the databases cannot take: ids beyond an INTEGER column, NUL characters and lone
surrogates. SQLite merely finds nothing for them; PostgreSQL refuses the query, which was a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app, jsonify, request
from flask_babel import gettext as _
from psycopg.errors import NumericValueOutOfRange
from sqlalchemy.exc import DataError
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from hiljainen.rules import MAX_ID


class RowIdConverter(IntegerConverter):
    """`<int:...>` in every route: ids above MAX_ID match no route (404)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Bound `<int:...>` route ids and refuse NUL in addresses; call before registering blueprints."""
    app.url_map.converters["int"] = RowIdConverter
    app.before_request(_refuse_nul)
    app.register_error_handler(DataError, _refused_value)


def _refused_value(exc: DataError) -> Any:
    # The safety net for a form field no check caught: PostgreSQL refuses NUL in text and numbers
    # beyond a column's range. Anything else the database refuses is a bug: the normal 500 path.
    if not isinstance(exc.orig, NumericValueOutOfRange) and "NUL" not in str(exc.orig):
        raise exc
    current_app.logger.warning("database refused a value from %s: %s", request.path, exc.orig)
    message = _("A field contains a character or number that cannot be stored (such as NUL).")
    if request.path.startswith("/api/") or request.is_json:
        return jsonify(error=message), 400
    return BadRequest(description=message).get_response()  # an error handler must not raise


def _refuse_nul() -> Any:
    # No page, slug or filter has a use for NUL (forms check their fields where they read them).
    in_path = "\x00" in request.path
    if not in_path and not any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
        return None
    status, message = (404, None) if in_path else (400, _("The address contains a NUL character."))
    if request.path.startswith("/api/"):
        return jsonify(error=message or _("No such API path.")), status
    abort(status, description=message)
