"""Hiljainen: capture notes, understand them, and show themes and weak signals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from hiljainen.config import Settings

if TYPE_CHECKING:
    from hiljainen.runtime import Runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the web application for these settings (default: the runtime's, else from the
    environment); `runtime` (e.g. a test's, holding an already loaded model) is shared, not rebuilt."""
    from hiljainen import resources
    from hiljainen.web import (
        account,
        admin,
        api,
        auth,
        capture,
        dashboard,
        errorpages,
        health,
        i18n,
        inputs,
        outages,
        report,
        search,
        security,
        themes,
        triage,
        weekly,
    )

    settings = settings or (runtime.settings if runtime is not None else Settings.from_env())
    app = Flask(__name__)
    if settings.trusted_proxies > 0:
        # Behind a proxy every visitor has the proxy's address; the public forms' per-address
        # limit needs the visitor's, which only a proxy we trust may tell us.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    resources.init_app(app, settings, runtime)
    security.init_app(app, settings)
    inputs.init_app(app)  # before the blueprints: it bounds their <int:...> ids
    i18n.init_app(app, settings)
    auth.init_app(app)
    errorpages.init_app(app)
    for blueprint in (
        auth.bp,
        capture.bp,
        dashboard.bp,
        search.bp,
        themes.bp,
        triage.bp,
        report.bp,
        weekly.bp,
        admin.bp,
        account.bp,
        api.bp,
        health.bp,
    ):
        app.register_blueprint(blueprint)
    outages.init_app(app)
    return app
