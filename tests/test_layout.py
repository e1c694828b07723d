"""Import rules that keep data flowing one way (parsed with ast, not by convention)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = {"flask", "flask_babel", "flask_wtf", "sqlalchemy", "chromadb", "redis", "rq"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("hiljainen/pipeline"), ids=lambda p: p.name)
def test_pipeline_stages_are_pure(path: Path) -> None:
    assert not imported_roots(path) & HEAVY


@pytest.mark.parametrize("path", modules("hiljainen/stores"), ids=lambda p: p.name)
def test_stores_do_not_import_flask(path: Path) -> None:
    assert "flask" not in imported_roots(path)


@pytest.mark.parametrize(
    "path", [p for p in modules("hiljainen") if p.name != "cli.py"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_the_application_never_imports_workers(path: Path) -> None:
    # cli.py is a composition root like the worker; everything else enqueues by dotted name.
    assert "workers" not in imported_roots(path)


def test_models_folder_holds_no_python() -> None:
    assert not list((ROOT / "models").rglob("*.py"))
