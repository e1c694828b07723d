"""Personal-data redaction: e-mail, phone, hetu, IBAN, street address, car plate and names.

The text is first normalised (Unicode dashes, spaces and digit forms such as full-width digits
become ASCII; zero-width characters go) with a map back to the original offsets, so that
"131052–308T" or "040\u00a0123\u00a04567" match the same patterns as their plain forms.
Structured kinds are found with validated patterns (obfuscated e-mail such as
"info(at)firma.fi" included); names with spaCy NER combined with the Voikko morphological
lexicon (first names and surnames, inflected forms included, at any position and in lower case),
a curated list of English given names (given_names.py), capitalisation and context (titles,
greetings, "told mark", a known first name next to an unknown word; a capitalised word no
lexicon knows counts as a name). Found spans are replaced by typed markers in the note's
language; a capitalised word that looks like a name but was left in place marks the result
uncertain. Nothing here logs or keeps the original text.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING, Any

from hiljainen.pipeline.given_names import (
    ADDRESSING,
    CONJUNCTIONS,
    EN_GIVEN_NAMES,
    EN_NAME_BEFORE,
    EN_SURNAMES,
    EN_TALKED,
    EN_WORD_NAMES,
    FI_POSSESSIVES,
    INTENSIFIERS,
)
from hiljainen.pipeline.language import detect
from hiljainen.pipeline.linguistics import load_nlp, pipeline_lang, spacy_text

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

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

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\b")

# hetu: DDMMYY, century sign (2023 reform added A-F for 2000s and Y X W V U for 1900s),
# individual number, check character = CHECK[int(DDMMYYNNN) % 31].
_HETU = re.compile(r"(?<![\w+-])(\d{6})([-+ABCDEFYXWVU])(\d{3})([0-9A-Y])(?![\w+-])", re.I)
# The same with the spaces people type inside it ("13 10 52-308T", "131052 - 308T", "131052 308T").
_HETU_SPACED = re.compile(
    r"(?<![\w+-])(\d\d ?\d\d ?\d\d)( ?[-+ABCDEFYXWVU] ?| )(\d ?\d ?\d ?)([0-9A-Y])(?![\w+-])", re.I
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
_PHONE = re.compile(
    r"(?<![\w+\-/.,])(?:"
    r"(?P<intl>(?:\+|00)[1-9]\d{0,2}(?:[ -]?\(0\))?(?:[ -]?\d{1,4}){2,5}"
    r"|(?:358|44)[1-9]\d{8,9}|358(?: \d{1,4}){3,4})"
    r"|(?P<dom>\(0\d{1,4}\)[ -]?\d{2,5}(?:[ -]?\d{2,5}){0,2}|0[1-9]\d{0,3}(?:[ -]?\d{2,5}){1,3}"
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


# Obfuscated e-mail: "info(at)firma.fi", "liisa.k [at] luukku.com", "matti piste virtanen at
# gmail", "mary dot jones at gmail dot com". A bare " at " needs a domain that ends in a known
# top-level domain or is a known mail provider, so that "I met her at home" stays.
_AT = r"(?:\s?[(\[{<]\s?(?:at|a|ät|æt)\s?[)\]}>]\s?|\s(?:at|ät)\s)"
_DOT = r"(?:\.|\s(?:dot|piste|pist)\s|\s?[(\[{]\s?(?:dot|piste)\s?[)\]}]\s?)"
_TLD = r"(?:fi|com|net|org|uk|se|de|ee|eu|info|edu|gov|nl|no|dk|fr|es|it|pl|ax|io)"
_PROVIDERS = r"(?:gmail|hotmail|outlook|yahoo|luukku|kolumbus|elisanet|suomi24|icloud|live|msn|protonmail)"
_OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.@-])[\w+-]+(?:{_DOT}[\w+-]+)*{_AT}"
    rf"(?:[\w-]+(?:{_DOT}[\w-]+)*{_DOT}{_TLD}|{_PROVIDERS})(?![\w@-])",
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


def _plate_spans(text: str) -> Iterator[Span]:
    for m in _FI_PLATE.finditer(text):
        if m.group(1) not in _NOT_PLATES:
            yield Span(m.start(), m.end(), "PLATE")
    for m in _UK_PLATE.finditer(text):
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
    for m in _HETU_SPACED.finditer(text):
        birth, individual = m.group(1).replace(" ", ""), m.group(3).replace(" ", "")
        signs = m.group(2).strip() or "-A"  # a bare space stands for the hyphen (or the 2000s' A)
        if any(valid_hetu(birth + sign + individual + m.group(4)) for sign in signs):
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


def _find_structured(text: str) -> list[Span]:
    """Spans in an already normalised text."""
    spans = [Span(m.start(), m.end(), "EMAIL") for m in _EMAIL.finditer(text)]
    spans += [Span(m.start(), m.end(), "EMAIL") for m in _OBFUSCATED_EMAIL.finditer(text)]
    spans += _hetu_spans(text)
    spans += _iban_spans(text)
    spans += _phone_spans(text)
    spans += _plate_spans(text)
    for pattern in (_FI_ADDRESS, _EN_ADDRESS):
        spans += [Span(m.start(), m.end(), "ADDRESS") for m in pattern.finditer(text)]
    return spans


def find_structured(text: str) -> list[Span]:
    """Spans of e-mails, hetus, IBANs, phones, car plates and street addresses (no NER)."""
    normal, offsets = normalise(text)
    return _map_back(_find_structured(normal), offsets)


# --- names -----------------------------------------------------------------------------------

_PERSON_LABELS = frozenset({"PERSON", "PER"})
_NAME_CLASSES = frozenset({"etunimi", "sukunimi"})
_PROPER_CLASSES = frozenset({"etunimi", "sukunimi", "nimi", "paikannimi"})
# Roles and honorifics that precede names and that NER sometimes pulls into a PERSON span.
_TITLES = frozenset(
    "asukas asiakas hoitaja sairaanhoitaja lähihoitaja omainen omahoitaja kuljettaja huoltomies "
    "isännöitsijä fysioterapeutti keittäjä lääkäri tohtori rouva herra neiti vuokralainen "
    "yhteyshenkilö terveisiä kiitos hei moi siivooja siivoojamme kokki sijainen ohjaaja työntekijä "
    "kotihoitaja hoitajamme kuljettajamme "
    "mr mrs ms miss mx dr nurse sister doctor resident tenant driver carer sir madam dear hi "
    "hello thanks cleaner cook chef manager porter receptionist keyworker".split()
)
_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "nurse", "sister"})
# Words after which a capitalised word no lexicon knows is a name ("asiakas Owusu", "rouva
# Nguyen", "Hoitaja Smithin", "carer Bukola", "my son Tomasz"): titles, roles and kin.
_NAME_CONTEXT = _TITLES | _HONORIFICS | frozenset(
    "asiakkaan asukkaan hoitajan rouvan herran lääkärin kuljettajan naapuri naapurini naapurin "
    "tytär tyttäreni tyttären poika poikani pojan veli veljeni veljen sisko siskoni siskon äiti "
    "äitini isä isäni vaimo vaimoni mies mieheni puoliso puolisoni lapsenlapsi lapsenlapseni "
    "terveisin t ystävällisin "
    "son daughter brother wife husband mother father mum dad grandson granddaughter neighbour "
    "regards ms mrs patient client".split()
)
# "Liisa-mummo", "Erkki-setä": a name joined to a kin or role word; "Aino-jäätelö" is a product.
_KIN_SUFFIXES = frozenset(
    "mummo mummi mummu mamma vaari pappa ukki isoisä isoäiti täti setä eno serkku poika tyttö "
    "vauva veli sisko äiti isä muori ukko hoitaja tyyppi".split()
)
# First names that are everyday words (Voikko also knows them as nouns or adjectives): at the
# start of a sentence or in lower case they are read as words unless NER or context says name.
_WORD_NAMES = frozenset(
    "päivä ilta aamu varma valta rauha lahja unelma ranta hovi asukas sisko saari laina vuori "
    "säde toimi ilmi kukka onni toivo taru kartano virta ilma keto helmi varis veli ruusu kangas "
    "ukko vasara satu meri kilpi autio mäki tuuli lumi suvi ilo into usko lempi armas sulo valo "
    "tähti pilvi kielo orvokki aarre taimi hilla urho oiva jalo kaino tyyne riski linna elo aro "
    "auto heimo heitto murto pippuri suutari vartio mantere kivi koivu laine lahti niemi salo "
    "harju järvi kallio lehto metsä nurmi aalto halla kaste kesä talvi kevät syksy pouta sade "
    "usva halla mainio sointu sävel laulu runo tarina aura ahava tuisku tyyni rusko hiisi "
    "ainoa aino santa mona ale tea ville kai otto pelli liina rinna auri elke vera maila tola "
    "into voitto lyyli aatos aate tahto uljas hellä kerttu kaija".split()
)
_NOUN_CLASSES = frozenset({"nimisana", "nimisana_laatusana"})
_SENTENCE_END = frozenset({".", "!", "?", "…", "\n"})


class _Lexicon:
    """Voikko look-ups (name classes of a word), cached and serialised across threads."""

    def __init__(self) -> None:
        self._voikko: Any = None
        self._lock = threading.Lock()

    def classes(self, word: str) -> frozenset[str]:
        """Voikko word classes of a surface form ("etunimi", "nimisana", ...); empty if unknown."""
        return frozenset(cls for cls, _ in self._analyses(word))

    def analyses(self, word: str) -> frozenset[tuple[str, str]]:
        """(word class, lower-case base form) of each Voikko reading of a surface form."""
        return self._analyses(word)

    @lru_cache(maxsize=65536)  # noqa: B019 - one lexicon per process; the cache is the point
    def _analyses(self, word: str) -> frozenset[tuple[str, str]]:
        with self._lock:
            if self._voikko is None:
                import libvoikko

                self._voikko = libvoikko.Voikko("fi")
            analyses = self._voikko.analyze(word)
        return frozenset((a.get("CLASS", ""), a.get("BASEFORM", "").lower()) for a in analyses)


_LEXICON = _Lexicon()


@lru_cache(maxsize=1)
def _english_lexicon() -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    # The English lemmatizer's word lists, its irregular forms and its suffix rules: a
    # capitalised English word that Voikko happens to know as a first name ("Will", "Rose") is
    # not a name on that evidence alone, and neither is "Deliveries" or "Sundays".
    nlp = load_nlp("en")
    lemmatizer: Any = nlp.get_pipe("lemmatizer")
    words: set[str] = set()
    for entries in lemmatizer.lookups.get_table("lemma_index", {}).values():
        words.update(w for w in entries if w.isalpha())
    for forms in lemmatizer.lookups.get_table("lemma_exc", {}).values():
        words.update(w for w in forms if w.isalpha())
    words.update(nlp.Defaults.stop_words)  # "The", "My": NER sometimes starts a PERSON there
    rules = {
        (old, new)
        for pos_rules in lemmatizer.lookups.get_table("lemma_rules", {}).values()
        for old, new in pos_rules
        if old.isalpha()
    }
    return frozenset(words), tuple(sorted(rules))


@lru_cache(maxsize=65536)
def _english_word(word: str) -> bool:
    """True if the lower-cased word, or the word its English suffix rules give, is English."""
    words, rules = _english_lexicon()
    low = word.lower()
    return low in words or any(
        low.endswith(old) and low[: len(low) - len(old)] + new in words for old, new in rules
    )


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
        return "english" if lang == "en" and _english_word(word) else "unknown"
    names = classes & _NAME_CLASSES
    others = classes - _PROPER_CLASSES
    if lang == "en" and _english_word(word):
        others = others | {"english"}
    if names and not others:
        return "name"
    if "etunimi" in classes and others <= _NOUN_CLASSES:
        # "Matille" (matti, a chess mate), "Jukalle" (jukka, a yucca): the noun reading is rare
        # unless the name is an everyday word ("Onni", "Illalla", "Päivä").
        return "ambiguous" if _word_name(word) else "likely"
    if names:
        return "ambiguous"
    if others:
        return "common"
    return "proper"


def _word_name(word: str) -> bool:
    """True if the word read as a first name is one of the first names that are everyday words.

    The name reading counts, not any reading: "Sannalle" is also the noun "santa" (a sandbank),
    but the name Sanna is no everyday word.
    """
    return any(cls == "etunimi" and base in _WORD_NAMES for cls, base in _LEXICON.analyses(word))


def _name_spans(doc: Doc, lang: str, taken: list[tuple[int, int]]) -> tuple[list[Span], bool]:
    """Name spans of a document, and whether a name-like word was left in place."""
    in_ner = {t.i for ent in doc.ents if ent.label_ in _PERSON_LABELS for t in ent}
    markers = [m.span() for m in MARKER.finditer(doc.text)]
    blocked = taken + markers

    def free(start: int, end: int) -> bool:
        return not any(start < b_end and b_start < end for b_start, b_end in blocked)

    # First pass: a verdict per token; "strong" = a name on its own evidence, "weak" = a name
    # only next to a strong one, "hyphen" = check the parts ("Liisa-mummo").
    verdict: dict[int, str] = {}
    unknown: set[int] = set()  # capitalised words no lexicon knows
    for token in doc:
        text = token.text
        if not any(ch.isalpha() for ch in text) or not free(token.idx, token.idx + len(text)):
            continue
        if text.lower() in _TITLES or _compound_modifier(token):
            continue
        kind = _name_kind(text, lang)
        if kind == "unknown" and _is_capitalised(text) and text.isalpha():
            unknown.add(token.i)
        v = _context_verdict(token, kind, lang) or _verdict(token, kind, token.i in in_ner, lang)
        if v:
            verdict[token.i] = v

    def strong(j: int) -> bool:
        return verdict.get(j) in {"strong", "hyphen"}

    # Second pass: weak tokens count when next to a strong one ("Juhani Kivelle").
    names: list[Span] = []
    uncertain = False
    for i, v in verdict.items():
        token = doc[i]
        # In a Finnish note two capitalised unknown words side by side are a foreign name
        # ("Kwame Owusu odotti").
        pair = lang != "en" and i in unknown and (i - 1 in unknown or i + 1 in unknown)
        # A lower-case word joins a lower-case name only ("matti virtanen", not "illalla Ahmed").
        lower = token.text.islower()
        # Next to a strong name, or joined to one by "ja"/"and" ("Aleksi ja Emmi", "nea ja oona").
        joined = [j for j in (i - 2, i + 2) if 0 <= j < len(doc) and _joins(doc, i, j)]
        near = joined if v == "joined" else [i - 1, i + 1, *joined]
        beside = [j for j in near if strong(j) and (not lower or doc[j].text.islower())]
        if v in {"weak", "unsure", "joined"} and not pair and not beside:
            # A capitalised word no lexicon knows, mid-sentence: maybe a foreign name.
            uncertain = uncertain or v == "unsure"
            continue
        if v == "hyphen":
            # "Liisa-mummo", "Erkki-setä": redact the name part only.
            parts = token.text.split("-")
            if parts[-1].lower() not in _KIN_SUFFIXES:
                continue
            offset = token.idx
            for part in parts:
                if part and _is_capitalised(part) and _name_kind(part, lang) in {"name", "likely"}:
                    names.append(Span(offset, offset + len(part), "NAME"))
                offset += len(part) + 1
            continue
        names.append(Span(token.idx, token.idx + len(token.text), "NAME"))
    return names, uncertain


def _joins(doc: Doc, i: int, j: int) -> bool:
    """True if the word between tokens i and j (two apart) is a conjunction ("ja", "and")."""
    return doc[(i + j) // 2].lower_ in CONJUNCTIONS


def _verdict(token: Token, kind: str, ner: bool, lang: str) -> str:
    """How a word counts as a name on its own (ner: NER says PERSON): "strong", "weak" (only
    next to a strong one), "joined" (only joined to one by "ja"), "hyphen", "unsure" (left, but
    the redaction is uncertain) or ""."""
    text = token.text
    if not _is_capitalised(text):
        if not text.islower():
            return ""
        # Voikko knows lower-cased Finnish names too ("soitin heikille", "matti virtanen").
        # Short lower-case forms are mostly colloquial words ("kait", "toni") in practice, and
        # everyday words that are also names ("aina", "päivä") count only next to a name.
        if kind in {"name", "likely"} and len(text) >= 5:
            return "strong" if lang != "en" or kind == "name" else "weak"
        if kind == "name" and len(text) >= 3 and lang != "en" and _sentence_initial(token):
            return "strong"  # "ari sano", "anu soitti": only a name, opening the sentence
        if kind in {"name", "likely"} and len(text) >= 3:
            return "weak"
        if kind == "ambiguous" and lang != "en" and len(text) >= 4:
            return "weak"
        if lang == "en" and kind == "unknown" and len(text) >= 3 and _after_title(token):
            return "strong"  # "carer nkechi": no English word follows a role word in lower case
        return ""
    if kind == "name" or (kind == "likely" and "-" not in text):
        return "strong"
    if "-" in text.strip("-"):
        return "hyphen"  # "Liisa-mummo"; "Meri-ilma" (sea air) is also read as a name compound
    initial = _sentence_initial(token)
    if kind in {"unknown", "proper"} and _after_title(token):
        return "strong"
    if kind == "ambiguous":
        # "Mäki", "Toivo", "Laine": a name mid-sentence or when NER agrees. In English notes
        # "ambiguous" means a Finnish name that is also an English word ("Visa", "Will"),
        # and capitals mid-sentence are common ("Google Pay"): NER must agree. At the start of
        # a sentence an everyday word ("Onni oli matkassa", "Satu luettiin") needs a name next
        # to it even when NER says PERSON.
        if initial and ner and _word_name(text):
            return "weak"
        if ner or (not initial and lang != "en"):
            return "strong"
        # "Aleksi ja Emmi": joined to a name by "ja" only ("Aamulla Helvi" is no name pair).
        return "joined" if lang != "en" else ""
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
        if ner:
            return "weak"
        if kind == "proper":
            return ""
        if text.isupper() or not text.replace("'", "").isalpha():
            # "KELA", or a token glued to markup ("Hei</b"): not a word to take for a name
            return "weak" if initial or text.isupper() else "unsure"
        # Not known to any lexicon, capitalised: a foreign name ("Siivooja Adebayo", "Tariq
        # fixed it") far more often than anything else in these notes. Firms go too ("Tesco"):
        # both NER models call foreign names firms ("Adebayo", "Nwosu": ORG), and a firm's name
        # redacted costs less than a leaked person. Only at the start of a Finnish sentence is
        # such a word as often colloquial ("Oisko", "Meili"): left there, it makes the redaction
        # uncertain, unless it is a short particle ("Mut", "Sit").
        if lang == "en" or not initial:
            return "strong"
        return "unsure" if len(text) >= 4 else "weak"
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


def _after_title(token: Token) -> bool:
    i = token.i - 1
    if i >= 0 and token.doc[i].text in {",", ":"}:
        i -= 1
    return i >= 0 and token.doc[i].lower_.rstrip(".") in _NAME_CONTEXT


def _context_verdict(token: Token, kind: str, lang: str) -> str:
    """Return "strong" where the given-name list or the words around make a word a name."""
    text, low = token.text, token.lower_
    if not text.replace("'", "").isalpha() or text.isupper() or len(text) < 2:
        return ""
    if lang == "en" and low in EN_GIVEN_NAMES:
        return "strong"  # "asked tom", "sarah said", "Dave fixed it"
    previous = _previous_word(token)
    addressed = _greeted(token)
    named = addressed or previous in EN_NAME_BEFORE or _talked_to(token)
    if lang == "en" and low in EN_WORD_NAMES:
        # "hi rose", "told mark", "nurse will": a word that is also a name, where one is named;
        # at the start of a sentence ("Bill came to 45 pounds") only beside another name.
        if named or previous in _NAME_CONTEXT:
            return "strong"
        return "weak" if _is_capitalised(text) and _sentence_initial(token) else ""
    if addressed and (kind in {"name", "likely"} or (kind == "ambiguous" and _is_capitalised(text))):
        return "strong"  # "moi anu", "kiitos paljon nea", "Kiitos Tuulille": who is greeted
    if text.islower() and kind in {"name", "likely"} and previous in FI_POSSESSIVES:
        return "strong"  # "meidän ella", "mun pekka"
    if lang == "en" and text.islower() and kind == "unknown" and named:
        return "strong"  # "hiya lou", "talked to jess": a word no lexicon knows, where one is named
    if lang != "en" and text.islower() and kind == "unknown" and addressed and len(text) >= 3:
        return "strong"  # "moi emppu", "kiitti jonski": a nickname after a greeting
    if text.islower() and _after_lower_first_name(token, lang):
        return "strong"  # "matt jones", "susan wright"
    return ""


def _greeted(token: Token) -> bool:
    """True if a greeting or thanks stands right before the word ("hei mikko", "thanks so much
    becky", "thank you, rose"), past commas and words such as "paljon" and "so much"."""
    i = token.i - 1
    while i >= 0 and (token.doc[i].text in {",", ":", "!"} or token.doc[i].lower_ in INTENSIFIERS):
        i -= 1
    return i >= 0 and token.doc[i].lower_ in ADDRESSING


def _talked_to(token: Token) -> bool:
    """True after "talked to", "spoke with", "went with" and the like."""
    return _previous_word(token) in {"to", "with"} and _previous_word(token, 2) in EN_TALKED


def _previous_word(token: Token, back: int = 1) -> str:
    """The lower-case word `back` words before the token, skipping commas ("hi, tom")."""
    i = token.i
    for _ in range(back):
        i -= 1
        while i >= 0 and token.doc[i].text in {",", ":"}:
            i -= 1
    return token.doc[i].lower_.rstrip(".") if i >= 0 else ""


def _after_lower_first_name(token: Token, lang: str) -> bool:
    # A surname in lower case follows a first name in lower case: a common British surname
    # ("brown"), one Voikko knows ("wright"), or one no lexicon knows ("o'brien", "nwosu").
    if token.i == 0:
        return False
    prev = token.doc[token.i - 1]
    first = prev.text.islower() and (
        (lang == "en" and prev.lower_ in EN_GIVEN_NAMES) or _name_kind(prev.text, lang) == "name"
    )
    if not first or token.is_stop:
        return False
    if lang == "en" and token.lower_ in EN_SURNAMES:
        return True  # "kelly brown", "tom baker"
    classes = _LEXICON.classes(token.text)
    return "sukunimi" in classes or (not classes and not _english_word(token.text))


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
                docs = self._ner_docs(plang, [normal[i][0] for i in idxs])
                for i, doc in zip(idxs, docs, strict=True):
                    taken = [(s.start, s.end) for s in structured[i]]
                    names, uncertain[i] = _name_spans(doc, plang, taken)
                    spans[i] += names
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
