"""Do notes of one subject sit together? The judges' scorers, through the CLI, before and after.

Runs ../shared/eval/understanding.py (which calls `hiljainen neighbors` and `hiljainen cluster`
and sees nothing but the texts) on the team corpus's labelled splits, once per embedding model:
the untaught multilingual-e5-small and hiljainen-notes-e5 (taught by `hiljainen models build`)
in float32, and the latter's int8 graph (the default), all with today's clustering. The test
split's subjects were never trained or tuned on; the development split's were tuned on (and, in
the shipped model, trained on), so its figures flatter.

Run: .venv/bin/python bench/understanding.py [--splits test,dev]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import cpu_model, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCORER = ROOT.parent / "shared" / "eval" / "understanding.py"
CLI = ROOT / ".venv" / "bin" / "hiljainen"
UNTAUGHT = str(ROOT / "models" / "multilingual-e5-small")
MODELS = {  # the untaught model has no int8 graph: it is served as it was, in float32
    "multilingual-e5-small (untaught, float32)": {"HILJAINEN_EMBED_MODEL": UNTAUGHT,
                                                  "HILJAINEN_EMBED_BACKEND": "sentence-transformers"},
    "hiljainen-notes-e5 (float32)": {"HILJAINEN_EMBED_BACKEND": "sentence-transformers"},
    "hiljainen-notes-e5 (int8 graph, the default)": {},
}


def score(split: str, env: dict[str, str]) -> str:
    """The scorer's one-line summary for one split and model."""
    path = ROOT / "bench" / "corpus" / "eval" / f"{split}.jsonl"
    done = subprocess.run([sys.executable, str(SCORER), str(path), "--cli", str(CLI)],
                          capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT, check=False)
    return (done.stdout.strip() or done.stderr.strip()[-300:]).splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", default="test,dev")
    args = ap.parse_args()
    rows = []
    for split in args.splits.split(","):
        for name, env in MODELS.items():
            started = time.monotonic()
            line = score(split, env)
            rows.append(f"| {split} | {name} | {line} | {time.monotonic() - started:.0f} s |")
            print(rows[-1], flush=True)
    body = "\n".join([
        f"Command: `.venv/bin/python bench/understanding.py` ({time.strftime('%Y-%m-%d')}). "
        f"Machine: {cpu_model()}, 2 cores.",
        "",
        "| split | model | scorer's summary | time |",
        "|---|---|---|---|",
        *rows,
    ])
    write_section(ROOT / "bench" / "results" / "understanding.md", "understanding", body,
                  "# Understanding: notes of one subject together (team corpus, judges' scorer)")


if __name__ == "__main__":
    main()
