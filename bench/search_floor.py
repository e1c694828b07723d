"""Search relevance floor: how close must a note be to a query to count as a match by meaning?

Every query has nearest notes, so without a floor any text (even "xyzzy qwerty") lists 150
"results". On the demo organisation's 377 notes (their planted topics as relevance labels), 30
short queries written for this benchmark (three per topic, Finnish and English) and 6 nonsense
or off-topic queries are embedded as the search embeds them (query prefix, language direction
removed); the table gives, per floor, the share of relevant notes, of each query's best relevant
note and of unrelated notes at or above it, and how many nonsense queries still match anything.

Run: .venv/bin/python bench/search_floor.py   (writes the "Relevance floor" section of
bench/results/search.md)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import write_section  # noqa: E402
from demo_themes import demo_inputs  # noqa: E402

from hiljainen.pipeline import fusion  # noqa: E402
from hiljainen.pipeline.embed import load_embedder  # noqa: E402
from hiljainen.search import SEARCH_MIN_SIMILARITY, language_direction  # noqa: E402

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
FLOORS = (0.75, 0.78, 0.80, 0.82, 0.84, 0.86)


def main() -> None:
    """Measure the floors and write the section."""
    _texts, hints, _langs, x, _kws = demo_inputs()
    embedder = load_embedder()
    direction = language_direction(embedder)
    notes = x / np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.array(hints)

    def similarities(q: str) -> np.ndarray:
        return notes @ fusion.without_language(embedder.embed([q], kind="query")[0], direction)

    relevant, best, unrelated = [], [], []
    for hint, queries in QUERIES.items():
        for q in queries:
            s = similarities(q)
            relevant += list(s[labels == hint])
            best.append(s[labels == hint].max())
            unrelated += list(s[labels != hint])
    nonsense = [float(similarities(q).max()) for q in NONSENSE]
    rel, top, other = np.array(relevant), np.array(best), np.array(unrelated)
    body = [
        "Command: `.venv/bin/python bench/search_floor.py` (method in its docstring). The search",
        f"keeps a note found by meaning only at cosine >= `SEARCH_MIN_SIMILARITY` = {SEARCH_MIN_SIMILARITY}",
        "(hiljainen/search.py); notes sharing a query word are found by the keyword side anyway.",
        "",
        "| floor | relevant notes kept | best relevant note kept | unrelated notes kept "
        f"| nonsense queries with a match (of {len(NONSENSE)}) |",
        "|---|---|---|---|---|",
    ]
    for floor in FLOORS:
        mark = "**" if abs(floor - SEARCH_MIN_SIMILARITY) < 1e-9 else ""
        body.append(f"| {mark}{floor:.2f}{mark} | {np.mean(rel >= floor):.2f} | "
                    f"{np.mean(top >= floor):.2f} | {np.mean(other >= floor):.3f} | "
                    f"{sum(n >= floor for n in nonsense)} |")
    body += ["", "Nearest note of each nonsense query: "
             + ", ".join(f"\"{q}\" {n:.3f}" for q, n in zip(NONSENSE, nonsense, strict=True)) + "."]
    write_section(RESULTS, "Relevance floor", "\n".join(["## Relevance floor", "", *body]),
                  "# Search benchmarks")
    print("\n".join(body))


if __name__ == "__main__":
    main()
