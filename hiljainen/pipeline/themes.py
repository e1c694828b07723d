"""One theme refresh as pure stages: cluster -> label -> topics -> signals.

`compute_themes` is the one composition of the stages; the worker's refresh_themes job calls it
with stored vectors and facts, `hiljainen cluster` (hiljainen.tools.themes_batch) after embedding
a file, and the benchmarks directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hiljainen.pipeline.cluster import Clustering, ClusterParams, cluster_notes
from hiljainen.pipeline.constraints import Constraints
from hiljainen.pipeline.correction_map import through_corrections
from hiljainen.pipeline.identity import NoteId, PreviousTheme
from hiljainen.pipeline.label import ThemeLabel, label_themes
from hiljainen.pipeline.linguistics import with_compound_parts
from hiljainen.pipeline.signals import (
    NoteFact,
    SignalParams,
    ThemeSignal,
    Voice,
    score_signals,
    week_start,
)
from hiljainen.pipeline.topics import group_topics

if TYPE_CHECKING:
    pass


@dataclass
class ThemeRunResult:
    """One theme refresh: clustering (labels, themes, events), names, signals and the topic of
    every theme (a topic's id is its largest theme's id), by theme id."""

    clustering: Clustering
    names: dict[int, ThemeLabel]
    signals: dict[int, ThemeSignal] = field(default_factory=dict)
    topics: dict[int, int] = field(default_factory=dict)

    @property
    def new_subjects(self) -> set[int]:
        """Themes made mostly of an emerging micro-group this run: new subjects."""
        return self.clustering.new_subjects

    def display_name(self, theme_id: int) -> str:
        """A leader's name for the theme if it has one, else the computed phrase or label."""
        theme = self.clustering.theme(theme_id)
        return theme.name or self.names[theme_id].name



def compute_themes(
    vectors: np.ndarray,
    keywords: Sequence[Sequence[str]],
    *,
    note_ids: Sequence[NoteId] | None = None,
    facts: Sequence[NoteFact] | None = None,
    voices: Sequence[Voice] = (),
    previous: Sequence[PreviousTheme] = (),
    first_seen: Mapping[int, dt.date] | None = None,
    now: dt.date | None = None,
    next_id: int | None = None,
    langs: Sequence[str] | None = None,
    cluster_params: ClusterParams | None = None,
    signal_params: SignalParams | None = None,
    constraints: Constraints | None = None,
    texts: Sequence[str] | None = None,
    learn_from_corrections: bool = True,
) -> ThemeRunResult:
    """Cluster, match to previous themes, label and (when dated facts are given) score signals.

    Dated facts also let clustering split out emerging micro-groups (cluster.py, step 4);
    `constraints` are a leader's corrections (row pairs), honoured and, unless
    `learn_from_corrections` is off, learnt from (correction_map.py); `texts` give the themes
    their phrases.
    """
    x = np.asarray(vectors, dtype=np.float32)
    if len(keywords) != len(x):
        raise ValueError(f"{len(x)} vectors but {len(keywords)} keyword lists")
    if learn_from_corrections:  # what the leader taught reaches the notes near those corrected
        x = through_corrections(x, constraints)
    ages = reporters = None
    if facts is not None:
        if len(facts) != len(x):
            raise ValueError(f"{len(x)} vectors but {len(facts)} facts")
        # Whole ISO weeks before the current one: what the emerging micro-group step needs.
        current = week_start(now or max((f.day for f in facts), default=dt.date.today()))
        ages = [(current - week_start(f.day)).days // 7 for f in facts]
        reporters = [f.reporter for f in facts]
    clustering = cluster_notes(x, note_ids, previous, cluster_params, next_id, langs, keywords,
                               ages=ages, reporters=reporters, constraints=constraints)
    live = [t for t in clustering.themes if t.size]
    names = label_themes(live, keywords, x, texts=texts, langs=langs)
    topics = group_topics({t.id: t.centroid for t in live}, {t.id: t.size for t in live})
    signals: dict[int, ThemeSignal] = {}
    if facts is not None:
        sp = signal_params or SignalParams()
        signals = score_signals(
            clustering.labels,
            facts,
            vectors=x,
            centroids={t.id: t.centroid for t in clustering.themes},
            voices=voices,
            first_seen=first_seen,
            now=now,
            params=sp,
            # A word and its compounds' parts ("lumi", "kattolumi") grow together.
            keywords=with_compound_parts(keywords),
            theme_words={tid: with_compound_parts([name.keywords[: sp.theme_words]])[0]
                         for tid, name in names.items()},
        )
    return ThemeRunResult(clustering, names, signals, topics)
