"""Cookie settings, CSRF protection on every form, and security headers."""

from __future__ import annotations

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

from hiljainen.config import Settings

csrf = CSRFProtect()

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


# How long a browser that has seen the service over HTTPS keeps to HTTPS (a year).
HSTS = "max-age=31536000"


def init_app(app: Flask, settings: Settings) -> None:
    """Secure session cookies, CSRF on every POST form, and headers on every response.

    A service whose public address is https:// is behind TLS: its cookies go over HTTPS only and
    browsers are told to keep to HTTPS, whether or not HILJAINEN_SECURE_COOKIES was also set."""
    https = settings.secure_cookies or settings.public_url.lower().startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        WTF_CSRF_TIME_LIMIT=None,  # a form left open during a shift must still submit
    )
    csrf.init_app(app)
    app.after_request(_headers)
    if https:
        app.after_request(_strict_transport)


def _strict_transport(response: Response) -> Response:
    response.headers["Strict-Transport-Security"] = HSTS
    return response


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response
