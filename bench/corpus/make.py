"""Write the corpus's labelled splits and its weak-signal streams (development and held-out).

Each stream is 26 weeks of 20-35 notes a week, as a deployment would receive them: 13-18 steady
subjects, one fading out, and two new subjects that start between weeks 10 and 20 at one note a
week and grow to 3-5, each a neighbour in words of a steady subject. Development streams take
their new subjects from the corpus's development split, held-out streams from its test split
(subjects the encoder never trains on and no parameter is tuned on).

Run: python bench/corpus/make.py  (writes eval/{train,dev,test}.jsonl, streams/*.jsonl and *.key.json)
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = dt.date(2026, 1, 5)  # a Monday: week 0
WEEKS = 26
UNITS = {"hc": "kotihoito", "al": "koivukoti", "md": "ateriapalvelu", "rh": "vuokra-asunnot"}
GROWTH = [1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5]
FADING = [3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1]
# New subject -> the steady subject it shares words with (it is always in the stream).
NEIGHBOUR = {
    # development split
    "hc_shower_hygiene": "hc_rushed_visits", "al_outdoor": "al_activities",
    "md_portion_size": "md_taste_menu", "rh_snow_ice": "rh_waste_yard",
    "rh_moisture_mould": "rh_heating", "org_training": "org_orientation",
    # test split
    "hc_changing_carers": "hc_rushed_visits", "al_call_bell": "al_night_staff",
    "md_cold_meals": "md_late_meals", "rh_door_entry": "rh_outdoor_lights",
    "org_work_phones": "org_records_system", "billing_errors": "contact_phone_line",
    "al_laundry": "al_hearing_glasses", "hc_keys_keybox": "hc_late_visits",
}
STREAMS = {  # name: (split of the new subjects, new subjects)
    "dev-1": ("dev", ["hc_shower_hygiene", "rh_snow_ice"]),
    "dev-2": ("dev", ["al_outdoor", "org_training"]),
    "dev-3": ("dev", ["md_portion_size", "rh_moisture_mould"]),
    "dev-4": ("dev", ["rh_snow_ice", "al_outdoor"]),
    "dev-5": ("dev", ["org_training", "md_portion_size"]),
    "dev-6": ("dev", ["rh_moisture_mould", "hc_shower_hygiene"]),
    "heldout-1": ("test", ["md_cold_meals", "org_work_phones"]),
    "heldout-2": ("test", ["al_call_bell", "billing_errors"]),
    "heldout-3": ("test", ["rh_door_entry", "hc_changing_carers"]),
    "heldout-4": ("test", ["al_laundry", "hc_keys_keybox"]),
}


def load() -> tuple[dict[str, list[dict]], dict[str, str]]:
    split = json.loads((HERE / "split.json").read_text(encoding="utf-8"))
    of = {s: name for name, subjects in split.items() for s in subjects}
    notes: dict[str, list[dict]] = defaultdict(list)
    for path in sorted((HERE / "notes").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            notes[row["subject"]].append(row)
    return notes, of


def stream(name: str, seed: int, notes: dict[str, list[dict]], of: dict[str, str]) -> tuple[list[dict], dict]:
    rng = random.Random(seed)
    split, new = STREAMS[name]
    assert all(of[s] == split for s in new)
    # Steady and fading subjects: from the training split for development streams, from training
    # and development for held-out ones (never another test subject); always the new subjects'
    # neighbours.
    allowed = {"dev": {"train"}, "test": {"train", "dev"}}[split]
    pool = sorted(s for s in notes if of[s] in allowed and s not in new)
    must = [NEIGHBOUR[s] for s in new]
    rest = [s for s in pool if s not in must]
    rng.shuffle(rest)
    n_steady = rng.randint(13, 18)
    steady = must + rest[: n_steady - len(must)]
    fading = rest[n_steady - len(must)]
    starts = sorted(rng.sample(range(10, 21), 2))
    queues = {s: rng.sample(notes[s], len(notes[s])) for s in steady + [fading] + new}
    rows: list[dict] = []
    for week in range(WEEKS):
        counts: dict[str, int] = {}
        for s in steady:
            counts[s] = min(3, max(0, round(rng.gauss(1.45, 0.8))))
        if week < len(FADING):
            counts[fading] = FADING[week]
        for s, w0 in zip(new, starts, strict=True):
            if week >= w0:
                counts[s] = GROWTH[week - w0]
        for s, c in counts.items():
            for _ in range(c):
                if not queues[s]:
                    queues[s] = rng.sample(notes[s], len(notes[s]))
                row = queues[s].pop()
                day = START + dt.timedelta(weeks=week, days=rng.randrange(7))
                at = dt.datetime.combine(day, dt.time(rng.randrange(7, 21), rng.randrange(60)))
                prefix = s.split("_")[0]
                unit = UNITS.get(prefix) or rng.choice(sorted(UNITS.values()))
                rows.append({"text": row["text"], "label": s, "lang": row["lang"],
                             "created_at": at.isoformat(), "unit": unit, "source": row["voice"]})
    rows.sort(key=lambda r: r["created_at"])
    key = {"start": START.isoformat(), "emerging": dict(zip(new, starts, strict=True)),
           "fading": fading, "steady": sorted(steady)}
    return rows, key


def write_splits(notes: dict[str, list[dict]], of: dict[str, str]) -> None:
    """One labelled file per split, in the scorers' form ({"text", "label", "lang"})."""
    out = HERE / "eval"
    out.mkdir(exist_ok=True)
    for split in ("train", "dev", "test"):
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for subject in sorted(s for s in notes if of[s] == split):
                for r in notes[subject]:
                    fh.write(json.dumps({"text": r["text"], "label": subject, "lang": r["lang"]},
                                        ensure_ascii=False) + "\n")


def main() -> None:
    notes, of = load()
    write_splits(notes, of)
    out = HERE / "streams"
    out.mkdir(exist_ok=True)
    for seed, name in enumerate(STREAMS):
        rows, key = stream(name, seed, notes, of)
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        (out / f"{name}.key.json").write_text(json.dumps(key, indent=1) + "\n", encoding="utf-8")
        weekly = len(rows) / WEEKS
        english = sum(r["lang"] == "en" for r in rows) / len(rows)
        print(f"{name}: {len(rows)} notes, {weekly:.1f}/week, {english:.0%} English, "
              f"{len(key['steady'])} steady, new {key['emerging']}, fading {key['fading']}")


if __name__ == "__main__":
    main()
