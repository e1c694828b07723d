"""Themes from note vectors: Ward clustering, outlier assignment, stable identity across runs.

Pure: numpy arrays and dataclasses in, dataclasses out. This module holds the parameters and
the composition (`cluster_notes`); steps 1-3 live in `grouping`, step 4 in `emerging`, step 5 in
`identity`. The method, measured in bench/results/themes.md:

1. Centre the unit vectors on each language's mean (the embedding's cosines sit in a narrow
   band and group notes by language; removing those common directions spreads them) and
   average each note with its nearest neighbours (denoising, the cheap stand-in for UMAP).
   When the notes' keywords (content-word lemmas) are given, a TF-IDF of them reduced by a
   seeded truncated SVD is joined to the centred vectors with weight `keyword_weight` (share of
   the cosine), so notes that share rare words sit a little closer (from `keyword_min_notes`
   notes on): +0.020 NMI on banking77, +0.012 on Turku, -0.003 on clinc150. Above
   `direct_limit` notes, first group them into that many micro-clusters (two k-means passes
   from a seeded sample) and cluster those.
2. Ward's hierarchy, cut from the root down into the largest groups whose notes sit close
   enough to their centre on average (`min_cohesion`, raised where notes sit far closer to
   their nearest neighbours than freely written care notes do, as templated questions do:
   `grouping.cut_level`): the number of themes follows the data (3,000 banking questions of
   77 intents give ~107 themes, 368 notes of 8 care subjects 8-11), not the number of notes.
   Groups whose raw (not denoised) notes are not close to each other (`min_member_cohesion`)
   and members far below their group's typical closeness (`outlier_z`) become leftovers.
3. Groups smaller than `min_theme_size` are dissolved. Their notes join the nearest theme when
   they are as close to its centre as its typical member (`assign_quantile`); otherwise they
   stay "not yet a theme" (-1), but never more than `max_unassigned_share` of all notes: beyond
   that the closest of them join their nearest theme anyway. A pinned theme that holds notes
   of another pinned theme's group gets its own notes back (nearest pinned centroid).
4. Emerging micro-groups (when each note's age in weeks is given): a new subject's first notes
   often sit inside two or three older themes of related subjects, so no theme grows until it
   has 5-12 notes. Kulldorff's Bernoulli scan statistic looks at every note with its
   1..`emerging_ball` nearest notes (same space as step 1) and scores how much richer in
   "recent" notes (the last `emerging_weeks` ISO weeks) that neighbourhood is than the rest
   (log-likelihood ratio). The best one is significant when at most `emerging_alpha` of
   `emerging_permutations` random relabellings (as many recent notes, anywhere) score as high,
   so a run splits out a chance group with probability about `emerging_alpha`, however many
   neighbourhoods are scanned. Its notes are taken out and the scan repeated (Zhang, Assunção
   and Kulldorff 2010). The recent notes of each significant neighbourhood, at least
   `min_theme_size` of them from at least `emerging_reporters` people, become a group of their
   own (a group left below theme size joins its nearest neighbour); nothing is scanned before
   `emerging_baseline` older notes exist. When keywords are given, a second scan does the same
   with the notes sharing a rare lemma (one in 3..`emerging_ball` notes) as the zones: a new
   subject often brings its own word ("poliisi", "hissi") before its notes sit together in the
   embedding; the parts of Finnish compounds count as words too ("kattolumet" shares "lumi"
   with "lunta"). Such a group's word grows by construction, so the signal rule's word test
   cannot screen a chance one: the scan's own `emerging_word_alpha` is ten times stricter. The
   signal rule (signals.py) then decides whether a new theme is a weak signal. A micro-group that
   makes up most of the group holding it takes that group's older notes along: the group is
   the subject's theme already, and carving its recent notes out would give the subject a new
   identity each run. A theme new this run and made mostly of such a group is a *new subject*
   (`Clustering.new_subjects`: alerts say so). bench/results/signals.md measures this step.
5. Each new group is matched to the previous run's themes by shared member notes (and by
   centroid cosine when the old notes have left the window), which yields the events born,
   grew, shrank, continued, merged, split and faded. A group continues a previous theme only
   when it holds more of that theme's notes than of all other themes' together: a mix of
   corners of several themes is a new theme, not an old id with a new meaning. Pinned themes
   keep their id and name and are never merged away.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hiljainen.pipeline.constraints import Constraints, honour
from hiljainen.pipeline.emerging import find_emerging, split_emerging
from hiljainen.pipeline.grouping import (
    UNASSIGNED,
    _groups_in,
    _space,
    _split_pinned,
    assign_leftovers,
    unit_rows,
)
from hiljainen.pipeline.identity import NoteId, PreviousTheme, Theme, ThemeEvent, match_themes
from hiljainen.pipeline.linguistics import with_compound_parts


@dataclass(frozen=True)
class ClusterParams:
    """Tuning of theme clustering; the cut and the scatter bar chosen on the team corpus's
    development subjects (bench/results/understanding.md), the rest on bench/themes.py."""

    # Ward's tree is cut into the largest groups whose (denoised, centred) vectors sit at least
    # this close to their centre on average: the number of themes follows the data, not n.
    # Tuned for the notes encoder (hiljainen-notes-e5): its notes of one subject sit close and
    # its subjects apart, so a looser cut keeps a subject in one theme (0.8 suited the
    # untaught multilingual-e5-small, whose cosines sit in a narrow band).
    min_cohesion: float = 0.6
    # Where notes sit far closer to their neighbours than care notes do (templated requests), the
    # cut rises: min_cohesion + cohesion_per_density * (density - density_pivot), at most
    # max_cohesion (grouping.cut_level). The pivot lies above every set of the team corpus's notes,
    # so their cut stays min_cohesion; the slope was chosen on clinc150's intents.
    density_neighbours: int = 10
    density_pivot: float = 0.65
    cohesion_per_density: float = 1.5
    max_cohesion: float = 0.8
    # Denoising can make unrelated notes look alike; a group whose centred (not denoised)
    # vectors sit less close than this to their centre is scatter, not a theme.
    min_member_cohesion: float = 0.3
    # Fewer notes than this are not a theme (three notes make a theme).
    min_theme_size: int = 3
    # Each note is averaged with this many nearest neighbours before Ward (0 = off).
    denoise_neighbours: int = 5
    # Share of the similarity Ward sees that comes from shared keywords (TF-IDF of lemmas,
    # reduced to `keyword_dims` by SVD) when keywords are given; 0 = embedding only.
    keyword_weight: float = 0.1
    keyword_dims: int = 64
    # Below this many notes, lemma frequencies are too few to weigh words by (on 36 notes of
    # three topics, tests/unit/test_themes_batch.py, they merged two topics): embedding only.
    keyword_min_notes: int = 200
    # At most this share of notes is left as "not yet a theme".
    max_unassigned_share: float = 0.10
    # A leftover note joins a theme when at least as close to its centre as this quantile of
    # the theme's own members.
    assign_quantile: float = 0.10
    # A member less close to its theme's centre than median - z * robust deviation is a stray.
    outlier_z: float = 3.0
    # Above this many notes, Ward runs on this many micro-clusters instead of the notes.
    direct_limit: int = 5000
    # A previous theme is linked to a new group holding at least this share of its live notes.
    link_share: float = 0.25
    # Centroid cosine to continue a theme whose notes have all left the window.
    match_similarity: float = 0.95
    # Emerging micro-groups (step 4 of the module docstring; needs each note's age in weeks):
    # notes of the last `emerging_weeks` ISO weeks are "recent" (0 = step off).
    emerging_weeks: int = 3
    # Neighbourhoods scanned: each note with up to this many of its nearest notes.
    emerging_ball: int = 15
    # A neighbourhood is significant when at most this share of as many random relabellings
    # score as high (0.02 of 99: at most one); bench/signals_replay.py chose 0.02 (0.05 bought
    # a little speed with false alarms, 0.01 gained almost nothing).
    emerging_permutations: int = 99
    emerging_alpha: float = 0.02
    # The rare-lemma scan also counts the parts of Finnish compounds ("kattolumi": "lumi").
    scan_compound_parts: bool = True
    # The rare-lemma scan's level (its groups' own word grows by construction, so nothing later
    # screens a chance word): 0.005 let a chance word through in 12 replay streams, 0.002 none.
    emerging_word_permutations: int = 999
    emerging_word_alpha: float = 0.002
    # Distinct reporters a group needs (one person writing repeatedly is not emerging).
    emerging_reporters: int = 2
    # Without this many older notes there is no "before" to compare with.
    emerging_baseline: int = 30
    # The scan looks at the newest this many notes: its cost grows with their square
    # (about 4 s for 10,000 notes on 2 cores).
    emerging_max_notes: int = 10000
    seed: int = 0


@dataclass
class Clustering:
    """Result of one run: theme id per note (-1 = not yet a theme), themes, and events."""

    labels: np.ndarray
    themes: list[Theme]
    events: list[ThemeEvent]
    note_ids: list[NoteId] = field(default_factory=list)
    # Themes made mostly of an emerging micro-group this run (step 4): new subjects.
    new_subjects: set[int] = field(default_factory=set)

    @property
    def unassigned_share(self) -> float:
        """Share of notes left as "not yet a theme"."""
        return float(np.mean(self.labels == UNASSIGNED)) if len(self.labels) else 0.0

    def theme(self, theme_id: int) -> Theme:
        """The theme with this id."""
        for t in self.themes:
            if t.id == theme_id:
                return t
        raise KeyError(theme_id)


def cluster_notes(
    vectors: np.ndarray,
    note_ids: Sequence[NoteId] | None = None,
    previous: Sequence[PreviousTheme] = (),
    params: ClusterParams | None = None,
    next_id: int | None = None,
    langs: Sequence[str] | None = None,
    keywords: Sequence[Sequence[str]] | None = None,
    *,
    ages: Sequence[int] | np.ndarray | None = None,
    reporters: Sequence[Hashable | None] | None = None,
    constraints: Constraints | None = None,
) -> Clustering:
    """Cluster note vectors into themes and match them to the previous run's themes.

    `langs` (one code per note, from the language stage) lets each language be centred on its
    own mean, so English notes do not form a theme of their own among Finnish ones. `keywords`
    (content-word lemmas per note) add shared-word evidence to the grouping (not to centroids).
    `ages` (whole ISO weeks before the current one; negative = after now) turn on the emerging
    micro-group step (its rare-lemma scan needs `keywords`); `reporters` (None = anonymous, its
    own reporter) let it count people. `constraints` (a leader's corrections, as row pairs) are
    honoured last, whatever the steps before decided (constraints.py).
    """
    p = params or ClusterParams()
    x = unit_rows(np.asarray(vectors, dtype=np.float32))
    n = len(x)
    ids: list[NoteId] = list(range(n)) if note_ids is None else list(note_ids)
    if len(ids) != n:
        raise ValueError(f"{n} vectors but {len(ids)} note ids")
    z = _space(x, p, langs, keywords)
    groups = _groups_in(z, x, p)
    groups = _split_pinned(x, ids, groups, previous, p)
    groups = assign_leftovers(x, groups, p)
    emerging: list[np.ndarray] = []
    if ages is not None:
        words = with_compound_parts(keywords) if keywords is not None and p.scan_compound_parts else keywords
        emerging = find_emerging(z, ages, reporters, p, words)
        groups = split_emerging(z, groups, emerging, p)
    if constraints:
        groups = honour(x, groups, constraints)
    themes, events = match_themes(x, ids, groups, previous, p, next_id)
    labels = np.full(n, UNASSIGNED, dtype=np.int64)
    for t in themes:
        labels[t.members] = t.id
    return Clustering(labels=labels, themes=themes, events=events, note_ids=ids,
                      new_subjects=_new_subject_themes(labels, emerging, events))


def _new_subject_themes(labels: np.ndarray, emerging: Sequence[np.ndarray],
                        events: Sequence[ThemeEvent]) -> set[int]:
    # The themes new this run and made mostly of an emerging micro-group's recent notes: new
    # subjects, not an older theme that grew.
    fresh = {e.theme_id for e in events if e.kind in ("born", "split")}
    out = set()
    for rows in emerging:
        ids = labels[rows]
        ids = ids[ids != UNASSIGNED]
        if len(ids):
            tid = int(np.bincount(ids).argmax())
            if tid in fresh and 2 * int((ids == tid).sum()) > int((labels == tid).sum()):
                out.add(tid)
    return out
