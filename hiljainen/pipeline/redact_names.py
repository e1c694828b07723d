"""Names in a note: spaCy NER combined with the Voikko lexicon, English word lists and context.

Voikko knows Finnish first names and surnames with their inflections ("Matille", "jukalta"), at
any position and in lower case; English given names come from a list curated for the project
(given_names.py). Context decides the rest: titles and roles ("asiakas Owusu", "carer nkechi"),
greetings ("moi anu", "hi rose"), verbs that name someone ("told mark"), a first name next to an
unknown word ("Kwame Owusu", "matt jones"), and "ja"/"and" between names. A capitalised word that
no lexicon knows counts as a name; where one is left in place, the note is marked uncertain.

Words in capitals ("PIRJO KETTUNEN", "HUOM") go through the same check in a recased copy of the
text (case_view): spaCy and the rules see "Pirjo Kettunen" and "kiireellinen". Acronyms and
shouted words are common there, so a capitals word no lexicon knows ("ASAP", "OWUSU") is a name
only after a title or beside a name, and one that could be a name but is left in place marks the
note uncertain. A name spelt
letter by letter ("P i r j o") counts when the joined word is one.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
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
from hiljainen.pipeline.linguistics import MARKER, load_nlp

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from spacy.tokens import Doc, Token

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


# A word of two or more letters; one before "-19" or "-123" is a code ("COVID-19", "ABC-123").
_LETTERS = re.compile(r"(?<!\w)[^\W\d_]{2,}(?!\w|-\d)")
# Four or more single letters with single spaces between ("P i r j o", "M A T T I").
_SPACED_LETTERS = re.compile(r"(?<!\w)(?:[^\W\d_] ){3,}[^\W\d_](?!\w)")


def _title(word: str) -> str:
    return word[:1] + word[1:].lower()


def case_view(text: str, lang: str) -> tuple[str, frozenset[tuple[int, int]]]:
    """The text with each word in capitals recased for the name check, and their (start, end).

    A word that the lexicons take for a name gets an initial capital ("KETTUNEN" -> "Kettunen");
    a word no lexicon knows stays in capitals (an acronym as often as a foreign name: "ASAP",
    "OWUSU"); any other word goes to lower case ("KIIREELLINEN", "KELA", "MÄKI"), so that NER
    reads a shouted note as a sentence. Lengths stay, so the offsets hold. Notes without such a
    word come back as they are: nothing extra for spaCy to do.
    """
    chars: list[str] | None = None
    caps: list[tuple[int, int]] = []
    markers = [m.span() for m in MARKER.finditer(text)] if "[" in text else []
    for m in _LETTERS.finditer(text):
        word = m.group()
        if not word.isupper() or any(s < m.end() and m.start() < e for s, e in markers):
            continue
        title = _title(word)
        kind = _name_kind(title, lang)
        low = word.lower()
        if kind in {"name", "likely", "proper"} or (
            lang == "en" and (low in EN_GIVEN_NAMES or low in EN_SURNAMES)
        ):
            form = title
        elif kind == "unknown":
            form = word
        else:
            form = low
        if len(form) != len(word) or len(title) != len(word):
            continue  # a letter whose case pair differs in length ("ẞ"): leave the word alone
        caps.append(m.span())
        if form != word:
            if chars is None:
                chars = list(text)
            chars[m.start() : m.end()] = form
    return ("".join(chars) if chars is not None else text), frozenset(caps)


def name_spans(
    doc: Doc,
    lang: str,
    taken: list[tuple[int, int]],
    caps: Collection[tuple[int, int]] = (),
) -> tuple[list[tuple[int, int]], bool]:
    """(start, end) of each name in a document, and whether a name-like word was left in place.

    taken: spans already found (structured kinds), never part of a name. caps: (start, end) of
    the words that were in capitals before case_view recased the document's text.
    """
    in_ner = {t.i for ent in doc.ents if ent.label_ in _PERSON_LABELS for t in ent}
    markers = [m.span() for m in MARKER.finditer(doc.text)]
    blocked = taken + markers

    def free(start: int, end: int) -> bool:
        return not any(start < b_end and b_start < end for b_start, b_end in blocked)

    caps_kind: dict[int, str] = {}  # token index -> how the lexicons see the word title-cased
    spelt, spelt_unsure = _spelt_names(doc.text, lang, free)

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
        if (token.idx, token.idx + len(text)) in caps:
            kind = _name_kind(_title(text), lang)
            caps_kind[token.i] = kind
            v = _caps_verdict(token, kind, token.i in in_ner, lang)
            if v:
                verdict[token.i] = v
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
    names: list[tuple[int, int]] = list(spelt)
    named: set[int] = set()
    uncertain = spelt_unsure
    for i, v in verdict.items():
        token = doc[i]
        # In a Finnish note two capitalised unknown words side by side are a foreign name
        # ("Kwame Owusu odotti").
        pair = lang != "en" and i in unknown and (i - 1 in unknown or i + 1 in unknown)
        # A lower-case word joins a lower-case name only ("matti virtanen", not "illalla Ahmed").
        lower = token.text.islower() and i not in caps_kind
        # Next to a strong name, or joined to one by "ja"/"and" ("Aleksi ja Emmi", "nea ja oona").
        joined = [j for j in (i - 2, i + 2) if 0 <= j < len(doc) and _joins(doc, i, j)]
        near = joined if v == "joined" else [i - 1, i + 1, *joined]
        if i in caps_kind and token.text.islower():
            # A word in capitals that is also an everyday word joins a name only in its place:
            # a surname after a first name in its base form ("MATTI MÄKI", "MATTI MÄELLE"), a
            # first name in its base form before a name ("ANNA VIRTANEN"); not "KIITOS MATILLE
            # AAMULLA" or "AAMULLA VIRTANEN SOITTI".
            readings = _LEXICON.analyses(_title(token.text))
            near = [j for j in (i - 1, i + 1) if 0 <= j < len(doc)]
            near = [
                j
                for j in near
                if (j < i and any(c == "sukunimi" for c, _ in readings) and _base_first_name(doc[j]))
                or (j > i and ("etunimi", token.lower_) in readings)
            ]
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
                    names.append((offset, offset + len(part)))
                offset += len(part) + 1
            continue
        names.append((token.idx, token.idx + len(token.text)))
        named.add(i)
    # A word in capitals that could be a name, left in place ("EVA" alone, "ZORBAKIS"), or
    # two everyday words shaped as a first name and a surname ("TOIVO SAARI").
    uncertain = uncertain or any(
        i not in named
        and (
            _caps_could_be_name(doc[i], kind, lang)
            or (
                i + 1 in caps_kind
                and i + 1 not in named
                and _base_first_name(doc[i])
                and "sukunimi" in _LEXICON.classes(_title(doc[i + 1].text))
            )
        )
        for i, kind in caps_kind.items()
    )
    return names, uncertain


def _base_first_name(token: Token) -> bool:
    """True if the word is a first name in its base form ("Matti", not "Matille")."""
    return ("etunimi", token.lower_) in _LEXICON.analyses(_title(token.text))


def _caps_verdict(token: Token, kind: str, ner: bool, lang: str) -> str:
    """The verdict for a word that was in capitals (kind: its title-cased form's)."""
    text = token.text
    titled = _after_title(token) or _after_honorific(token)
    if text.isupper():
        # No lexicon knows it ("OWUSU", "ASAP", "HUOM"): a name after a title, else only
        # beside a name ("PIRJO OWUSU").
        return "strong" if titled and len(text) >= 3 else "weak"
    if kind == "ambiguous" and (titled or _greeted(token)):
        return "strong"  # "HOITAJA EMMI", "MOI ONNI": in capitals no initial tells name from word
    v = _context_verdict(token, kind, lang) or _verdict(token, kind, ner, lang)
    if v == "strong" and len(text) <= 3 and not (titled or _greeted(token)):
        return "weak"  # "EVA", "ARI" alone read the same as acronyms ("HUS", "ATK")
    return v


def _caps_could_be_name(token: Token, kind: str, lang: str) -> bool:
    """True if a word that was in capitals may be a name (for the uncertain flag).

    Words that are also names ("PIAN": soon, or Pia's; "ONNI", "MÄKI") are read as words: in a
    shouted note they are everyday words far more often, and would keep most such notes back.
    """
    if lang == "en" and token.lower_ in EN_GIVEN_NAMES:
        return True
    if kind in {"name", "likely"}:
        return not (lang == "en" and _english_word(_title(token.text)))
    # Short unknown words in capitals are acronyms ("HUOM", "TYKS", "ASAP").
    return kind == "unknown" and len(token.text) >= 5


def _spelt_names(
    text: str, lang: str, free: Callable[[int, int], bool]
) -> tuple[list[tuple[int, int]], bool]:
    """Names spelt letter by letter ("P i r j o", "M A T I L L E"), and whether a spelt word
    that may be a name was left. Only a capitalised word counts ("a b c d" is a list); a run
    with capitals inside is read as words, one from each capital ("P i r j o K e t t u n e n")."""
    names: list[tuple[int, int]] = []
    unsure = False
    for m in _SPACED_LETTERS.finditer(text):
        letters = m.group()[::2]
        cuts = [0] if letters.isupper() else [k for k, ch in enumerate(letters) if ch.isupper()]
        if not cuts:
            continue  # all in lower case: "k y l l ä", "a b c d"
        for a, b in zip(cuts, [*cuts[1:], len(letters)], strict=True):
            word = letters[a:b]
            start, end = m.start() + 2 * a, m.start() + 2 * b - 1
            if len(word) < 2 or not word[0].isupper() or not free(start, end):
                continue
            if not (word[1:].islower() or word[1:].isupper()):
                continue
            word = _title(word)
            kind = _name_kind(word, lang)
            if kind in {"name", "likely"} or (lang == "en" and word.lower() in EN_GIVEN_NAMES):
                names.append((start, end))
            elif kind in {"unknown", "proper"} or (kind == "ambiguous" and not _word_name(word)):
                unsure = unsure or len(word) >= 4
    return names, unsure


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
    """True after "talked to", "spoke with" and the like."""
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
