"""The message catalogs (Finnish, English): compiled from the .po files, and gettext for code that
runs without a request (workers writing alerts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("fi", "en")

TRANSLATIONS = Path(__file__).parent / "translations"



def translator(locale: str) -> Callable[..., str]:
    """gettext in `locale` for code that runs without a request (workers writing alerts)."""
    from babel.support import Translations

    compile_catalogs()
    catalog = Translations.load(str(TRANSLATIONS), [locale if locale in LOCALES else "fi"])

    def translate(message: str, **values: Any) -> str:
        text = catalog.gettext(message)
        return text % values if values else text

    return translate



def compile_catalogs() -> None:
    """Write .mo files next to .po files that are newer (so a clean checkout just works)."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as src:
            catalog = read_po(src)
        with mo.open("wb") as out:
            write_mo(out, catalog)
