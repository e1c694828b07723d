"""The printed report in real headless Chromium (issue 21): its PDF carries the charts, drawn on
the server as SVG, and the leaders' decisions; on a phone the charts fit the screen."""

from __future__ import annotations

import datetime as dt
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.system.test_browser import PHONE, log_in, new_page

# rapp: the report's organisation, a fixture
from tests.web.test_report import PASSWORD, rapp, record_decision  # noqa: F401

BAR_FILL = ["0.2667"] * 3  # print.css prints a chart's bars in #444, a colour nothing else uses


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"])


# --- reading Chromium's PDF without a PDF library: its objects, fonts' ToUnicode maps, pages ---


def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes]]:
    """Object number -> (dictionary, stream inflated or b"")."""
    out = {}
    for num, body in re.findall(rb"(\d+) 0 obj\s*(.*?)endobj", pdf, re.S):
        head, _, rest = body.partition(b"stream")
        raw = re.sub(rb"^\r?\n", b"", rest).rsplit(b"endstream", 1)[0]
        out[int(num)] = (head, zlib.decompress(raw) if rest and b"/FlateDecode" in head else raw)
    return out


def _to_unicode(cmap: bytes) -> dict[int, str]:
    table = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            table[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for a, b, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            table.update({i: chr(int(dst, 16) + i - int(a, 16)) for i in range(int(a, 16), int(b, 16) + 1)})
    return table


def _pages(pdf: bytes) -> Iterator[tuple[dict[bytes, dict[int, str]], bytes]]:
    """Each page's fonts (name -> glyph id -> text) and its drawing operators."""
    objects = _objects(pdf)
    maps = {
        num: _to_unicode(objects[int(ref.group(1))][1])
        for num, (head, _) in objects.items()
        if (ref := re.search(rb"/ToUnicode (\d+) 0 R", head))
    }
    for head, _ in objects.values():
        if re.match(rb"<</Type /Page\s", head):
            fonts = {name: maps.get(int(ref), {}) for name, ref in re.findall(rb"/(F\d+) (\d+) 0 R", head)}
            yield fonts, objects[int(re.search(rb"/Contents (\d+) 0 R", head)[1])][1]  # type: ignore[index]


def read_pdf(pdf: bytes) -> tuple[str, int]:
    """The PDF's text (a line per text object) and how many shapes it fills in the bars' colour."""
    text, bars = [], 0
    ops = rb"/(F\d+) [\d.]+ Tf|<([0-9A-F]+)> Tj|([\d. ]+) rg|\n(f\*?)\n|\n(ET)\n"
    for fonts, content in _pages(pdf):
        font: dict[int, str] = {}
        fill: list[str] = []
        for m in re.finditer(ops, content):
            if m[1]:
                font = fonts.get(m[1], {})
            elif m[2]:
                text.append("".join(font.get(int(m[2][i : i + 4], 16), "?") for i in range(0, len(m[2]), 4)))
            elif m[3]:
                fill = [f"{float(v):.4f}" for v in m[3].split()]
            elif m[4]:
                bars += fill == BAR_FILL
            else:
                text.append("\n")
    return "".join(text), bars


@pytest.mark.browser
def test_the_printed_report_carries_its_charts_and_decisions(
    rapp: Flask,  # noqa: F811  (the fixture imported above)
    live_server: Callable[[Flask], str],
    chromium: Any,
    screens_dir: Path,
) -> None:
    record_decision(rapp, "Keitto jäähtyy kuljetuksessa.", "Lämpölaukut käyttöön.")
    base = live_server(rapp)
    page = new_page(chromium, screens_dir, locale="en-GB")
    log_in(page, base, "johtaja", PASSWORD)
    page.goto(f"{base}/report/?lang=en")
    charts = page.locator("svg.chart")
    assert charts.count() == 3, "notes per week, the largest theme week by week, the response loop"
    assert fits(page), "the charts scale to a phone's width"
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box and 0 < box["width"] <= PHONE["width"] and box["height"] > 20
    weekly = page.get_attribute("svg.chart >> nth=0", "aria-label") or ""
    assert weekly.startswith("Notes per week: Week ") and ": 14" in weekly
    page.shot("report-phone")

    page.emulate_media(media="print")
    assert page.is_visible("svg.chart") and page.is_visible("text=Lämpölaukut käyttöön.")
    text, bars = read_pdf(page.pdf(format="A4"))
    # One bar each: the week with 14 notes, the theme's week with 7, and the loop's 14 notes (its
    # other steps come from one writer, hidden); the weekly chart prints its bar's figure.
    assert bars == 3, text
    assert "Interpretations and decisions" in text and "Lämpölaukut käyttöön." in text
    chart_text = text.split("Notes per week\n", 1)[1].split("Week ", 1)[0]  # before its caption
    busy_week = (dt.date.today() - dt.timedelta(days=3)).isocalendar()[1]
    assert f"14\n{busy_week}\n" in chart_text, chart_text  # the bar's figure, then its week
    page.evaluate("document.querySelectorAll('svg.chart').forEach(c => c.remove())")
    text_without, bars_without = read_pdf(page.pdf(format="A4"))
    assert bars_without == 0 and "Lämpölaukut käyttöön." in text_without, "the reader tells them apart"
    assert f"14\n{busy_week}\n" not in text_without
    assert page.csp_errors == []
    page.context.close()
