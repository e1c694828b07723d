"""Search relevance floor: how close must a note be to a query to count as a match by meaning?

Every query has nearest notes, so without a floor any text (even "xyzzy qwerty") lists 150
"results". On the demo organisation's 377 notes (their planted topics as relevance labels), 30
short queries written for this benchmark (three per topic, Finnish and English) and 6 nonsense
or off-topic queries are embedded as the search embeds them (query prefix, language direction
removed). The search lists nothing unless a query's nearest note reaches the query floor, and
then every note from the keep floor on; the table gives, per pair of floors, the share of
relevant notes listed (in the query's language and in the other one), of each query's best
relevant note and of unrelated notes, and how many nonsense queries still list anything. The
grid sits around the floors in hiljainen/search/engine.py, plus the lowest query floor that no
nonsense query reaches (in steps of 0.005) with keep floors below it; the section also gives the
window a query floor can sit in and where the floors fall among all query-to-note cosines (the
floors were first chosen with the untaught model, then moved to the same percentiles for the
notes encoder). Notes and queries are embedded by the configured embedder in the same run.

Run: .venv/bin/python bench/search_floor.py   (writes the "Relevance floor" section of
bench/results/search.md)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import write_section  # noqa: E402
from demo_themes import demo_inputs  # noqa: E402

from hiljainen.pipeline import fusion  # noqa: E402
from hiljainen.pipeline.embed import load_embedder  # noqa: E402
from hiljainen.pipeline.language import detect  # noqa: E402
from hiljainen.search.engine import SEARCH_KEEP_SIMILARITY, SEARCH_MIN_SIMILARITY, language_direction  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "search.md"
QUERIES = {
    "evening_meal_skipped": ["iltapala jää syömättä", "asukas ei syö iltaruokaa",
                             "skipping the evening meal"],
    "price_increase_invoice": ["hinta nousi laskussa", "asiakasmaksu nousi", "invoice price went up"],
    "door_access_system": ["ovi ei aukea avainlätkällä", "key fob does not open the door",
                           "ovikoodi ei toimi"],
    "meals_cold_late": ["ruoka tulee kylmänä", "ateria myöhässä", "food arrives cold"],
    "noisy_neighbours": ["naapuri metelöi yöllä", "noisy neighbours at night", "häiriö rappukäytävässä"],
    "homecare_hurry": ["hoitajilla kiire käynnillä", "nurses are always in a hurry", "käynti liian lyhyt"],
    "maintenance_delay": ["vikailmoitukseen ei vastata", "repair takes weeks", "hana vuotaa eikä korjata"],
    "medication_timing": ["lääkkeet myöhässä", "medicines given late", "aamulääkkeet jaettiin myöhään"],
    "driver_parking": ["kuljettaja ei löydä parkkipaikkaa", "parking for the delivery van",
                       "porttikoodi puuttuu kuljettajalta"],
    "praise_extra_help": ["kiitos hyvästä avusta", "thank you staff", "ystävällinen kuljettaja auttoi"],
}
NONSENSE = ["xyzzy qwerty", "asdf jklö", "kuu on juustoa", "quantum chromodynamics lecture",
            "jalkapallon MM-kisat", "bitcoin hinta"]
# (query floor, keep floor) around the service's pair; the notes encoder's cosines spread wider
# than the untaught model's, whose grid was 0.78-0.84 in steps of 0.01-0.02.
FLOORS = [
    *((round(SEARCH_MIN_SIMILARITY + d, 3),) * 2 for d in (-0.08, -0.04, -0.02, 0.0, 0.04, 0.08, 0.12)),
    *((SEARCH_MIN_SIMILARITY, round(SEARCH_KEEP_SIMILARITY + d, 3)) for d in (-0.04, -0.02, 0.0, 0.02)),
]
# Below the lowest query floor that no nonsense query reaches (found in the run), these keep floors.
KEEP_BELOW_CLEAR = (0.0, 0.02, 0.04, 0.06, 0.08)
# Percentiles of all query-to-note cosines at which the untaught model's floors 0.82 / 0.81 sat.
FIRST_PERCENTILES = (46, 36)


def main() -> None:
    """Measure the floors and write the section."""
    texts, hints, langs, _cached, _kws = demo_inputs()
    embedder = load_embedder()
    direction = language_direction(embedder)
    notes = embedder.embed(texts, kind="passage")  # demo_inputs' cache does not say which model made it
    labels, note_langs = np.array(hints), np.array(langs)

    def similarities(q: str) -> np.ndarray:
        return notes @ fusion.without_language(embedder.embed([q], kind="query")[0], direction)

    queries = [(similarities(q), labels == hint, note_langs == detect(q).code)
               for hint, qs in QUERIES.items() for q in qs]
    nonsense = [similarities(q) for q in NONSENSE]

    def listed(s: np.ndarray, query_floor: float, keep_floor: float) -> np.ndarray:
        return (s >= keep_floor) & (s.max() >= query_floor)

    body = [
        "Command: `.venv/bin/python bench/search_floor.py` (method in its docstring). The search",
        f"lists notes found by meaning when the query's nearest note reaches `SEARCH_MIN_SIMILARITY` = "
        f"{SEARCH_MIN_SIMILARITY}, from `SEARCH_KEEP_SIMILARITY` = {SEARCH_KEEP_SIMILARITY} on",
        "(hiljainen/search/engine.py); notes sharing a query word are found by the keyword side anyway.",
        "",
        "| query floor / keep floor | relevant notes listed: same language / other language "
        "| best relevant note listed | unrelated notes listed "
        f"| nonsense queries listing anything (of {len(NONSENSE)}) |",
        "|---|---|---|---|---|",
    ]
    clear = math.ceil(max(s.max() for s in nonsense) * 200 + 1e-9) / 200  # next 0.005 above them all
    for query_floor, keep_floor in FLOORS + [(clear, round(clear - d, 3)) for d in KEEP_BELOW_CLEAR]:
        kept = [(listed(s, query_floor, keep_floor), rel, same) for s, rel, same in queries]

        def share(part: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = kept) -> float:
            return float(np.mean(np.concatenate([k[part(r, m)] for k, r, m in kept])))

        best = np.mean([k[np.flatnonzero(r)[np.argmax(s[r])]] for (k, r, _), (s, _, _) in
                        zip(kept, queries, strict=True)])
        chosen = (query_floor, keep_floor) == (SEARCH_MIN_SIMILARITY, SEARCH_KEEP_SIMILARITY)
        mark = "**" if chosen else ""
        body.append(f"| {mark}{query_floor:.3f} / {keep_floor:.3f}{mark} | {share(lambda r, m: r & m):.2f} / "
                    f"{share(lambda r, m: r & ~m):.2f} | {best:.2f} | {share(lambda r, m: ~r):.3f} | "
                    f"{sum(listed(s, query_floor, keep_floor).any() for s in nonsense)} |")
    everything = np.concatenate([s for s, _, _ in queries])
    lowest_nearest = min(s.max() for s, _, _ in queries)
    lowest_best = min(s[r].max() for s, r, _ in queries)
    highest_nonsense = max(s.max() for s in nonsense)
    body += [
        "",
        "Nearest note of each nonsense query: "
        + ", ".join(f"\"{q}\" {s.max():.3f}" for q, s in zip(NONSENSE, nonsense, strict=True)) + ".",
        "",
        f"Window for a query floor that lists every written query and no nonsense one: above the highest "
        f"nonsense nearest note ({highest_nonsense:.3f}) and at most the lowest nearest note of a written "
        f"query ({lowest_nearest:.3f}){'' if highest_nonsense < lowest_nearest else ', so there is none'}; "
        f"every query's best relevant note is at least {lowest_best:.3f}. Among all "
        f"{len(everything)} query-to-note cosines of the written queries, the query floor is the "
        f"{100 * np.mean(everything < SEARCH_MIN_SIMILARITY):.0f}th percentile and the keep floor the "
        f"{100 * np.mean(everything < SEARCH_KEEP_SIMILARITY):.0f}th; the "
        + " and ".join(f"{q}th" for q in FIRST_PERCENTILES)
        + " (where the untaught model's 0.82 and 0.81 sat) are "
        + " and ".join(f"{np.percentile(everything, q):.3f}" for q in FIRST_PERCENTILES)
        + f". Embedder: `{embedder.model_id}`.",
    ]
    write_section(RESULTS, "Relevance floor", "\n".join(["## Relevance floor", "", *body]),
                  "# Search benchmarks")
    print("\n".join(body))


if __name__ == "__main__":
    main()
