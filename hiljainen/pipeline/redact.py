"""Personal-data redaction: e-mail, phone, hetu, IBAN, street address and person names.

Structured kinds are found with validated patterns; names with spaCy NER combined with the
Voikko morphological lexicon (first names and surnames, inflected forms included) and
capitalisation. Found spans are replaced by typed markers in the note's language. Nothing
here logs or keeps the original text.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING, Any

from hiljainen.pipeline.language import detect
from hiljainen.pipeline.linguistics import load_nlp, pipeline_lang, spacy_text

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

KINDS = ("NAME", "PHONE", "EMAIL", "HETU", "IBAN", "ADDRESS")
MARKERS = {
    "fi": {
        "NAME": "[NIMI]",
        "PHONE": "[PUHELIN]",
        "EMAIL": "[SÄHKÖPOSTI]",
        "HETU": "[HETU]",
        "IBAN": "[IBAN]",
        "ADDRESS": "[OSOITE]",
    },
    "en": {
        "NAME": "[NAME]",
        "PHONE": "[PHONE]",
        "EMAIL": "[EMAIL]",
        "HETU": "[ID]",
        "IBAN": "[IBAN]",
        "ADDRESS": "[ADDRESS]",
    },
}
MARKER = re.compile(r"\[[A-ZÄÖÅ_]+\]")
BATCH_SIZE = 256

# Priority when spans overlap: validated structured kinds beat patterns beat the name model.
_PRIORITY = {"EMAIL": 0, "HETU": 1, "IBAN": 2, "PHONE": 3, "ADDRESS": 4, "NAME": 5}


@dataclass(frozen=True)
class Span:
    """A piece of personal data by character offsets and kind."""

    start: int
    end: int
    kind: str


@dataclass
class Redaction:
    """A redacted text and how many items of each kind were replaced."""

    text: str
    found: dict[str, int] = field(default_factory=dict)


# --- structured kinds ------------------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\b")

# hetu: DDMMYY, century sign (2023 reform added A-F for 2000s and Y X W V U for 1900s),
# individual number, check character = CHECK[int(DDMMYYNNN) % 31].
_HETU = re.compile(r"(?<![\w+-])(\d{6})([-+ABCDEFYXWVU])(\d{3})([0-9A-Y])(?![\w+-])", re.I)
_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY = {"+": 1800, **dict.fromkeys("-YXWVU", 1900), **dict.fromkeys("ABCDEF", 2000)}

# IBAN: country, check digits, then groups of up to four, printed with or without spaces.
_IBAN = re.compile(r"(?<![\w])([A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30})(?![\w])")
_IBAN_LENGTHS = {
    "FI": 18, "SE": 24, "EE": 20, "NO": 15, "DK": 18, "DE": 22, "GB": 22, "FR": 27, "NL": 18,
    "ES": 24, "IT": 27, "BE": 16, "AT": 20, "CH": 21, "PL": 28, "LT": 20, "LV": 21, "IE": 22,
    "PT": 25, "AX": 18,
}  # fmt: skip

# Phones: international (+358 / 00358 / +44 ...), domestic with a leading 0 (040 123 4567,
# 09-123 4567, (09) 8765 432, 07700 900123) and North American (555) 123-4567 / 555-123-4567.
# The look-arounds keep parts of longer codes (property ids 091-012-0034-0005, order numbers)
# from matching; digit counts are checked afterwards.
_PHONE = re.compile(
    r"(?<![\w+\-/.,])(?:"
    r"(?P<intl>(?:\+|00)[1-9]\d{0,2}(?:[ -]?\(0\))?(?:[ -]?\d{1,4}){2,5})"
    r"|(?P<dom>\(0\d{1,4}\)[ -]?\d{2,5}(?:[ -]?\d{2,5}){0,2}|0[1-9]\d{0,3}(?:[ -]?\d{2,5}){1,3})"
    r"|(?P<nanp>\(\d{3}\) ?\d{3}[ -]\d{4}|\d{3}-\d{3}-\d{4})"
    r")(?![\w\-/]|[.,]\d)"
)

# Finnish street names end in a street word, possibly inflected (Hämeenkatu, Hämeenkadulla,
# Kalevankadun); at least two letters must precede it so that "Pihalla 5" is not a street.
_FI_STREET_WORDS = (
    "katu|kadu|tie|kuja|polku|polu|raitti|raiti|väylä|ranta|rann|puistikko|puistiko|bulevardi|"
    "kaari|kaare|rinne|rintee|aukio|tori|esplanadi|portti|porti|kulma|mäki|mäe|penger|pentere|"
    "laituri|vainio|kaarre|kaartee|ahde|ahtee|kenttä|kentä|piha"
)
_UP = "A-ZÄÖÅ"
_LO = "a-zäöåé"
# Case endings a street name takes in an address ("Hämeenkadulla 5", "Kalevankadun 4"); the
# partitive is left out: it never appears there, and "Historia" would end in "tori" + "a".
_STREET_CASE = "n|lla|llä|lle|lta|ltä|ssa|ssä|sta|stä|lle|en|een"
_STREET_TAIL = rf"[{_LO}-]*[{_LO}](?:{_FI_STREET_WORDS})(?:{_STREET_CASE})?"
_FI_ADDRESS = re.compile(
    # "Hervannan valtaväylä" | optional direction word + "Mannerheimintie" / "Hämeenkadulla"
    rf"(?<![\w])(?:[{_UP}][{_LO}]+ [{_LO}]{_STREET_TAIL}"
    rf"|(?:(?:Itäinen|Läntinen|Pohjoinen|Eteläinen|Vanha|Uusi|Iso|Pikku|Pieni) )?"
    rf"[{_UP}]{_STREET_TAIL})"
    # house number, then staircase/flat ("B 34", "b 9", "C", "as. 3"), then postcode and town
    r" \d{1,4}(?:-\d{1,4})?[a-zA-Z]?(?![\w]|-[^\W\d])"
    r"(?: ?(?:(?:as\.?|asunto|bst\.?) ?\d{1,3}|[A-Za-z](?: ?\d{1,3})?)(?![\w]))?"
    rf"(?:,? \d{{5}} [{_UP}][{_LO}]+)?"
    # "Rantatiellä 5 autoa" is a count, not an address
    r"(?! ?(?:%|€|astetta|euroa|eur|kg|km|min|kertaa|vuotta|henkeä|kpl|autoa)\b)"
)
_EN_ADDRESS = re.compile(
    r"(?<![\w])(?:(?:Flat|Apt\.?|Apartment|Unit|Suite) \d{1,4}[A-Z]?,? )?"
    r"\d{1,5}[A-Z]?,? (?:[A-Z][\w']+ ){1,3}"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Court|Ct|Way|Crescent|Cres|"
    r"Place|Pl|Terrace|Gardens|Grove|Square|Sq|Boulevard|Blvd|Row|Mews|Hill|Walk|Parade)\b"
)


def valid_hetu(code: str) -> bool:
    """True if code is a Finnish personal identity code with a real date and check character."""
    m = _HETU.fullmatch(code.strip())
    if not m:
        return False
    birth, sign, individual, check = m.group(1), m.group(2).upper(), m.group(3), m.group(4)
    try:
        date(_CENTURY[sign] + int(birth[4:6]), int(birth[2:4]), int(birth[0:2]))
    except ValueError:
        return False
    if int(individual) < 2:
        return False
    return _HETU_CHECK[int(birth + individual) % 31] == check.upper()


def valid_iban(code: str) -> bool:
    """True if code (spaces allowed) passes the IBAN mod-97 check and known country length."""
    compact = code.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    expected = _IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _iban_spans(text: str) -> Iterator[Span]:
    # Not finditer: a code-like word before the IBAN ("AA01 DE36 ...") starts a match that
    # swallows it; when a match has no valid IBAN, the search goes on inside it.
    pos = 0
    while (m := _IBAN.search(text, pos)) is not None:
        pos = m.start(1) + 1
        # The pattern may run into a following number ("FI21 ... 85 2024"): try the longest
        # prefix ending on a character that validates.
        chars = [(i, ch) for i, ch in enumerate(m.group(1), start=m.start(1)) if ch != " "]
        lengths = sorted(range(15, len(chars) + 1), reverse=True)
        known = _IBAN_LENGTHS.get(m.group(1)[:2])
        if known is not None:
            lengths = [known] if known <= len(chars) else []
        for n in lengths:
            candidate = "".join(ch for _, ch in chars[:n])
            end = chars[n - 1][0] + 1
            if (end == len(text) or not text[end].isalnum()) and valid_iban(candidate):
                yield Span(m.start(1), end, "IBAN")
                pos = end
                break


def _phone_spans(text: str) -> Iterator[Span]:
    for m in _PHONE.finditer(text):
        # A number right after the phone joins the match ("040 123 4567 100 kertaa") and breaks its
        # digit count: then try the match without its trailing space-separated groups.
        cuts = (i for i in range(m.end() - 1, m.start(), -1) if text[i] == " ")
        for end in (m.end(), *cuts):
            cut = m if end == m.end() else _PHONE.fullmatch(text, m.start(), end)
            if cut is not None and _phone_digits_ok(cut):
                yield Span(m.start(), end, "PHONE")
                break


def _phone_digits_ok(m: re.Match[str]) -> bool:
    digits = sum(ch.isdigit() for ch in m.group(0))
    if m.group("intl"):
        return 8 <= digits <= 15
    if m.group("dom"):
        return 8 <= digits <= 12
    return digits == 10


def find_structured(text: str) -> list[Span]:
    """Spans of e-mails, hetus, IBANs, phone numbers and street addresses (no NER)."""
    spans = [Span(m.start(), m.end(), "EMAIL") for m in _EMAIL.finditer(text)]
    spans += [Span(m.start(), m.end(), "HETU") for m in _HETU.finditer(text) if valid_hetu(m[0])]
    spans += _iban_spans(text)
    spans += _phone_spans(text)
    for pattern in (_FI_ADDRESS, _EN_ADDRESS):
        spans += [Span(m.start(), m.end(), "ADDRESS") for m in pattern.finditer(text)]
    return spans


# --- names -----------------------------------------------------------------------------------

_PERSON_LABELS = frozenset({"PERSON", "PER"})
_NAME_CLASSES = frozenset({"etunimi", "sukunimi"})
_PROPER_CLASSES = frozenset({"etunimi", "sukunimi", "nimi", "paikannimi"})
# Roles and honorifics that precede names and that NER sometimes pulls into a PERSON span.
_TITLES = frozenset(
    "asukas asiakas hoitaja sairaanhoitaja lähihoitaja omainen omahoitaja kuljettaja huoltomies "
    "isännöitsijä fysioterapeutti keittäjä lääkäri tohtori rouva herra neiti vuokralainen "
    "yhteyshenkilö terveisiä kiitos hei moi "
    "mr mrs ms miss mx dr nurse sister doctor resident tenant driver carer sir madam dear hi "
    "hello thanks".split()
)
_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "nurse", "sister"})
_SENTENCE_END = frozenset({".", "!", "?", "…", "\n"})


class _Lexicon:
    """Voikko look-ups (name classes of a word), cached and serialised across threads."""

    def __init__(self) -> None:
        self._voikko: Any = None
        self._lock = threading.Lock()

    def classes(self, word: str) -> frozenset[str]:
        """Voikko word classes of a surface form ("etunimi", "nimisana", ...); empty if unknown."""
        return self._classes(word)

    @lru_cache(maxsize=65536)  # noqa: B019 - one lexicon per process; the cache is the point
    def _classes(self, word: str) -> frozenset[str]:
        with self._lock:
            if self._voikko is None:
                import libvoikko

                self._voikko = libvoikko.Voikko("fi")
            analyses = self._voikko.analyze(word)
        return frozenset(a.get("CLASS", "") for a in analyses)


_LEXICON = _Lexicon()


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    # The English lemmatizer's word lists: a capitalised English word that Voikko happens to
    # know as a first name ("Will", "Rose") is not a name on that evidence alone.
    nlp = load_nlp("en")
    lemmatizer: Any = nlp.get_pipe("lemmatizer")
    table = lemmatizer.lookups.get_table("lemma_index", {})
    words: set[str] = set()
    for entries in table.values():
        words.update(w for w in entries if w.isalpha())
    return frozenset(words)


def _sentence_initial(token: Token) -> bool:
    i = token.i
    while i > 0:
        prev = token.doc[i - 1]
        if prev.is_space:
            if "\n" in prev.text:
                return True
            i -= 1
            continue
        return prev.text in _SENTENCE_END or prev.text in {"-", "–", "•", "*", '"', "”", "("}
    return True


def _is_capitalised(text: str) -> bool:
    return text[:1].isupper() and not text.isupper()


def _name_kind(word: str, lang: str) -> str:
    """How the lexicons see a word: name, ambiguous, common, proper, english or unknown."""
    classes = _LEXICON.classes(word)
    if not classes:
        return "english" if lang == "en" and word.lower() in _english_words() else "unknown"
    names = classes & _NAME_CLASSES
    others = classes - _PROPER_CLASSES
    if lang == "en" and word.lower() in _english_words():
        others = others | {"english"}
    if names and not others:
        return "name"
    if names:
        return "ambiguous"
    if others:
        return "common"
    return "proper"


def _name_spans(doc: Doc, lang: str, taken: list[tuple[int, int]]) -> list[Span]:
    in_ner = {t.i for ent in doc.ents if ent.label_ in _PERSON_LABELS for t in ent}
    markers = [m.span() for m in MARKER.finditer(doc.text)]
    blocked = taken + markers

    def free(start: int, end: int) -> bool:
        return not any(start < b_end and b_start < end for b_start, b_end in blocked)

    # First pass: a verdict per token; "strong" = a name on its own evidence, "weak" = a name
    # only next to a strong one, "hyphen" = check the parts ("Liisa-mummo").
    verdict: dict[int, str] = {}
    for token in doc:
        text = token.text
        if not any(ch.isalpha() for ch in text) or not free(token.idx, token.idx + len(text)):
            continue
        if text.lower() in _TITLES or _compound_modifier(token):
            continue
        v = _verdict(token, _name_kind(text, lang), token.i in in_ner, lang)
        if v:
            verdict[token.i] = v

    # Second pass: weak tokens count when next to a strong one ("Juhani Kivelle").
    names: list[Span] = []
    for i, v in verdict.items():
        if v == "weak" and not any(verdict.get(j) == "strong" for j in (i - 1, i + 1)):
            continue
        token = doc[i]
        if v == "hyphen":
            # "Liisa-mummo", "Erkki-setä": redact the name part only.
            offset = token.idx
            for part in token.text.split("-"):
                if part and _is_capitalised(part) and _name_kind(part, lang) == "name":
                    names.append(Span(offset, offset + len(part), "NAME"))
                offset += len(part) + 1
            continue
        names.append(Span(token.idx, token.idx + len(token.text), "NAME"))
    return names


def _verdict(token: Token, kind: str, ner: bool, lang: str) -> str:
    text = token.text
    if not _is_capitalised(text):
        # Voikko knows lower-cased Finnish names too ("soitin heikille"); English words it
        # does not know, so only Finnish notes use this.
        # Short lower-case forms are mostly colloquial words ("kait", "toni") in practice.
        lower_name = lang != "en" and text.islower() and len(text) >= 5 and kind == "name"
        return "strong" if lower_name else ""
    if kind == "name":
        return "strong"
    if "-" in text.strip("-"):
        return "hyphen"
    initial = _sentence_initial(token)
    if kind == "ambiguous":
        # "Mäki", "Toivo", "Laine": a name mid-sentence or when NER agrees. In English notes
        # "ambiguous" means a Finnish name that is also an English word ("Visa", "Will"),
        # and capitals mid-sentence are common ("Google Pay"): NER must agree.
        return "strong" if ner or (not initial and lang != "en") else ""
    if kind == "english":
        # An English dictionary word ("Grace", "Lee", "Postcode"): NER must say PERSON, and a
        # capital at the start of a sentence proves nothing.
        return "strong" if ner and not initial else ("weak" if ner else "")
    if kind in {"unknown", "proper"}:
        # Foreign names ("Nowak") and surnames Voikko files as places ("Nieminen").
        if ner and (not initial or lang == "en"):
            return "strong"
        if _after_honorific(token):
            return "strong"
        return "weak" if ner else ""
    # Common words ("Kivi", "Koivikko") only when NER says PERSON and a name stands next.
    return "weak" if ner else ""


def _compound_modifier(token: Token) -> bool:
    # "Valio Eila -maito": a word before a detached "-maito" is part of a product name.
    doc = token.doc
    return (
        token.i + 2 < len(doc)
        and doc[token.i + 1].text in {"-", "–"}
        and doc[token.i + 1].whitespace_ == ""
        and doc[token.i + 2].is_lower
    )


def _after_honorific(token: Token) -> bool:
    return token.i > 0 and token.doc[token.i - 1].lower_.rstrip(".") in _HONORIFICS


# --- applying --------------------------------------------------------------------------------


def resolve(text: str, spans: Sequence[Span]) -> list[Span]:
    """Non-overlapping spans in text order; adjacent names merge ("Matti Korhonen" -> one)."""
    chosen: list[Span] = []
    # Where two overlap, validated structured kinds beat patterns beat the name model.
    for span in sorted(spans, key=lambda s: (_PRIORITY[s.kind], s.start, -(s.end - s.start))):
        if all(span.end <= c.start or c.end <= span.start for c in chosen):
            chosen.append(span)
    chosen.sort(key=lambda s: s.start)
    merged: list[Span] = []
    for span in chosen:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.kind == span.kind == "NAME"
            and text[last.end : span.start].strip() == ""
        ):
            merged[-1] = Span(last.start, span.end, "NAME")
        else:
            merged.append(span)
    return merged


def apply(text: str, spans: Sequence[Span], lang: str) -> Redaction:
    """Replace spans with markers in the note's language ("en" markers for en, else Finnish)."""
    markers = MARKERS["en" if lang == "en" else "fi"]
    out: list[str] = []
    found: Counter[str] = Counter()
    pos = 0
    for span in resolve(text, spans):
        out.append(text[pos : span.start])
        out.append(markers[span.kind])
        found[span.kind] += 1
        pos = span.end
    out.append(text[pos:])
    return Redaction(text="".join(out), found=dict(found))


class Redactor:
    """Finds and replaces personal data; spaCy pipelines are loaded once per process."""

    def __init__(self, names: bool = True) -> None:
        """Set names=False for a pattern-only redactor that never loads spaCy."""
        self.names = names

    def redact(self, text: str, lang: str | None = None) -> Redaction:
        """Redact one note; detect its language when lang is None."""
        return self.redact_many([text], None if lang is None else [lang])[0]

    def redact_many(
        self, texts: Sequence[str], langs: Sequence[str] | None = None
    ) -> list[Redaction]:
        """Redact notes in order, running NER in one nlp.pipe batch per language."""
        codes = [detect(t).code for t in texts] if langs is None else list(langs)
        found = self.find(texts, codes)
        return [apply(t, s, code) for t, s, code in zip(texts, found, codes, strict=True)]

    def find(self, texts: Sequence[str], langs: Sequence[str]) -> list[list[Span]]:
        """Personal-data spans of each note (resolved: no overlaps, names merged)."""
        codes = list(langs)
        if len(codes) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(codes)} language codes")
        structured = [find_structured(t) for t in texts]
        spans: list[list[Span]] = [list(s) for s in structured]
        if self.names:
            groups: dict[str, list[int]] = {}
            for i, code in enumerate(codes):
                groups.setdefault(pipeline_lang(code), []).append(i)
            for plang, idxs in groups.items():
                for i, doc in zip(idxs, self._ner_docs(plang, [texts[i] for i in idxs]), strict=True):
                    taken = [(s.start, s.end) for s in structured[i]]
                    spans[i] += _name_spans(doc, plang, taken)
        return [resolve(t, s) for t, s in zip(texts, spans, strict=True)]

    def redact_lines(self, lines: Iterable[str]) -> Iterator[str]:
        """Redact lines in order (line endings stripped), batching through nlp.pipe."""
        it = iter(lines)
        while batch := [line.rstrip("\r\n") for line in islice(it, BATCH_SIZE)]:
            for result in self.redact_many(batch):
                yield result.text

    @staticmethod
    def _ner_docs(lang: str, texts: list[str]) -> Iterator[Doc]:
        nlp = load_nlp(lang)
        # Only NER is needed (both pipelines' NER has its own tok2vec): skip the rest for speed.
        disable = [name for name in nlp.pipe_names if name != "ner"]
        return nlp.pipe([spacy_text(t) for t in texts], disable=disable, batch_size=64)
