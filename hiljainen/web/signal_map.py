"""The dashboard's weak-signal map, drawn on the server as SVG (templates/dashboard/_signal_map.html)
so that every bubble can be a link to its theme and carry a label without a script.

x = visibility (share of notes), y = emergence (growth per week), radius = reporters. Labels are
placed most important first (strong, then weak signals, then by reporters), on the first side of
their bubble where they cross no other label or bubble and stay inside the picture; a name too long
for any side is tried shorter. A bubble with no room keeps its name in its tooltip and in the
numbers under the chart, except an alerted one: it is labelled even where it must cover a bubble
(or, on a map too crowded for that, another label).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT = 360, 240  # user units: about the width a phone draws it at, so its text stays legible
LEFT, RIGHT, TOP, BOTTOM = 40, 6, 6, 30  # room for the axes' figures and titles
FONT = 11  # label size in user units (static/app.css draws labels at this size)
CHAR_WIDTH = 0.6 * FONT  # a generous average glyph width: a label's box is never underestimated
LABEL_CHARS = (24, 14)  # a label's longest form, then its short form
GAP = 3  # between a bubble and its label
MAX_RADIUS = 22
PRIORITY = {"strong": 0, "weak": 1}  # alerted signals are labelled first, and always


@dataclass(frozen=True)
class Label:
    text: str
    x: float
    y: float  # baseline
    anchor: str  # SVG text-anchor: start, end or middle


@dataclass(frozen=True)
class Bubble:
    theme_id: int | None  # None: the theme is gone, so the bubble opens nothing
    name: str  # the theme's full current name (the tooltip)
    signal: str
    notes: int
    reporters: int
    x: float
    y: float
    r: float
    label: Label | None


@dataclass(frozen=True)
class Tick:
    value: float
    at: float  # x of an x tick, y of a y tick


@dataclass(frozen=True)
class SignalMap:
    bubbles: list[Bubble]  # largest first, so smaller ones are drawn on top and stay clickable
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    zero_y: float | None  # where growth is 0, when the range holds it
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    right: int = WIDTH - RIGHT


def build(points: Iterable[Mapping[str, Any]], themes: Mapping[int, tuple[int, str]]) -> SignalMap:
    """The map of a snapshot's points; `themes` maps a point's theme id to the live theme's id and
    current name (a merged theme's point opens the theme it lives on as)."""
    rows = [_row(p, themes) for p in points]
    radii = [min(4 + 3 * math.sqrt(max(r["reporters"], 0)), MAX_RADIUS) for r in rows]
    pad = max(radii, default=0) + 2
    x_ticks, x_low, x_high = _ticks(0.0, max((r["x"] for r in rows), default=0.0))
    y_ticks, y_low, y_high = _ticks(min([*(r["y"] for r in rows), 0.0]), max([*(r["y"] for r in rows), 0.0]))

    def at_x(v: float) -> float:
        return LEFT + pad + (WIDTH - RIGHT - LEFT - 2 * pad) * (v - x_low) / (x_high - x_low)

    def at_y(v: float) -> float:
        return HEIGHT - BOTTOM - pad - (HEIGHT - BOTTOM - TOP - 2 * pad) * (v - y_low) / (y_high - y_low)

    circles = [(at_x(r["x"]), at_y(r["y"]), radius) for r, radius in zip(rows, radii, strict=True)]
    labels = _place_labels(rows, circles)
    bubbles = [
        Bubble(r["theme_id"], r["name"], r["signal"], r["notes"], r["reporters"],
               round(cx, 1), round(cy, 1), round(radius, 1), labels.get(i))
        for i, (r, (cx, cy, radius)) in enumerate(zip(rows, circles, strict=True))
    ]  # fmt: skip
    return SignalMap(
        sorted(bubbles, key=lambda b: -b.r),
        [Tick(v, round(at_x(v), 1)) for v in x_ticks],
        [Tick(v, round(at_y(v), 1)) for v in y_ticks],
        round(at_y(0.0), 1) if y_low < 0 < y_high else None,
    )


def shorten(name: str, limit: int) -> str:
    """The name cut at a word boundary to at most `limit` characters, with an ellipsis if cut."""
    name = " ".join(name.split())
    if len(name) <= limit:
        return name
    cut = name[: limit - 1]
    if " " in cut and name[limit - 1] != " ":
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–") + "…"


def _row(p: Mapping[str, Any], themes: Mapping[int, tuple[int, str]]) -> dict[str, Any]:
    theme_id, name = themes.get(p.get("id") or 0, (None, str(p.get("name", ""))))
    return {
        "theme_id": theme_id,
        "name": name,
        "signal": str(p.get("signal", "")),
        "notes": int(_number(p.get("size"))),
        "reporters": int(_number(p.get("reporters"))),
        "x": _number(p.get("visibility")) * 100,
        "y": _number(p.get("emergence")),
    }


def _number(value: Any) -> float:
    # A snapshot is written by the workers; an odd value draws the bubble at 0 rather than failing.
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _ticks(low: float, high: float) -> tuple[list[float], float, float]:
    """About four round tick values covering low..high, and the range they span."""
    if high - low < 1e-9:
        high = low + 1
    raw = (high - low) / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    values = [round(i * step, 10) for i in range(first, last + 1)]
    return values, values[0], values[-1]


Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Circle = tuple[float, float, float]  # x, y, radius


def _place_labels(rows: list[dict[str, Any]], circles: list[Circle]) -> dict[int, Label]:
    """Each labelled point's label, by the point's index."""

    def importance(i: int) -> tuple[int, int, int]:
        return PRIORITY.get(rows[i]["signal"], 2), -rows[i]["reporters"], -rows[i]["notes"]

    placed: list[Box] = []
    labelled: set[int] = set()  # a theme that two stale points now both open is named once
    out: dict[int, Label] = {}
    for i in sorted(range(len(rows)), key=importance):
        name, theme_id = rows[i]["name"], rows[i]["theme_id"]
        if not name or theme_id in labelled:
            continue
        choice = _free_spot(name, circles[i], placed, circles[:i] + circles[i + 1 :])
        if choice is None and rows[i]["signal"] in PRIORITY:  # over bubbles, then over labels too
            choice = _free_spot(name, circles[i], placed, []) or _free_spot(name, circles[i], [], [])
        if choice is None:
            continue
        out[i], box = choice
        placed.append(box)
        if theme_id is not None:
            labelled.add(theme_id)
    return out


def _free_spot(
    name: str, bubble: Circle, placed: list[Box], others: list[Circle]
) -> tuple[Label, Box] | None:
    """The first spot beside the bubble (right, left, above, below, then the four corners) where the
    label, long or short, stays in the picture and crosses no placed label and no other bubble."""
    cx, cy, r = bubble
    side, corner, middle = r + GAP, r * 0.7 + GAP, cy + FONT * 0.35
    spots = [  # the anchor point, the text's anchor there, and whether the point is its box's bottom
        (cx + side, middle, "start", True), (cx - side, middle, "end", True),
        (cx, cy - side, "middle", True), (cx, cy + side, "middle", False),
        (cx + corner, cy - corner, "start", True), (cx + corner, cy + corner, "start", False),
        (cx - corner, cy - corner, "end", True), (cx - corner, cy + corner, "end", False),
    ]  # fmt: skip
    for text in dict.fromkeys(shorten(name, n) for n in LABEL_CHARS):
        w = len(text) * CHAR_WIDTH
        for x, y, anchor, bottom in spots:
            x0 = {"start": x, "end": x - w, "middle": x - w / 2}[anchor]
            y0 = y - FONT if bottom else y
            box = (x0, y0, x0 + w, y0 + FONT)
            inside = x0 >= 0 and x0 + w <= WIDTH and y0 >= 0 and y0 + FONT <= HEIGHT - BOTTOM
            clear = not any(_overlap(box, b) for b in placed) and not any(_covers(box, c) for c in others)
            if inside and clear:
                return Label(text, round(x, 1), round(y0 + FONT, 1), anchor), box
    return None


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _covers(box: Box, circle: Circle) -> bool:
    x, y, r = circle
    nearest_x, nearest_y = min(max(x, box[0]), box[2]), min(max(y, box[1]), box[3])
    return (x - nearest_x) ** 2 + (y - nearest_y) ** 2 < r * r
