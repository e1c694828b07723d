"""Small helpers the benchmark scripts share (run them as `python bench/NAME.py`)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name, for the machine line of a results file."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_section(path: Path, name: str, body: list[str]) -> None:
    """Replace (or add) the `## name` section, between `<!-- name -->` markers, of a markdown file."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Search benchmarks\n"
    start_tag, end_tag = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = "\n".join([start_tag, f"## {name}", "", *body, end_tag])
    if start_tag in text:
        before, rest = text.split(start_tag, 1)
        text = before + block + rest.split(end_tag, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
