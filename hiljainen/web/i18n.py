"""Finnish and English interface (Flask-Babel); Finnish is the default."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, has_request_context, request, session, url_for
from flask_babel import Babel, format_date, format_datetime, format_decimal, get_locale, lazy_gettext

from hiljainen.catalogs import LOCALES, compile_catalogs
from hiljainen.config import Settings
from hiljainen.models import Role, Source, Status
from hiljainen.pipeline.tone import shown_tone

_STATUS = {
    Status.NEW: lazy_gettext("new"),
    Status.SEEN: lazy_gettext("seen"),
    Status.IN_PROGRESS: lazy_gettext("in progress"),
    Status.DONE: lazy_gettext("done"),
}
_SOURCE = {
    Source.STAFF: lazy_gettext("staff"),
    Source.CUSTOMER: lazy_gettext("customer"),
    Source.RELATIVE: lazy_gettext("relative"),
    Source.PARTNER: lazy_gettext("partner"),
}

# An account's role: what it may do, in words an administrator uses.
_ROLE = {
    Role.STAFF: lazy_gettext("staff member"),
    Role.LEADER: lazy_gettext("leader"),
    Role.ADMIN: lazy_gettext("administrator"),
}

_SIGNAL = {
    "weak": lazy_gettext("weak signal"),
    "strong": lazy_gettext("strong signal"),
    "well-known": lazy_gettext("well known"),
    "latent": lazy_gettext("latent"),
    "noise": lazy_gettext("too few notes"),
}
_CONFIDENCE = {"low": lazy_gettext("low"), "medium": lazy_gettext("medium"), "high": lazy_gettext("high")}
_TONE = {
    "positive": lazy_gettext("positive"),
    "neutral": lazy_gettext("neutral"),
    "negative": lazy_gettext("negative"),
    "uncertain": lazy_gettext("uncertain"),  # below the model's confidence line (pipeline/tone.py)
    "unknown": lazy_gettext("tone not estimated"),  # not processed yet, or no tone model
}
# What happened to a theme when themes were recomputed (cluster.EVENT_KINDS).
_EVENT = {
    "born": lazy_gettext("appeared"),
    "grew": lazy_gettext("grew"),
    "shrank": lazy_gettext("shrank"),
    "continued": lazy_gettext("continued"),
    "merged": lazy_gettext("merged into another"),
    "split": lazy_gettext("split off"),
    "faded": lazy_gettext("faded"),
}
# A leader's corrections to a theme (models.CorrectionKind), as its edit history says them.
_CORRECTION = {
    "rename": lazy_gettext("renamed"),
    "merge": lazy_gettext("merged into another theme"),
    "split": lazy_gettext("notes split into a new theme"),
    "move": lazy_gettext("notes moved to another theme"),
    "not_new": lazy_gettext("marked not a new subject"),
    "watch": lazy_gettext("watching changed"),
    "pin": lazy_gettext("pinning changed"),
    "undo": lazy_gettext("last correction undone"),
}
_ALERT = {
    "signal": lazy_gettext("signal"),
    "burst": lazy_gettext("burst"),
    "threshold": lazy_gettext("threshold"),
}


def signal_label(signal: str) -> str:
    """A theme's signal class in the interface language."""
    return str(_SIGNAL.get(signal, signal))


def confidence_label(confidence: str) -> str:
    """How sure the signal is, in the interface language."""
    return str(_CONFIDENCE.get(confidence, confidence))


def status_label(status: Status) -> str:
    """A note's or theme's status in the interface language."""
    return str(_STATUS[status])


def event_label(kind: str) -> str:
    """What happened to a theme in a recomputation, in the interface language."""
    return str(_EVENT.get(kind, kind))


def correction_label(kind: object) -> str:
    """A leader's correction to a theme, in the interface language."""
    value = str(getattr(kind, "value", kind))
    return str(_CORRECTION.get(value, value))


def alert_label(kind: str) -> str:
    """An alert's kind, in the interface language."""
    return str(_ALERT.get(kind, kind))


def chart_labels() -> dict[str, str]:
    """Series names and axis titles the charts' script shows, in the interface language."""
    names = {s.value: str(label) for s, label in _SOURCE.items()}
    for table in (_SIGNAL, _TONE):
        names.update({key: str(label) for key, label in table.items()})
    names.update(
        share=str(lazy_gettext("% of notes")),
        growth=str(lazy_gettext("growth per week")),
        acknowledged=str(lazy_gettext("% acknowledged within 2 working days")),
        closed=str(lazy_gettext("% closed with an action")),
        you_said=str(lazy_gettext("you said, we did")),
        notes=str(lazy_gettext("Notes per week")),
        burst_notes=str(lazy_gettext("notes in weeks when the theme suddenly grew")),
        reporters=str(lazy_gettext("reporters")),
        week=str(lazy_gettext("wk")),  # before an ISO week number: "wk 37"
    )
    return names


# The dashboard tables' column names (dashboard._tables; the CSV keeps these keys).
_COLUMN = {
    "week": lazy_gettext("Week"),
    "unit": lazy_gettext("Unit"),
    "source": lazy_gettext("Writer"),
    "notes": lazy_gettext("Notes"),
    "theme": lazy_gettext("Theme"),
    "signal": lazy_gettext("Signal"),
    "confidence": lazy_gettext("Confidence"),
    "visibility": lazy_gettext("share of notes"),
    "emergence": lazy_gettext("growth per week"),
    "reporters": lazy_gettext("Reporters"),
    "acknowledged_in_time": lazy_gettext("% acknowledged within 2 working days"),
    "closed_with_action": lazy_gettext("% closed with an action"),
    "you_said_we_did": lazy_gettext("you said, we did"),
    "median_days_to_response": lazy_gettext("Median days to first response"),
}


def table_label(value: object) -> object:
    """A dashboard table's column name or coded cell (writer role, signal, tone, confidence) in
    the interface language; anything else unchanged."""
    if not isinstance(value, str):
        return value
    for table in (_COLUMN, _SIGNAL, _TONE, _CONFIDENCE):
        if value in table:
            return str(table[value])
    if value in {s.value for s in Source}:
        return source_label(Source(value))
    return value


def role_label(role: Role | str) -> str:
    """An account's or API token's role (or its value, "staff"), in the interface language."""
    return str(_ROLE[Role(role)])


def source_label(source: Source) -> str:
    """Who wrote a note, in the interface language."""
    return str(_SOURCE[source])


def day(value: dt.date | None) -> str:
    """A date as its reader writes it: 24.11.2026, Nov 24, 2026; a time's date in the
    deployment's time zone."""
    return "" if value is None else format_date(value, "medium")


def moment(value: dt.datetime | None) -> str:
    """A time as its reader writes it, in the deployment's time zone: 24.11.2026 14.05."""
    return "" if value is None else format_datetime(value, "short")


def number(value: float | None, digits: int = 1) -> str:
    """A number as its reader writes it, rounded to `digits` decimals: 3,5 / 3.5, and 4 rather
    than 4.0; – for none."""
    if value is None:
        return "–"
    if not abs(value) < 1e15:  # beyond what Babel prints (a value stored before limits were set)
        return f"{value:g}"
    return format_decimal(round(value, digits))


def init_app(app: Flask, settings: Settings) -> None:
    """Compile catalogs if needed and pick the locale per request."""
    compile_catalogs()
    default = settings.default_locale if settings.default_locale in LOCALES else "fi"
    app.config["BABEL_DEFAULT_LOCALE"] = default
    app.config["BABEL_DEFAULT_TIMEZONE"] = settings.timezone
    app.jinja_env.filters.update(day=day, moment=moment, number=number)
    app.jinja_env.globals["shown_tone"] = shown_tone  # one threshold for pages and queries
    Babel(app, locale_selector=lambda: select_locale(default))

    @app.context_processor
    def _locale() -> dict[str, object]:
        return {
            "locale": str(get_locale()),
            "locales": LOCALES,
            "status_label": status_label,
            "source_label": source_label,
            "role_label": role_label,
            "signal_label": signal_label,
            "confidence_label": confidence_label,
            "language_url": language_url,
            "event_label": event_label,
            "alert_label": alert_label,
            "correction_label": correction_label,
            "chart_labels": chart_labels,
            "table_label": table_label,
        }


def language_url(code: str) -> str | None:
    """This page again in another interface language, its query kept; None for a page that a
    form post produced (reloading it would lose what it shows, such as a receipt code)."""
    if request.method != "GET" or request.endpoint is None:
        return None
    # One dict, so a query key equal to a view argument cannot collide; url_for's own options
    # (_external, _scheme, _anchor..., and its first argument's name) never come from the query.
    values: dict[str, Any] = {
        k: v for k, v in request.args.to_dict(flat=False).items() if not k.startswith("_") and k != "endpoint"
    }
    values.update(request.view_args or {}, lang=code)
    return url_for(request.endpoint, **values)


def select_locale(default: str) -> str:
    """?lang= (remembered in the session), else the browser's preference, else the default."""
    if not has_request_context():  # workers and commands translate in the default language
        return default
    chosen = request.args.get("lang")
    if chosen in LOCALES:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in LOCALES:
        return str(session["lang"])
    return request.accept_languages.best_match(LOCALES) or default


