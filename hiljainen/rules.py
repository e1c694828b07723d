"""One definition of each rule that several layers share: id range, slug length, tones, roles."""

from __future__ import annotations

import hashlib
import hmac

from hiljainen.models import PUBLIC_ID_ALPHABET, PUBLIC_ID_LENGTH, Role, Source

MAX_ID = 2**31 - 1  # PostgreSQL INTEGER: a larger id cannot exist, and cannot even be compared
SLUG_MAX = 60  # longest unit or touchpoint slug looked up (longer input matches none)
TONES = ("positive", "negative", "neutral")  # as hiljainen.pipeline.tone.CLASSES
# What a note's tone shows as (hiljainen.pipeline.tone.shown_tone), and so what a search filters by.
SHOWN_TONES = (*TONES, "uncertain")
PUBLIC_ROLES = (Source.CUSTOMER, Source.RELATIVE, Source.PARTNER)  # who writes on a public form
# What each role may do, in one place; tests walk every route against this table.
RANK = {Role.STAFF: 1, Role.LEADER: 2, Role.ADMIN: 3}


def digits(raw: str, max_len: int) -> bool:
    """True when `raw` is 1 to max_len ASCII digits: int() of it is cheap and cannot fail."""
    return raw.isascii() and raw.isdigit() and len(raw) <= max_len


def public_id_shape(raw: str) -> bool:
    """True when `raw` can be a note's public id (see models.new_public_id): checked before any
    lookup, so odd input never reaches a query."""
    return len(raw) == PUBLIC_ID_LENGTH and all(c in PUBLIC_ID_ALPHABET for c in raw)


def user_reporter_key(secret: str, user_id: int) -> str:
    """The reporter key of a logged-in user's "me too" voice: the suggestions store it, and erasure
    finds a person's voices by it, so both take it from here."""
    return hmac.new(secret.encode(), f"user:{user_id}".encode(), hashlib.sha256).hexdigest()[:40]


def queryable(text: str) -> bool:
    """True when both databases can compare or store this text (no NUL, valid UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
