"""The organisation's own name, set by the admin (/admin/) and printed on the touchpoints' QR
posters, so a customer sees whose feedback form the code opens. Kept in the settings table."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hiljainen.models import Setting

KEY = "organisation_name"
MAX_NAME = 200


def name(session: Session) -> str:
    """The name the admin set, or '' before they set one."""
    row = session.get(Setting, KEY)
    return row.value if row else ""


def set_name(session: Session, value: str) -> str:
    """Store the name (spaces folded, at most MAX_NAME characters; '' clears it); the caller
    audits and commits. Returns what was stored."""
    value = " ".join(value.split())[:MAX_NAME]
    session.merge(Setting(key=KEY, value=value))
    return value
