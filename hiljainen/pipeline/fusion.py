"""Search without I/O: query terms, a lemma index (BM25), rank fusion, highlights, near-duplicates.

Fusion rule (documented for users of search): each note gets
    score = sum over lists L of  weight_L / (RRF_K + rank_L)
where the lists are the semantic ranking (nearest note vectors to the query vector) and the
keyword ranking (BM25 over note lemmas), ranks start at 1 and a note missing from a list adds
nothing for it. Reciprocal-rank fusion (Cormack et al. 2009) needs no calibration between cosine
similarities and BM25 scores, which live on unrelated scales (and the embedder's cosines sit in a
narrow band). Ties keep the semantic order.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import math
import re
import secrets
import unicodedata
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hiljainen.pipeline.linguistics import MARKER

RRF_K = 60  # the constant of the original paper; larger = flatter
WEIGHTS = {"semantic": 1.0, "keyword": 1.0}
BM25_K1 = 1.2
BM25_B = 0.75
# A term of at least PREFIX_MIN letters also matches index terms that start with all but its last
# two letters, at half weight: catches inflected names voikko does not know ("Hämeenkadulla").
PREFIX_MIN = 6
PREFIX_WEIGHT = 0.5
# Function words say nothing about what is searched for; content stop words ("apu", "kiitos",
# "hitaasti" are on spaCy's Finnish stop list) stay and BM25's idf weighs them down.
FUNCTION_POS = frozenset({"ADP", "AUX", "CCONJ", "SCONJ", "DET", "PRON", "PART", "NUM"})

WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")  # as the lemmatiser's alphabetic tokens


# --------------------------------------------------------------------------- query terms


@dataclass(frozen=True)
class QueryToken:
    """One token of the query as a spaCy pipeline saw it (character offsets into the query)."""

    start: int
    text: str
    lemma: str
    pos: str
    is_stop: bool


@dataclass(frozen=True)
class TermGroup:
    """One query word: the forms that count as a match (surface and lemmas) and its prefixes."""

    word: str
    forms: frozenset[str]
    prefixes: frozenset[str] = frozenset()


def words(text: str) -> list[tuple[int, int, str]]:
    """Alphabetic words of a text as (start, end, lowercase), skipping redaction markers."""
    # One pass over words and markers together (both come in order and markers do not overlap):
    # comparing each word with every marker made a long draft of markers cost minutes.
    markers = [m.span() for m in MARKER.finditer(text)]
    out = []
    next_marker = 0
    for m in WORD.finditer(text):
        while next_marker < len(markers) and markers[next_marker][1] <= m.start():
            next_marker += 1
        if next_marker < len(markers) and markers[next_marker][0] < m.end():
            continue
        out.append((m.start(), m.end(), m.group().lower()))
    return out


def prefix_of(form: str) -> str | None:
    """The prefix a long term also matches by, or None for short terms."""
    return form[: len(form) - 2] if len(form) >= PREFIX_MIN else None


def query_terms(text: str, analyses: Iterable[Sequence[QueryToken]]) -> list[TermGroup]:
    """Term groups of a query: one per word that is not a function word in any pipeline.

    `analyses` holds the query's tokens from each language pipeline (Finnish and English: short
    queries are often misdetected, so both lemmatisers contribute forms). An empty result for a
    query with words means it held function words only.
    """
    by_start: dict[int, list[QueryToken]] = {}
    for tokens in analyses:
        for tok in tokens:
            by_start.setdefault(tok.start, []).append(tok)
    groups: list[TermGroup] = []
    seen: set[frozenset[str]] = set()
    for start, _end, word in words(text):
        toks = [t for t in by_start.get(start, []) if t.text.lower() == word]
        if any(t.is_stop and t.pos in FUNCTION_POS for t in toks):
            continue
        forms = {word} | {t.lemma.strip().lower() for t in toks if WORD.fullmatch(t.lemma.strip())}
        frozen = frozenset(forms)
        if frozen in seen:
            continue
        seen.add(frozen)
        prefixes = frozenset(p for f in forms if (p := prefix_of(f)))
        groups.append(TermGroup(word, frozen, prefixes))
    return groups


# --------------------------------------------------------------------------- lemma index


@dataclass
class KeywordHit:
    """A note found by keywords and its BM25 score."""

    id: int
    score: float


class LemmaIndex:
    """An in-memory inverted index of note lemmas with BM25 scoring.

    Append-only by design: notes are added as they are processed. A note whose lemmas change
    (reprocessing) sets `stale`, and the owner rebuilds the index from scratch.
    """

    def __init__(self) -> None:
        self._ids: list[int] = []  # internal position -> note id
        self._pos: dict[int, int] = {}
        self._lens = array("I")
        self._sig: dict[int, int] = {}  # note id -> hash of its lemmas, to notice changes
        self._post: dict[str, tuple[array[int], array[int]]] = {}  # term -> (positions, tf)
        self._vocab: list[str] = []  # sorted, for prefix lookups
        self._total = 0
        self._id_array: np.ndarray | None = None
        # Equal scores are ordered by a keyed hash of the note id, not by the id: the id follows
        # the order of writing, which would place an anonymous note among a colleague's signed
        # notes. The key is this index's own, so the order says nothing of the ids either.
        self._tie_key = secrets.token_bytes(16)
        self._ties = array("Q")
        self.stale = False

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, note_id: object) -> bool:
        return note_id in self._pos

    def add(self, note_id: int, lemmas: Sequence[str]) -> None:
        """Index a note's lemmas (again: ignored if unchanged, marks the index stale if changed)."""
        terms = [lemma.lower() for lemma in lemmas if lemma]
        sig = hash(tuple(terms))
        if note_id in self._pos:
            if self._sig[note_id] != sig:
                self.stale = True
            return
        pos = len(self._ids)
        self._ids.append(note_id)
        self._pos[note_id] = pos
        self._sig[note_id] = sig
        self._lens.append(len(terms))
        tie = hashlib.blake2b(note_id.to_bytes(8, "little", signed=True), key=self._tie_key, digest_size=8)
        self._ties.append(int.from_bytes(tie.digest(), "little"))
        self._total += len(terms)
        counts: dict[str, int] = {}
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
        for t, c in counts.items():
            if t not in self._post:
                self._post[t] = (array("I"), array("H"))
                bisect.insort(self._vocab, t)
            ps, tf = self._post[t]
            ps.append(pos)
            tf.append(min(c, 65535))

    def expand(self, group: TermGroup) -> dict[str, float]:
        """Index terms matching a group, with their weights (1 exact, PREFIX_WEIGHT by prefix)."""
        out = {f: 1.0 for f in group.forms if f in self._post}
        for p in group.prefixes:
            i = bisect.bisect_left(self._vocab, p)
            while i < len(self._vocab) and self._vocab[i].startswith(p):
                out.setdefault(self._vocab[i], PREFIX_WEIGHT)
                i += 1
        return out

    def ranked(self, groups: Sequence[TermGroup]) -> tuple[np.ndarray, np.ndarray]:
        """Ids and BM25 scores of the notes matching any group, best first (ties: in an order
        unrelated to when the notes were written)."""
        n = len(self._ids)
        if not n or not groups:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        lens = np.frombuffer(self._lens, dtype=np.uint32).astype(np.float64)
        avg = self._total / n or 1.0
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lens / avg)
        scores = np.zeros(n)
        for group in groups:
            weights = self.expand(group)
            if not weights:
                continue
            tf = np.zeros(n)
            for term, w in weights.items():
                ps, tfs = self._post[term]
                pos = np.frombuffer(ps, dtype=np.uint32)
                np.add.at(tf, pos, w * np.frombuffer(tfs, dtype=np.uint16))
            hit = np.flatnonzero(tf)
            df = len(hit)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            scores[hit] += idf * tf[hit] * (BM25_K1 + 1) / (tf[hit] + norm[hit])
        found = np.flatnonzero(scores)
        ties = np.frombuffer(self._ties, dtype=np.uint64)
        order = found[np.lexsort((ties[found], -scores[found]))]
        if self._id_array is None or len(self._id_array) != n:
            self._id_array = np.asarray(self._ids, dtype=np.int64)
        return self._id_array[order], scores[order]

    def search(self, groups: Sequence[TermGroup], limit: int | None = None) -> list[KeywordHit]:
        """Notes matching any group, best BM25 score first."""
        ids, scores = self.ranked(groups)
        return [KeywordHit(int(i), float(s)) for i, s in zip(ids[:limit], scores[:limit], strict=True)]

    def matched_terms(self, groups: Sequence[TermGroup]) -> frozenset[str]:
        """Every index term the groups match (for highlights)."""
        out: set[str] = set()
        for g in groups:
            out |= set(self.expand(g)) | set(g.forms)
        return frozenset(out)


# --------------------------------------------------------------------------- languages

# Multilingual sentence embeddings carry a language component: a Finnish query sits closer to
# any Finnish note than to the English note that says the same thing (with multilingual-e5-small,
# "kylmä ruoka" scored an English note about a cold meal below every unrelated Finnish note).
# Semantic search therefore removes the language direction from the query vector: d is the
# difference of the mean Finnish and the mean English vector of these sentence pairs, written for
# this project (the same things said in both languages, so d is language, not topic), and the
# query q becomes q - (q . d) d. Ranking notes by that vector equals ranking both sides with the
# direction removed, so one ordinary nearest-neighbour query does it. Measured in
# bench/search_quality.py ("Across languages").
LANGUAGE_REFERENCE: tuple[tuple[str, str], ...] = (
    (
        "Ruoka oli taas kylmää, kun se tuotiin huoneeseen.",
        "The meal was cold again when it was brought to the room.",
    ),
    ("Kotiin kuljetettu ateria myöhästyi tunnilla.", "The home-delivered meal was an hour late."),
    (
        "Hissi on ollut rikki viikon, vanhukset eivät pääse ulos.",
        "The lift has been broken for a week and the elderly cannot get out.",
    ),
    ("Vuorolistat julkaistaan liian myöhään.", "The shift rosters are published too late."),
    (
        "Kahvi loppui aulan automaatista jo aamulla.",
        "The coffee machine in the lobby ran out in the morning.",
    ),
    ("Asukkaat pitivät uudesta laulutuokiosta.", "The residents enjoyed the new singing session."),
    ("Pihan valot eivät toimi ja on pimeää.", "The yard lights do not work and it is dark."),
    (
        "Lääkkeet jaettiin väärään aikaan illalla.",
        "The medicines were handed out at the wrong time in the evening.",
    ),
    ("Saunavuoroja on liian vähän.", "There are too few sauna turns."),
    ("Vuokranmaksun eräpäivä muuttui ilman ilmoitusta.", "The rent due date changed without notice."),
    ("Hoitajia on yövuorossa liian vähän.", "There are too few nurses on the night shift."),
    ("Siivooja ei käynyt asunnossa tällä viikolla.", "The cleaner did not visit the flat this week."),
    ("Annokset ovat liian pieniä ja nälkä jää.", "The portions are too small and people stay hungry."),
    ("Ulkoilemaan pääsee liian harvoin.", "Residents get to go outdoors too rarely."),
    ("Pyykit katoavat pesulassa.", "Laundry goes missing in the laundry room."),
    (
        "Kuljettaja oli ystävällinen ja auttoi kassien kanssa.",
        "The driver was friendly and helped with the bags.",
    ),
    ("Ovikello ei soi ja vieraat jäävät ulos.", "The doorbell does not ring and visitors are left outside."),
    ("Ruokalistalla on liian vähän kasvisvaihtoehtoja.", "The menu has too few vegetarian options."),
    ("Omaiset eivät saa tietoa äidin voinnista.", "Relatives get no information about mother's condition."),
    ("Käytävällä haisee homeelta.", "The corridor smells of mould."),
    ("Wc-paperi on loppunut yleisistä vessoista.", "The public toilets have run out of toilet paper."),
    ("Lumityöt on tehty huonosti ja piha on liukas.", "Snow clearing was poor and the yard is slippery."),
    ("Lämpötila asunnossa on vain 18 astetta.", "The temperature in the flat is only 18 degrees."),
    (
        "Ateria sisälsi maitoa, vaikka ilmoitin allergiasta.",
        "The meal contained milk although I reported an allergy.",
    ),
    ("Kiitos hyvästä hoidosta, isä viihtyy täällä.", "Thank you for the good care, father is happy here."),
    ("Puhelimeen ei vastata iltaisin.", "Nobody answers the phone in the evenings."),
    ("Uusi työntekijä ei saanut perehdytystä.", "The new employee got no induction."),
    ("Pesukone on ollut rikki kaksi viikkoa.", "The washing machine has been broken for two weeks."),
    ("Naapurin musiikki soi öisin kovaa.", "The neighbour plays loud music at night."),
    ("Kuljetus unohti tuoda jälkiruoan.", "The delivery forgot to bring the dessert."),
    (
        "Asukas kaatui käytävällä, kun valot olivat pois päältä.",
        "A resident fell in the corridor when the lights were off.",
    ),
    ("Kirjaamiseen ei jää työvuorossa aikaa.", "There is no time left for documentation during the shift."),
    ("Parkkipaikalla ei ole tarpeeksi tilaa vieraille.", "There is not enough parking space for visitors."),
    ("Fysioterapeutti kävi vain kerran tässä kuussa.", "The physiotherapist came only once this month."),
    ("Keitto oli liian suolaista.", "The soup was far too salty."),
    ("Ikkuna vetää ja huoneessa on kylmä.", "The window is draughty and the room is cold."),
    (
        "Henkilökunta vaihtuu niin usein, ettei äiti tunne hoitajia.",
        "Staff change so often that mother does not know the nurses.",
    ),
    ("Laskussa oli virhe ja maksoin kahdesti.", "There was an error in the bill and I paid twice."),
    ("Viriketoimintaa on viikonloppuisin liian vähän.", "There are too few activities at weekends."),
    ("Roska-astiat ovat täynnä eikä niitä tyhjennetä.", "The bins are full and nobody empties them."),
)


def language_direction(finnish: np.ndarray, english: np.ndarray) -> np.ndarray:
    """The unit vector from the English to the Finnish centre of parallel sentence vectors."""
    d = np.asarray(finnish, dtype=np.float64).mean(axis=0) - np.asarray(english, dtype=np.float64).mean(
        axis=0
    )
    return (d / (np.linalg.norm(d) or 1.0)).astype(np.float32)


def without_language(vector: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The vector with its component along the language direction removed, renormalised."""
    v = np.asarray(vector, dtype=np.float32)
    out = v - float(v @ direction) * direction
    return out / (np.linalg.norm(out) or 1.0)


# --------------------------------------------------------------------------- fusion


@dataclass
class Fused:
    """One note in the fused ranking, with its rank in each list (absent = not found by it)."""

    id: int
    score: float
    ranks: dict[str, int] = field(default_factory=dict)


def fuse(
    rankings: Mapping[str, Sequence[int]],
    weights: Mapping[str, float] | None = None,
    k: int = RRF_K,
) -> list[Fused]:
    """Weighted reciprocal-rank fusion of ranked id lists (see the module docstring)."""
    weights = weights or WEIGHTS
    out: dict[int, Fused] = {}
    order: list[int] = []  # first-seen order breaks ties: lists are visited as given
    for name, ids in rankings.items():
        w = weights.get(name, 1.0)
        seen: set[int] = set()
        for rank, note_id in enumerate(ids, start=1):
            if note_id in seen:
                continue
            seen.add(note_id)
            if note_id not in out:
                out[note_id] = Fused(note_id, 0.0)
                order.append(note_id)
            out[note_id].score += w / (k + rank)
            out[note_id].ranks[name] = rank
    first = {note_id: i for i, note_id in enumerate(order)}
    return sorted(out.values(), key=lambda f: (-f.score, first[f.id]))


# --------------------------------------------------------------------------- highlights


def align(surface: Sequence[str], lemmas: Sequence[str]) -> list[str | None]:
    """The lemma of each surface word, when the two sequences can be lined up."""
    if len(surface) == len(lemmas):
        return list(lemmas)
    # The tokeniser and the regex rarely disagree (clitics, hyphens); line up by first letters.
    matcher = difflib.SequenceMatcher(
        a=[w[:3] for w in surface], b=[lemma[:3] for lemma in lemmas], autojunk=False
    )
    out: list[str | None] = [None] * len(surface)
    for a, b, size in matcher.get_matching_blocks():
        for i in range(size):
            out[a + i] = lemmas[b + i]
    return out


def highlight_spans(
    text: str, lemmas: Sequence[str], terms: frozenset[str], prefixes: Iterable[str] = ()
) -> list[tuple[int, int]]:
    """Character spans of the words in `text` whose lemma or surface form matched the query."""
    if not terms:
        return []
    found = words(text)
    lemma_of = align([w for _s, _e, w in found], [str(x).lower() for x in lemmas])
    pre = tuple(prefixes)
    spans = []
    for (start, end, word), lemma in zip(found, lemma_of, strict=True):
        if word in terms or (lemma is not None and lemma in terms) or (pre and word.startswith(pre)):
            spans.append((start, end))
    return spans


def segments(
    text: str, spans: Sequence[tuple[int, int]], window: tuple[int, int] | None = None
) -> list[tuple[str, bool]]:
    """The text (or a window of it) cut into (piece, is_highlight) for a template to escape and mark."""
    lo, hi = window or (0, len(text))
    out: list[tuple[str, bool]] = []
    at = lo
    for start, end in sorted(spans):
        if end <= lo or start >= hi or start < at:
            continue
        if start > at:
            out.append((text[at:start], False))
        out.append((text[start : min(end, hi)], True))
        at = min(end, hi)
    if at < hi:
        out.append((text[at:hi], False))
    return out


def snippet_window(text: str, spans: Sequence[tuple[int, int]], width: int = 320) -> tuple[int, int]:
    """A window of about `width` characters around the first highlight, cut at spaces."""
    if len(text) <= width:
        return 0, len(text)
    first = min((s for s, _e in spans), default=0)
    start = max(0, first - width // 4)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return start, end


# --------------------------------------------------------------------------- near-duplicates

# Same writer: a near-identical text (edit similarity of the normalised texts, which catches
# typos) or a near-identical meaning (cosine) is the same note sent again. Tuned with
# multilingual-e5-small on the Turku paraphrase lines (bench/search_quality.py): half of the
# reworded pairs there score above 0.97, so the cosine bar sits at 0.98. The notes encoder pulls
# a writer's two different notes on one subject closer, so the bar stays at "the same meaning"
# rather than moving down with its wider cosines. Retyped copies with one or two typos or a
# dropped word pass the edit rule.
DUPLICATE_SIMILARITY = 0.98
TEXT_SIMILARITY = 0.9
# A repeat counts only within this many days: the same words a week later report a new event.
DUPLICATE_DAYS = 1
# A text of an unknown writer counts as a repeat only if identical and at least this long:
# two relatives may well both write just "Kiitos!".
MIN_REPEAT_CHARS = 20


@dataclass(frozen=True)
class NoteKey:
    """What near-duplicate detection needs to know about a note."""

    id: int
    text: str
    day: object  # datetime.date; compared by (day - day).days
    source: str
    author: int | None = None
    unit: int | None = None
    touchpoint: int | None = None
    duplicate_of: int | None = None


def normalised(text: str) -> str:
    """Text reduced for comparing repeats: case, accents' encoding, punctuation and spacing."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\[\]]+", " ", text).split())


def text_similarity(a: str, b: str) -> float:
    """Edit similarity of two texts, 0..1 (difflib's ratio: 2 x matching characters / total)."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def duplicate_of(
    note: NoteKey,
    earlier: Sequence[tuple[NoteKey, float]],
    threshold: float = DUPLICATE_SIMILARITY,
    days: int = DUPLICATE_DAYS,
) -> int | None:
    """The original this note repeats (the earliest match), or None.

    `earlier` holds candidate notes with their cosine similarity to `note`. Rules: notes of two
    different known writers are never duplicates (two people = two reporters); the same known
    writer repeating the same text, or a near-identical one (edit similarity >= TEXT_SIMILARITY or
    cosine >= threshold), within `days` is a duplicate; when a writer is unknown (anonymous,
    imported) only an identical text of at least MIN_REPEAT_CHARS from the same source, unit and
    touchpoint within `days` is.
    """
    text = normalised(note.text)
    for cand, sim in sorted(earlier, key=lambda c: c[0].id):
        if cand.id >= note.id or cand.source != note.source:
            continue
        if abs((note.day - cand.day).days) > days:  # type: ignore[operator]
            continue
        other = normalised(cand.text)
        same_text = other == text
        if note.author is not None and cand.author is not None:
            if note.author == cand.author and (
                same_text or sim >= threshold or text_similarity(text, other) >= TEXT_SIMILARITY
            ):
                return cand.duplicate_of or cand.id
        elif (
            same_text
            and len(text) >= MIN_REPEAT_CHARS
            and (cand.unit, cand.touchpoint) == (note.unit, note.touchpoint)
        ):
            return cand.duplicate_of or cand.id
    return None
