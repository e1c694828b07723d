"""Personal-data redaction: e-mail, phone, hetu, IBAN, street address, car plate and names.

The text is first normalised (Unicode dashes, spaces and digit forms such as full-width digits
become ASCII; zero-width characters go) with a map back to the original offsets, so that
"131052–308T" or "040\u00a0123\u00a04567" match the same patterns as their plain forms.
Structured kinds are found with validated patterns, which also take the forms used to slip data
past them ("info(at)firma.fi", "matti . virtanen @ gmail . com", "0 4 0 - 1 2 3", a number
wrapped over two lines or spelt in words, "13.10.52-308T", a street in lower case after "asun" or
"lives at", "O4O 123 4567", "rekkari abc-123"); names by spaCy NER, the Voikko
lexicon, an English given-name list and context, in capitals too (redact_names.py). Found spans
are replaced by typed markers in the note's language; a capitalised word that looks like a name
but was left in place marks the result uncertain.
Nothing here logs or keeps the original text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING

from hiljainen.pipeline.language import detect
from hiljainen.pipeline.linguistics import load_nlp, pipeline_lang, spacy_text
from hiljainen.pipeline.redact_names import case_view, name_spans

if TYPE_CHECKING:
    from spacy.tokens import Doc

KINDS = ("NAME", "PHONE", "EMAIL", "HETU", "IBAN", "ADDRESS", "PLATE")
MARKERS = {
    "fi": {
        "NAME": "[NIMI]",
        "PHONE": "[PUHELIN]",
        "EMAIL": "[SÄHKÖPOSTI]",
        "HETU": "[HETU]",
        "IBAN": "[IBAN]",
        "ADDRESS": "[OSOITE]",
        "PLATE": "[REKISTERINUMERO]",
    },
    "en": {
        "NAME": "[NAME]",
        "PHONE": "[PHONE]",
        "EMAIL": "[EMAIL]",
        "HETU": "[ID]",
        "IBAN": "[IBAN]",
        "ADDRESS": "[ADDRESS]",
        "PLATE": "[PLATE]",
    },
}
MARKER = re.compile(r"\[[A-ZÄÖÅ_]+\]")
BATCH_SIZE = 256

# Priority when spans overlap: validated structured kinds beat patterns beat the name model.
_PRIORITY = {"EMAIL": 0, "HETU": 1, "IBAN": 2, "PHONE": 3, "PLATE": 4, "ADDRESS": 5, "NAME": 6}


@dataclass(frozen=True)
class Span:
    """A piece of personal data by character offsets and kind."""

    start: int
    end: int
    kind: str


@dataclass
class Redaction:
    """A redacted text, how many items of each kind were replaced, and whether to trust it.

    uncertain: the text still holds a word that looks like a name (a capitalised word no lexicon
    knows, mid-sentence) that was not replaced; callers keep such a note out of suggestions.
    """

    text: str
    found: dict[str, int] = field(default_factory=dict)
    uncertain: bool = False


# --- normalisation ---------------------------------------------------------------------------

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d"
_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"


@lru_cache(maxsize=4096)
def _normal_char(ch: str) -> str:
    if ch in _DASHES:
        return "-"
    if ch in _SPACES:
        return " "
    if ch in _INVISIBLE:
        return ""
    if unicodedata.decimal(ch, None) is not None:
        return str(unicodedata.decimal(ch))  # full-width, Arabic-Indic, ... digits
    folded = unicodedata.normalize("NFKC", ch)
    # Full-width letters and signs ("Ｔ", "＠"), ligatures: only when they become plain ASCII.
    return folded if folded.isascii() and folded.isprintable() else ch


def normalise(text: str) -> tuple[str, list[int]]:
    """Text with dashes, spaces and digit forms made ASCII, and each character's original offset.

    The offsets list has one entry per normalised character plus one for the end, so a span
    (start, end) of the normalised text is (offsets[start], offsets[end - 1] + 1) in text.
    """
    if text.isascii():
        return text, list(range(len(text) + 1))
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        n = ch if ch.isascii() else _normal_char(ch)
        out.append(n)
        offsets.extend([i] * len(n))
    offsets.append(len(text))
    return "".join(out), offsets


def _map_back(spans: Iterable[Span], offsets: list[int]) -> list[Span]:
    return [Span(offsets[s.start], offsets[s.end - 1] + 1, s.kind) for s in spans if s.end > s.start]


# --- structured kinds ------------------------------------------------------------------------

# Spaces around the at-sign ("matti.virtanen @ example.fi") are an evasion, not a typo to skip.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+ {0,2}@ {0,2}[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\b")

# hetu: DDMMYY, century sign (2023 reform added A-F for 2000s and Y X W V U for 1900s),
# individual number, check character = CHECK[int(DDMMYYNNN) % 31].
_HETU = re.compile(r"(?<![\w+-])(\d{6})([-+ABCDEFYXWVU])(\d{3})([0-9A-Y])(?![\w+-])", re.I)
# The same as people type it: spaced ("13 10 52-308T", "131052 - 308T", "131052 308T", digit by
# digit "0 1 0 1 9 0 - 1 2 3 M"), the date part as a date ("13.10.52-308T", "1.3.1985 123Y") or
# with no sign at all ("131052308T").
_HETU_LOOSE = re.compile(
    r"(?<![\w+-])(?<!\d[.,])(?:(\d ?\d) ?(\d ?\d) ?(\d ?\d)|(\d\d?)\. ?(\d\d?)\. ?((?:18|19|20)?\d\d))"
    r"( ?[-+ABCDEFYXWVU] ?| |)(\d ?\d ?\d ?)([0-9A-Y])(?![\w+-])",
    re.I,
)
_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY = {"+": 1800, **dict.fromkeys("-YXWVU", 1900), **dict.fromkeys("ABCDEF", 2000)}

# IBAN: country, check digits, then groups of up to four, printed with or without spaces.
_IBAN = re.compile(r"(?<![\w])([A-Z]{2} ?\d{2}(?:(?: {1,2}|-)?[A-Z0-9]){11,30})(?![\w])", re.I)
_IBAN_LENGTHS = {
    "FI": 18, "SE": 24, "EE": 20, "NO": 15, "DK": 18, "DE": 22, "GB": 22, "FR": 27, "NL": 18,
    "ES": 24, "IT": 27, "BE": 16, "AT": 20, "CH": 21, "PL": 28, "LT": 20, "LV": 21, "IE": 22,
    "PT": 25, "AX": 18,
}  # fmt: skip

# Phones: international (+358 / 00358 / +44 ...), domestic with a leading 0 (040 123 4567,
# 09-123 4567, (09) 8765 432, 07700 900123) and North American (555) 123-4567 / 555-123-4567.
# The look-arounds keep parts of longer codes (property ids 091-012-0034-0005, order numbers)
# from matching; digit counts are checked afterwards.
# Also: Finnish and British numbers written without the plus (358401234567, 358 40 123 4567,
# 447700900123), dots between groups of three or four (040.123.4567; dates such as 06.12.2026 have
# a group of two) and a slash after the area code (040/1234567).
# Between any two digits of the international and the plain domestic forms there may be spaces or
# a dash with spaces ("040 - 123 4567", "0 4 0 1 2 3 4 5 6 7", "+358  40  123  4567"): one digit
# per repetition, so a run of digits splits only one way and the bounded repeat stays linear.
# Hours and dates ("08 - 16 17 - 20", 01-02-2024: two digits, a dash, one or two) and business
# ids (Y-tunnus 0112038-9) take the same shape and are left out.
_GAP = r"(?: {0,2}- {0,2}| {1,3})"
_IGAP = r"(?: {0,2}[-()] {0,2}| {1,3})"  # "+358 (0) 40", "+358 (40) 123 4567"
_PHONE = re.compile(
    r"(?<![\w+\-/.,])(?:"
    rf"(?P<intl>(?:\+ ?|00)[1-9](?:{_IGAP}?\d){{5,14}}"
    r"|(?:358|44)[1-9]\d{8,9}|358(?: \d{1,4}){3,4})"
    r"|(?P<dom>\(0\d{1,4}\)[ -]?\d{2,5}(?:[ -]?\d{2,5}){0,2}"
    rf"|(?!0\d ?- ?\d\d?(?!\d)|\d{{7}}-\d(?!\d))0{_GAP}?[1-9](?:{_GAP}?\d){{6,10}}"
    r"|0[1-9]\d{1,3}(?:\.\d{3,4}){2}|0[1-9]\d{1,3}/\d{5,8})"
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
# House number, then staircase/flat ("B 34", "b 9", "C", "as. 3"), then postcode and town.
_HOUSE = (
    r" \d{1,4}(?:-\d{1,4})?(?P<unit>[a-zA-Z]?(?![\w]|-[^\W\d])"
    r"(?: ?(?:(?:as\.?|asunto|bst\.?) ?\d{1,3}|[A-Za-z](?: ?\d{1,3})?)(?![\w]))?"
    rf"(?:,? \d{{5}} [{_UP}][{_LO}]+)?)"
    # "Rantatiellä 5 autoa" is a count, not an address
    r"(?! ?(?:%|€|astetta|euroa|eur|kg|km|min|kertaa|vuotta|henkeä|kpl|autoa)\b)"
)
_FI_ADDRESS = re.compile(
    # "Hervannan valtaväylä" | optional direction word + "Mannerheimintie" / "Hämeenkadulla"
    rf"(?<![\w])(?:[{_UP}][{_LO}]+ [{_LO}]{_STREET_TAIL}"
    rf"|(?:(?:Itäinen|Läntinen|Pohjoinen|Eteläinen|Vanha|Uusi|Iso|Pikku|Pieni) )?"
    rf"[{_UP}]{_STREET_TAIL}){_HOUSE}"
)
# In lower case ("asun mannerheimintie 12 b 5") a street word and a number are as often a road
# ("valtatie 4") or a count ("takapihalla 3 tuntia"): such a match counts only with a staircase,
# flat or postcode after it, or after a word about living or an address a few words before it.
# Not after a hyphen: every letter after one in "a-a-a-..." would start a scan to the end.
_FI_ADDRESS_ANY_CASE = re.compile(rf"(?<![\w-])[{_LO}]{_STREET_TAIL}{_HOUSE}", re.I)
_ADDRESS_CUE = re.compile(
    r"\b(?:asu(?:u|n|t|i|mme|tte|vat|nut|neet|imme|ivat|in\w*|va\w*)|asun[nt]o\w*|\w*osoit(?:e|tee)\w*"
    r"|os\.|muut(?:t\w+|in|an|imme)|address|liv(?:e|es|ed|ing)|mov(?:e|es|ed|ing))\W+(?:\w+\W+){0,3}$",
    re.I,
)
_EN_STREET_WORDS = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Court|Ct|Way|Crescent|Cres|"
    r"Place|Pl|Terrace|Gardens|Grove|Square|Sq|Boulevard|Blvd|Row|Mews|Hill|Walk|Parade)\b"
)
_EN_ADDRESS = re.compile(
    r"(?<![\w])(?:(?:Flat|Apt\.?|Apartment|Unit|Suite) \d{1,4}[A-Z]?,? )?"
    rf"\d{{1,5}}[A-Z]?,? (?:[A-Z][\w']+ ){{1,3}}{_EN_STREET_WORDS}"
)
# In lower case ("she lives at 12 baker street", "14 elm road flat 3") the same shape is as
# often a distance or a count ("lives 5 minutes walk", "2 doors down the road"): it counts only
# with a flat before or after it or a word about living, moving or an address a few words before
# it, and with no such word between the number and the street word.
_EN_UNIT = r"(?:flat|apt\.?|apartment|unit|suite) \d{1,4}[a-z]?"
_EN_ADDRESS_ANY_CASE = re.compile(
    rf"(?<![\w])(?:{_EN_UNIT},? )?\d{{1,5}}[a-z]?,? (?P<name>(?:[a-z][\w']+ ){{1,3}})"
    rf"{_EN_STREET_WORDS}(?P<unit>,? {_EN_UNIT}(?![\w]))?",
    re.I,
)
_NOT_STREET_NAMES = frozenset(
    "the a an of on in at to up down and or by from each every per this that my her his their "
    "our your its minutes minute mins min hours hour hrs hr secs sec yrs yr miles mile metres meters "
    "yards km doors houses steps stops blocks times days weeks years people".split()
)


# Obfuscated e-mail: "info(at)firma.fi", "liisa.k [at] luukku.com", "matti piste virtanen at
# gmail", "mary dot jones at gmail dot com", "matti . virtanen @ gmail . com", "miukumauku" (the
# Finnish nickname of the at-sign). A bare " at " needs a domain that ends in a known top-level
# domain or is a known mail provider, so that "I met her at home" stays. A dot spaced on both
# sides is a separator unless a word follows that ends sentences as often ("kahvila . se oli").
_AT = (
    r"(?:\s?[(\[{<]\s?(?:at|a|ät|æt)\s?[)\]}>]\s?|\s{0,2}@\s{0,2}"
    r"|\s(?:at|ät|miukumauku|miuku-mauku|kissanhäntä)\s)"
)
_DOT = (
    r"(?:\.| {1,2}\. {1,2}(?!(?:se|no|it|es|de|info)\b)|\s(?:dot|piste|pist)\s"
    r"|\s?[(\[{<]\s?(?:dot|piste)\s?[)\]}>]\s?)"
)
_TLD = r"(?:fi|com|net|org|uk|se|de|ee|eu|info|edu|gov|nl|no|dk|fr|es|it|pl|ax|io)"
# Bare after " at " ("matti at gmail"); "live" and "outlook" are words too ("sang at live events"):
# they count with their domain ("at live dot com").
_PROVIDERS = r"(?:gmail|hotmail|yahoo|luukku|kolumbus|elisanet|suomi24|icloud|msn|protonmail)"
# At most six parts each side: every word of "a dot a dot ..." may start a match, and an
# unbounded run from each would take quadratic time.
_OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.+@-])[\w+-]+(?:{_DOT}[\w+-]+){{0,5}}{_AT}"  # "+" too: a run of them tried every start
    rf"(?:[\w-]+(?:{_DOT}[\w-]+){{0,5}}{_DOT}{_TLD}|{_PROVIDERS})(?![\w@-])",
    re.I,
)

# Car plates: Finnish ABC-123 / AB-12 (capitals, a hyphen, a number without a leading zero) and
# British AB12 CDE. Codes that look the same are named here ("COVID-19", "ISO-9001").
_FI_PLATE = re.compile(r"(?<![\w-])([A-ZÅÄÖ]{2,3})-[1-9]\d{0,2}(?![\w-]|[.,]\d)")
_UK_PLATE = re.compile(r"(?<![\w-])[A-Z]{2}\d{2} ?[A-Z]{3}(?![\w-])")
_NOT_PLATES = frozenset(
    "COVID SARS MERS ISO SFS EN IEC HUS EU EY CE GDPR ALV YT HPV HIV TV DVD CD USB MP WC PDF "
    "PS LED AA AAA SOTE KELA TYKS TAYS KYS OYS HKL HSL VR SAK STTK".split()
)


# In lower case ("abc-123", "ab12 cde") the same shapes are as often order codes and room
# numbers: a plate only a few words after a word for one ("rekkari", "rekisterinumero", "kilpi",
# "plate", "reg").
_FI_PLATE_ANY_CASE = re.compile(r"(?<![\w-])([a-zåäö]{2,3})-[1-9]\d{0,2}(?![\w-]|[.,]\d)", re.I)
_UK_PLATE_ANY_CASE = re.compile(r"(?<![\w-])[a-z]{2}\d{2} ?[a-z]{3}(?![\w-])", re.I)
_PLATE_WORD = r"\b(?:rekkari\w*|rekisteri\w*|kilpi|kilve\w*|plates?|reg|registration)"
_PLATE_CUE = re.compile(rf"{_PLATE_WORD}\W+(?:\w+\W+){{0,2}}$", re.I)
_HAS_PLATE_WORD = re.compile(_PLATE_WORD, re.I)


def _plate_spans(text: str) -> Iterator[Span]:
    for m in _FI_PLATE.finditer(text):
        if m.group(1) not in _NOT_PLATES:
            yield Span(m.start(), m.end(), "PLATE")
    for m in _UK_PLATE.finditer(text):
        yield Span(m.start(), m.end(), "PLATE")
    if not _HAS_PLATE_WORD.search(text):
        return
    for pattern in (_FI_PLATE_ANY_CASE, _UK_PLATE_ANY_CASE):
        for m in pattern.finditer(text):
            known = pattern is _FI_PLATE_ANY_CASE and m.group(1).upper() in _NOT_PLATES
            if not known and _PLATE_CUE.search(text, max(0, m.start() - 40), m.start()):
                yield Span(m.start(), m.end(), "PLATE")


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


def _hetu_spans(text: str) -> Iterator[Span]:
    for m in _HETU_LOOSE.finditer(text):
        dotted = m.group(4) is not None
        day, month, year = m.group(4, 5, 6) if dotted else m.group(1, 2, 3)
        sign, individual, check = m.group(7).strip(), m.group(8).replace(" ", ""), m.group(9)
        # Without a sign a date followed by a number is likelier than a hetu, unless the check
        # character is a letter; six digits and a space ("131052 3089") keep their old reading.
        if not sign and check.isdigit() and (dotted or m.group(7) != " "):
            continue
        # Digit by digit, ten digits are a phone number ("0 4 0 1 2 3 4 5 6 7") unless a sign or
        # a letter says hetu.
        spaced = " " in day + month + year
        if spaced and not sign and check.isdigit():
            continue
        day, month, year = day.replace(" ", ""), month.replace(" ", ""), year.replace(" ", "")
        signs = sign or "-A"  # a missing sign stands for the hyphen (or the 2000s' A)
        if len(year) == 4:  # the full year decides the century whatever sign was typed
            signs = {"18": "+", "19": "-", "20": "A"}[year[:2]]
        birth = f"{int(day):02}{int(month):02}{year[-2:]}"
        if any(valid_hetu(birth + s + individual + check) for s in signs):
            yield Span(m.start(), m.end(), "HETU")


def valid_iban(code: str) -> bool:
    """True if code (spaces allowed) passes the IBAN mod-97 check and known country length."""
    compact = code.replace(" ", "").replace("-", "").upper()
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
        chars = [(i, ch) for i, ch in enumerate(m.group(1), start=m.start(1)) if ch not in " -"]
        lengths = sorted(range(15, len(chars) + 1), reverse=True)
        known = _IBAN_LENGTHS.get(m.group(1)[:2].upper())
        if known is not None:
            lengths = [known] if known <= len(chars) else []
        else:
            # A rarer country's IBAN only in capitals: with any length allowed, words after a
            # code pass mod 97 by chance ("is 447700900123 if you", "YX68 KLM blocks the gate").
            lengths = [n for n in lengths if not any(ch.islower() for _, ch in chars[:n])]
        for n in lengths:
            candidate = "".join(ch for _, ch in chars[:n])
            end = chars[n - 1][0] + 1
            if (end == len(text) or not text[end].isalnum()) and valid_iban(candidate):
                yield Span(m.start(1), end, "IBAN")
                pos = end
                break


_BREAKS_AS_SPACES = str.maketrans("\t\n\r\v\f", "     ")

# A run of digits and letters O ("O4O", "o40"): the letter stands for a zero in a phone number.
_O_DIGITS = re.compile(r"(?<!\w)[0-9Oo]+(?!\w)")
_O_BY_DIGIT = re.compile(r"[Oo]\d|\d[Oo]")


def _o_as_zero(m: re.Match[str]) -> str:
    run = m.group(0)
    return run.replace("O", "0").replace("o", "0") if any(ch.isdigit() for ch in run) else run


def _phone_spans(text: str) -> Iterator[Span]:
    # Matched on a copy with each such O as 0 and line breaks and tabs as spaces ("040\n123 4567"
    # is a number wrapped at the end of a line): the same length, so the offsets hold.
    text = _O_DIGITS.sub(_o_as_zero, text) if _O_BY_DIGIT.search(text) else text
    text = text.translate(_BREAKS_AS_SPACES)
    for m in _PHONE.finditer(text):
        # A number right after the phone joins the match ("040 123 4567 100 kertaa") and breaks its
        # digit count: then try the match without its trailing space-separated groups.
        cuts = (i for i in range(m.end() - 1, m.start(), -1) if text[i] == " ")
        for end in (m.end(), *cuts):
            cut = m if end == m.end() else _PHONE.fullmatch(text, m.start(), end)
            if cut is not None and _phone_digits_ok(cut):
                yield Span(m.start(), end, "PHONE")
                break


# A number spelt in words, digit by digit ("nolla neljä nolla yksi kaksi ...", "oh seven seven
# ..."), possibly mixed with digits; a comma only before a word ("nolla neljä nolla, yksi kaksi"),
# so that a list of figures stays. Only a run that starts with a zero or a plus and spells 8 to 15
# digits counts: counts and sums ("kaksi kertaa", "one two three") never start that way, nor
# does a sigh ("Oh, one two ...").
_DIGIT_WORDS = {
    **dict.fromkeys(("nolla", "zero", "oh"), "0"),
    **dict.fromkeys(("yksi", "yks", "one"), "1"),
    **dict.fromkeys(("kaksi", "kaks", "two"), "2"),
    **dict.fromkeys(("kolme", "three"), "3"),
    **dict.fromkeys(("neljä", "nelj", "four"), "4"),
    **dict.fromkeys(("viisi", "viis", "five"), "5"),
    **dict.fromkeys(("kuusi", "kuus", "six"), "6"),
    **dict.fromkeys(("seitsemän", "seittemän", "seiska", "seven"), "7"),
    **dict.fromkeys(("kahdeksan", "kaheksan", "kasi", "eight"), "8"),
    **dict.fromkeys(("yhdeksän", "yheksän", "ysi", "nine"), "9"),
}
_DIGIT_TOKEN = rf"(?:{'|'.join(_DIGIT_WORDS)}|\d{{1,10}})"
_SPELT_PHONE = re.compile(
    rf"(?<![\w+\-/.,])(?:(?:\+ ?|plus )(?=\S)|(?=nolla|zero|oh(?!,)|0)){_DIGIT_TOKEN}"
    rf"(?:(?:\s{{1,3}}|\s?-\s?|,\s?(?=[^\W\d])){_DIGIT_TOKEN}){{2,14}}(?![\w\-/]|[.,]\d)",
    re.I,
)
_DIGIT_TOKENS = re.compile(_DIGIT_TOKEN, re.I)


def _spelt_phone_spans(text: str) -> Iterator[Span]:
    for m in _SPELT_PHONE.finditer(text):
        tokens = _DIGIT_TOKENS.findall(m.group(0))
        digits = "".join(_DIGIT_WORDS.get(t.lower(), t) for t in tokens)
        # all digits: the plain patterns decide
        if not all(t.isdigit() for t in tokens) and 8 <= len(digits) <= 15:
            yield Span(m.start(), m.end(), "PHONE")


def _phone_digits_ok(m: re.Match[str]) -> bool:
    digits = sum(ch.isdigit() for ch in m.group(0))
    if m.group("intl"):
        return 8 <= digits <= 15
    if m.group("dom"):
        return 8 <= digits <= 12
    return digits == 10


def _find_structured(text: str) -> list[Span]:
    """Spans in an already normalised text."""
    spans = [Span(m.start(), m.end(), "EMAIL") for m in _EMAIL.finditer(text)]
    spans += [Span(m.start(), m.end(), "EMAIL") for m in _OBFUSCATED_EMAIL.finditer(text)]
    spans += _hetu_spans(text)
    spans += _iban_spans(text)
    spans += _phone_spans(text)
    spans += _spelt_phone_spans(text)
    spans += _plate_spans(text)
    for pattern in (_FI_ADDRESS, _EN_ADDRESS):
        spans += [Span(m.start(), m.end(), "ADDRESS") for m in pattern.finditer(text)]
    spans += [
        Span(m.start(), m.end(), "ADDRESS")
        for m in _FI_ADDRESS_ANY_CASE.finditer(text)
        if m.group("unit") or _ADDRESS_CUE.search(text, max(0, m.start() - 60), m.start())
    ]
    spans += [
        Span(m.start(), m.end(), "ADDRESS")
        for m in _EN_ADDRESS_ANY_CASE.finditer(text)
        if not _NOT_STREET_NAMES.intersection(m.group("name").lower().split())
        and (
            m.group("unit")
            or m.group(0)[0].isalpha()  # "flat 3, 14 elm road"
            or _ADDRESS_CUE.search(text, max(0, m.start() - 60), m.start())
        )
    ]
    return spans


def find_structured(text: str) -> list[Span]:
    """Spans of e-mails, hetus, IBANs, phones, car plates and street addresses (no NER)."""
    normal, offsets = normalise(text)
    return _map_back(_find_structured(normal), offsets)


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


def apply(text: str, spans: Sequence[Span], lang: str, uncertain: bool = False) -> Redaction:
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
    return Redaction(text="".join(out), found=dict(found), uncertain=uncertain)


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
        found = self.find_checked(texts, codes)
        return [
            apply(t, spans, code, uncertain)
            for t, (spans, uncertain), code in zip(texts, found, codes, strict=True)
        ]

    def find(self, texts: Sequence[str], langs: Sequence[str]) -> list[list[Span]]:
        """Personal-data spans of each note (resolved: no overlaps, names merged)."""
        return [spans for spans, _ in self.find_checked(texts, langs)]

    def find_checked(
        self, texts: Sequence[str], langs: Sequence[str]
    ) -> list[tuple[list[Span], bool]]:
        """Spans of each note (offsets in the original text) and whether it is uncertain."""
        codes = list(langs)
        if len(codes) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(codes)} language codes")
        normal = [normalise(t) for t in texts]
        structured = [_find_structured(n) for n, _ in normal]
        spans: list[list[Span]] = [list(s) for s in structured]
        uncertain = [False] * len(texts)
        if self.names:
            groups: dict[str, list[int]] = {}
            for i, code in enumerate(codes):
                groups.setdefault(pipeline_lang(code), []).append(i)
            for plang, idxs in groups.items():
                # spaCy reads words in capitals recased ("PIRJO" -> "Pirjo"): one pass either way.
                views = [case_view(normal[i][0], plang) for i in idxs]
                docs = self._ner_docs(plang, [view for view, _ in views])
                for i, doc, (_, caps) in zip(idxs, docs, views, strict=True):
                    taken = [(s.start, s.end) for s in structured[i]]
                    names, uncertain[i] = name_spans(doc, plang, taken, caps)
                    spans[i] += [Span(start, end, "NAME") for start, end in names]
        return [
            (resolve(t, _map_back(s, offsets)), u)
            for t, s, (_, offsets), u in zip(texts, spans, normal, uncertain, strict=True)
        ]

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
