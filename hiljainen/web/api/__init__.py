"""JSON API under /api/v1: write notes and read them with a bearer token.

Each token may make HILJAINEN_API_RATE_LIMIT requests a minute (see limits); beyond that the
answer is 429 with Retry-After.

Who may do what (the token's role): staff tokens may only create notes; leader and admin tokens
may also list and read notes. Reading returns the stored, already redacted text only. Contact
details and receipt hashes are never returned to anyone: a token is a long-lived credential held
by another system, and answering a writer happens inside the service. The author's username is
returned only for notes the writer chose to sign.

The one /api/v1 package: this module holds the blueprint, its token check and error handlers;
observations, search and openapi add their routes to it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound

from hiljainen import resources, tokens
from hiljainen.errors import InvalidInput, ModelMismatch, ServiceUnavailable
from hiljainen.models import ApiToken
from hiljainen.web import errorpages
from hiljainen.web.api import limits
from hiljainen.web.security import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Bearer tokens are not ambient credentials (a browser never adds them), so CSRF does not apply.
csrf.exempt(bp)

F = TypeVar("F", bound=Callable[..., Any])

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class ApiError(Exception):
    """An error answered as {"error": message} with this HTTP status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Any:
    return jsonify(error=str(exc)), exc.status, exc.headers


@bp.errorhandler(InvalidInput)
def _invalid(exc: InvalidInput) -> Any:
    return jsonify(error=str(exc)), 400


@bp.errorhandler(ServiceUnavailable)
@bp.errorhandler(ModelMismatch)
def _unavailable(exc: Exception) -> Any:
    return jsonify(error=str(exc)), 503


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    # e.g. 413 from Flask's MAX_CONTENT_LENGTH: the API never answers with an HTML page.
    headers = (
        {"Allow": ", ".join(exc.valid_methods)}
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods
        else {}
    )
    return jsonify(error=exc.description or exc.name), exc.code or 500, headers


@bp.app_errorhandler(RouteNotFound)
def _route_not_found(exc: RouteNotFound) -> Any:
    # A 404 from routing itself (e.g. an id above inputs.MAX_ID) reaches no blueprint's handler.
    if request.path.startswith(bp.url_prefix or "/api/v1"):
        return jsonify(error=_("No such API path.")), 404
    return errorpages.page(exc)


def token_required(scope: str) -> Callable[[F], F]:
    """Require `Authorization: Bearer <token>` whose role includes this scope."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            g.api_token = _authenticate()
            _within_rate_limit(g.api_token)
            if not tokens.allows(g.api_token, scope):
                raise ApiError(
                    403, _("This token may not do this (its role is %(role)s).", role=g.api_token.role.value)
                )
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def _within_rate_limit(token: ApiToken) -> None:
    wait = limits.wait_for(token.token_hash, resources.get().settings.api_rate_limit)
    if wait:
        raise ApiError(
            429,
            _("Too many requests with this token: wait %(n)d seconds and try again.", n=wait),
            {"Retry-After": str(wait)},
        )


def _authenticate() -> ApiToken:
    challenge = {"WWW-Authenticate": 'Bearer realm="hiljainen"'}
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, _("Send an API token: Authorization: Bearer <token>."), challenge)
    token = tokens.verify(resources.session(), value.strip())
    if token is None:
        raise ApiError(401, _("The API token is unknown or revoked."), challenge)
    return token


@bp.route("/", defaults={"rest": ""}, methods=METHODS)
@bp.route("/<path:rest>", methods=METHODS)
def not_found(rest: str) -> Any:
    """Unknown API paths and methods answer in JSON too, not with the site's HTML pages."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in METHODS:
        try:
            endpoint, _args = adapter.match(method=method)
        except (RouteNotFound, MethodNotAllowed):
            continue
        if endpoint != "api.not_found":
            allowed.append(method)
    if allowed:
        raise ApiError(405, _("Method not allowed."), {"Allow": ", ".join(allowed)})
    raise ApiError(404, _("No such API path."))


# The routes live in these modules; importing them registers them on bp.
from hiljainen.web.api import observations, openapi, search  # noqa: E402,F401
