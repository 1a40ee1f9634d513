"""Chart geometry for server-rendered inline SVG.

Pure functions: numbers in, rectangles, polylines and tick labels out. The
templates draw them (autoescaped, like everything else), so there is no
script to load and nothing from the data ends up in markup unescaped. Colours
come from CSS classes (``series-0`` ...), which the Content-Security-Policy
allows, where inline ``style`` attributes would not be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

WIDTH = 960
HEIGHT = 260
LEFT = 56
RIGHT = 16
TOP = 14
BOTTOM = 36


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float]
    css: str


@dataclass(slots=True)
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    plot: tuple[float, float, float, float] = (LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM)
    bars: list[dict[str, object]] = field(default_factory=list)
    lines: list[dict[str, object]] = field(default_factory=list)
    yticks: list[dict[str, object]] = field(default_factory=list)
    xticks: list[dict[str, object]] = field(default_factory=list)
    legend: list[dict[str, str]] = field(default_factory=list)
    empty: bool = True


def nice_ceiling(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def count_ceiling(value: float) -> float:
    """Like :func:`nice_ceiling`, but small counts get whole-number ticks (4 steps)."""
    top = nice_ceiling(value)
    if top < 100 and top % 4:
        top = float(max(4, math.ceil(value / 4) * 4))
    return top


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%" if value * 100 >= 1 or value == 0 else f"{value * 100:.1f}%"
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def _xticks(chart: Chart, labels: Sequence[str], centre: callable) -> None:  # type: ignore[valid-type]
    if not labels:
        return
    room = max(1, int((chart.plot[2] - chart.plot[0]) // 80))  # a label every ~80px
    every = max(1, math.ceil(len(labels) / room))
    for index, label in enumerate(labels):
        if index % every == 0 or index == len(labels) - 1 and len(labels) <= room:
            chart.xticks.append({"x": round(centre(index), 1), "label": label})


def _yticks(chart: Chart, top: float, percent: bool) -> None:
    x0, y0, _, y1 = chart.plot
    for step in range(5):
        value = top * step / 4
        y = y1 - (y1 - y0) * step / 4
        chart.yticks.append({"y": round(y, 1), "label": _fmt(value, percent)})


def stacked_bars(labels: Sequence[str], series: Sequence[Series]) -> Chart:
    """One bar per label, its series stacked bottom-up."""
    chart = Chart()
    x0, y0, x1, y1 = chart.plot
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = count_ceiling(max(totals, default=0))
    chart.empty = not any(totals)
    chart.legend = [{"name": s.name, "css": s.css} for s in series]
    slot = (x1 - x0) / max(len(labels), 1)
    bar = max(1.0, min(48.0, slot * 0.72))
    _yticks(chart, top, percent=False)

    def centre(index: int) -> float:
        return x0 + slot * index + slot / 2

    for index, label in enumerate(labels):
        base = y1
        for s in series:
            value = s.values[index]
            if not value:
                continue
            h = (y1 - y0) * value / top
            base -= h
            chart.bars.append(
                {
                    "x": round(centre(index) - bar / 2, 2),
                    "y": round(base, 2),
                    "w": round(bar, 2),
                    "h": round(max(h, 0.5), 2),
                    "css": s.css,
                    "title": f"{label} · {s.name}: {value:,.0f}",
                }
            )
    _xticks(chart, labels, centre)
    return chart


def lines(labels: Sequence[str], series: Sequence[Series], percent: bool = True) -> Chart:
    """One polyline per series (fractions when ``percent``), with a dot per point."""
    chart = Chart()
    x0, y0, x1, y1 = chart.plot
    peak = max((v for s in series for v in s.values), default=0)
    top = min(1.0, nice_ceiling(peak)) if percent and peak <= 1 else nice_ceiling(peak)
    chart.empty = not labels
    chart.legend = [{"name": s.name, "css": s.css} for s in series]
    slot = (x1 - x0) / max(len(labels), 1)
    _yticks(chart, top, percent)

    def centre(index: int) -> float:
        return x0 + slot * index + slot / 2

    for s in series:
        points = []
        dots = []
        for index, value in enumerate(s.values):
            x = round(centre(index), 1)
            y = round(y1 - (y1 - y0) * value / top, 1)
            points.append(f"{x},{y}")
            shown = f"{value * 100:.2f}%" if percent else f"{value:,.0f}"
            dots.append({"x": x, "y": y, "title": f"{labels[index]} · {s.name}: {shown}"})
        chart.lines.append({"points": " ".join(points), "css": s.css, "dots": dots if len(dots) <= 120 else []})
    _xticks(chart, labels, centre)
    return chart
