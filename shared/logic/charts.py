"""Bar charts as inline SVG, made in Python: no script, font, stylesheet or image to fetch
(decision 96). The digest page embeds them as they are."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 12, 36
"""Margins around the plot: the axis labels on the left, the category labels below."""
FADED_OPACITY = 0.45


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int | float]
    colour: str


@dataclass(frozen=True)
class BarChart:
    """Bars grouped by category (one bar per series in each). Categories in `faded` are drawn
    lighter (the previous period next to the current one)."""

    title: str
    categories: Sequence[str]
    series: Sequence[Series]
    faded: frozenset[int] = field(default_factory=frozenset)
    label_every: int = 1
    """Write every n-th category's label (24 hours do not fit otherwise)."""


def nice_ticks(top: float) -> list[float]:
    """Axis ticks from 0 to at least `top`, at a step of 1, 2 or 5 times a power of ten, at most
    five steps (0 and 1 when there is nothing to show)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if step < 1:  # counts: no fractional ticks
        step = 1
    count = math.ceil(top / step)
    return [i * step for i in range(count + 1)]


def bar_chart(chart: BarChart) -> Markup:
    """The chart as an `<svg>` element, each bar a `<rect class="bar">` with a `<title>` saying
    its category, series and value."""
    ticks = nice_ticks(max((v for s in chart.series for v in s.values), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(chart.categories), 1)
    bar_w = max(slot * 0.8 / max(len(chart.series), 1), 1.0)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / ticks[-1]

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="{WIDTH}" height="{HEIGHT}" aria-label="{escape(chart.title)}">',
        f"<title>{escape(chart.title)}</title>",
    ]
    for tick in ticks:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" class="axis">{tick:g}</text>'
        )
    for index, category in enumerate(chart.categories):
        x0 = LEFT + index * slot + slot * 0.1
        opacity = f' fill-opacity="{FADED_OPACITY}"' if index in chart.faded else ""
        for number, series in enumerate(chart.series):
            value = series.values[index]
            top = y(value)
            label = escape(f"{category}, {series.name}: {value:g}")
            parts.append(
                f'<rect class="bar" data-series="{escape(series.name)}" data-value="{value:g}"'
                f' x="{x0 + number * bar_w:.1f}" y="{top:.1f}" width="{bar_w:.1f}"'
                f' height="{TOP + plot_h - top:.1f}" fill="{escape(series.colour)}"{opacity}>'
                f"<title>{label}</title></rect>"
            )
        if index % chart.label_every == 0:
            parts.append(
                f'<text x="{LEFT + (index + 0.5) * slot:.1f}" y="{HEIGHT - BOTTOM + 14}"'
                f' text-anchor="middle" class="axis">{escape(category)}</text>'
            )
    parts.append(_legend(chart.series))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape)


def _legend(series: Sequence[Series]) -> str:
    items = []
    for number, one in enumerate(series):
        x = LEFT + number * 110
        items.append(
            f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{escape(one.colour)}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 5}" class="axis">{escape(one.name)}</text>'
        )
    return "".join(items)
