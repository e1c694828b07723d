"""Import rules that keep data flowing one way (parsed with ast, not by convention)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, dotted in full (`from a import b` counts as a and a.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
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


@pytest.mark.parametrize(
    "path",
    [p for p in modules("hiljainen") + modules("workers")
     if "web" not in p.relative_to(ROOT).parts and p != ROOT / "hiljainen" / "__init__.py"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_the_web_layer_imports_it(path: Path) -> None:
    # create_app (hiljainen/__init__.py) is the one place that assembles the web layer.
    assert not {m for m in imported_modules(path) if m == "hiljainen.web" or m.startswith("hiljainen.web.")}


@pytest.mark.parametrize("path", modules("hiljainen/pipeline"), ids=lambda p: p.name)
def test_pipeline_stages_use_no_other_layer(path: Path) -> None:
    # Stages take and give dataclasses and arrays: no database, store, search or web code.
    layers = ("hiljainen.db", "hiljainen.models", "hiljainen.stores", "hiljainen.search", "hiljainen.web",
              "hiljainen.resources", "hiljainen.runtime", "hiljainen.tools")
    assert not {m for m in imported_modules(path) if m.startswith(layers)}


@pytest.mark.parametrize("path", modules("hiljainen/search"), ids=lambda p: p.name)
def test_search_serves_pages_without_being_one(path: Path) -> None:
    # The search pages and the /api/v1 search live in web/; search/ holds no blueprint.
    assert "Blueprint" not in path.read_text(encoding="utf-8")


def test_one_api_package_serves_api_v1() -> None:
    prefixed = [p for p in modules("hiljainen") if 'url_prefix="/api/v1"' in p.read_text(encoding="utf-8")]
    assert prefixed == [ROOT / "hiljainen" / "web" / "api" / "__init__.py"]


def test_tests_are_sorted_into_unit_web_and_system() -> None:
    loose = [p.name for p in (ROOT / "tests").glob("test_*.py")]
    assert not loose, f"put these under tests/unit, tests/web or tests/system: {loose}"


IMMUTABLE_CALLS = {"timedelta", "frozenset", "tuple", "TypeVar", "compile"}  # compile: re.compile

MUTABLE_DISPLAYS = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)


def module_state(path: Path) -> list[str]:
    """Module-level names bound to something a process could change: a dict, list or set, or the
    result of any call other than an immutable value's constructor (a lock, a pool, a cache)."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Call):
                func = value.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                mutable = name not in IMMUTABLE_CALLS
            else:
                mutable = isinstance(value, MUTABLE_DISPLAYS)
            if mutable:
                found.append(ast.unparse(node).split("=")[0].strip())
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            decorators = {ast.unparse(d).split("(")[0].rsplit(".", 1)[-1] for d in node.decorator_list}
            if decorators & {"cache", "lru_cache"}:
                found.append(node.name)
    return found


@pytest.mark.parametrize("path", modules("hiljainen/search"), ids=lambda p: p.name)
def test_search_keeps_no_state_in_its_modules(path: Path) -> None:
    # Caches, locks and the keyword index belong to the runtime's SearchEngine: a test or a second
    # app gets its own, and nothing outlives the runtime that made it.
    assert module_state(path) == []
