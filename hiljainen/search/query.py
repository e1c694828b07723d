"""A search query: its text checked and lemmatised into keyword terms, its filters parsed."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen import resources
from hiljainen.errors import InvalidInput
from hiljainen.models import Role, Source, Theme, Touchpoint, Unit, User
from hiljainen.pipeline import fusion
from hiljainen.pipeline.fusion import QueryToken, TermGroup
from hiljainen.rules import MAX_ID, RANK, SHOWN_TONES, SLUG_MAX, digits
from hiljainen.search.sql import Filters

MAX_QUERY_CHARS = 500  # a few words or a sentence; longer text is a note, not a query

LANGS = ("fi", "en", "und")


def clean_query(raw: str | None) -> str:
    """The query normalised, or InvalidInput saying what to change."""
    text = unicodedata.normalize("NFC", raw or "")
    # Pasted text brings tabs, newlines and control characters: they are only separators here.
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    if not text:
        raise InvalidInput(_("Type a word or a sentence to search for."))
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(
            _(
                "The search text is %(n)d characters; the limit is %(max)d. "
                "A few words or one sentence works best.",
                n=len(text),
                max=MAX_QUERY_CHARS,
            )
        )
    return text


def query_tokens(text: str, lock: Any) -> list[list[QueryToken]]:
    """The query's tokens from the Finnish and the English pipeline (tagger and lemmatiser only)."""
    from hiljainen.pipeline.linguistics import load_nlp

    analyses: list[list[QueryToken]] = []
    with lock:
        for lang in ("fi", "en"):
            nlp = load_nlp(lang)
            # The parser and NER add nothing to lemmas and stop words and take half the time.
            doc = nlp(text, disable=[n for n in ("parser", "ner") if n in nlp.pipe_names])
            analyses.append([QueryToken(t.idx, t.text, t.lemma_, t.pos_, bool(t.is_stop)) for t in doc])
    return analyses


def check_words(text: str) -> None:
    """InvalidInput if the query has no words at all (only numbers or symbols)."""
    if not fusion.words(text):
        raise InvalidInput(_("Search with words: numbers and symbols alone cannot be searched for."))


def term_groups(text: str, analyses: list[list[QueryToken]]) -> list[TermGroup]:
    """Keyword term groups of a query; InvalidInput if it has only function words."""
    groups = fusion.query_terms(text, analyses)
    if not groups:
        raise InvalidInput(
            _(
                "The search has only very common words such as “and” or “the”. "
                "Add a word that says what you are looking for."
            )
        )
    return groups


def analyse_query(text: str) -> list[TermGroup]:
    """Keyword term groups of a query; InvalidInput if it has no words or only function words."""
    check_words(text)
    return term_groups(text, query_tokens(text, resources.get().nlp_lock))


def parse_filters(args: Mapping[str, str], db: Session, user: User | None) -> Filters:
    """Filters from request arguments (empty = not used); InvalidInput for a bad value."""

    def arg(name: str) -> str | None:
        value = (args.get(name) or "").strip()
        return value or None

    since, until = _date(arg("from"), "from"), _date(arg("to"), "to")
    if since and until and since > until:
        raise InvalidInput(_("The start date is after the end date."))
    unit_id = touchpoint_id = theme_id = None
    if slug := arg("unit"):
        unit_id = db.scalar(select(Unit.id).where(Unit.slug == slug[:SLUG_MAX]))
        if unit_id is None:
            raise InvalidInput(_("Unknown unit: %(slug)s", slug=slug[:SLUG_MAX]))
    if slug := arg("touchpoint"):
        touchpoint_id = db.scalar(select(Touchpoint.id).where(Touchpoint.slug == slug[:SLUG_MAX]))
        if touchpoint_id is None:
            raise InvalidInput(_("Unknown touchpoint: %(slug)s", slug=slug[:SLUG_MAX]))
    source = None
    if value := arg("source"):
        if value not in {s.value for s in Source}:
            raise InvalidInput(_("Unknown writer role: %(value)s", value=value[:40]))
        source = Source(value)
    lang = arg("lang")
    if lang is not None and lang not in LANGS:
        raise InvalidInput(_("Unknown language: %(value)s", value=lang[:40]))
    tone = arg("tone")
    if tone is not None and tone not in SHOWN_TONES:
        raise InvalidInput(_("Unknown tone: %(value)s", value=tone[:40]))
    if value := arg("theme"):
        theme_id = int(value) if digits(value, 10) else None
        theme_id = theme_id if theme_id is not None and theme_id <= MAX_ID else None
        if theme_id is None or db.get(Theme, theme_id) is None:
            raise InvalidInput(_("No theme has the id %(id)s.", id=value[:40]))
    return Filters(
        since=since,
        until=until,
        unit_id=unit_id,
        touchpoint_id=touchpoint_id,
        source=source,
        lang=lang,
        theme_id=theme_id,
        tone=tone,
        author_id=scope_author(user),
    )


def scope_author(user: User | None) -> int | None:
    """Staff see their own signed notes only (None: no author restriction)."""
    if user is not None and RANK[user.role] < RANK[Role.LEADER]:
        return user.id
    return None


def parse_page(raw: str | None) -> int:
    """The page number (1 when not given); InvalidInput if not a whole number from 1 on."""
    if raw is None or raw == "":
        return 1
    if not digits(raw, 6) or int(raw) < 1:
        raise InvalidInput(_("The page must be a whole number from 1 on."))
    return int(raw)


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        if len(value) == 10 and value.isascii():
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    if name == "from":
        raise InvalidInput(_("The start date must be a date like 2026-03-31."))
    raise InvalidInput(_("The end date must be a date like 2026-03-31."))


def vector_where(f: Filters, *extra: dict[str, Any]) -> dict[str, Any] | None:
    """The Chroma metadata filter for the filters the vector index knows (see workers.jobs)."""
    conds: list[dict[str, Any]] = list(extra)
    if f.unit_id is not None:
        conds.append({"unit": f.unit_id})
    if f.touchpoint_id is not None:
        conds.append({"touchpoint": f.touchpoint_id})
    if f.source is not None:
        conds.append({"source": f.source.value})
    if f.lang is not None:
        conds.append({"lang": f.lang})
    if f.since is not None:
        conds.append({"day": {"$gte": int(f.since.strftime("%Y%m%d"))}})
    if f.until is not None:
        conds.append({"day": {"$lte": int(f.until.strftime("%Y%m%d"))}})
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else {"$and": conds}
