"""Small charts drawn on the server as SVG: no script, no network, print as they show.

A chart has a value axis (gridlines at round values, written short in the reader's
language: "Rp1,5 jt", "IDR 1.5M", "25") and labels under the bars that never run into
each other: as many as fit, the others left out (each bar still says its label and exact
value in its tooltip). Text is sized for the narrowest screen the chart is drawn at,
a phone's: the picture scales to its box, so its letters are drawn large."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

#: Characters of a label's width and height in the picture's units (the text is drawn
#: at FONT_SIZE units; an average glyph is a bit more than half as wide).
FONT_SIZE = 15
GLYPH_WIDTH = 8.5


def nice_step(peak: float, ticks: int = 4) -> float:
    """The round step (1, 2 or 5 times a power of ten) that divides 0..peak in at most
    `ticks` intervals."""
    if peak <= 0:
        return 1
    raw = peak / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def bar_chart(
    points: Sequence[tuple[str, float | int]],
    *,
    title: str,
    value_label: Callable[[float | int], str] = str,
    axis_label: Callable[[float | int], str] | None = None,
    width: int = 640,
    height: int = 260,
    every: int = 1,
) -> Markup:
    """Vertical bars, one per (label, value), with a value axis on the left (`axis_label`
    writes its values, `value_label` by default) and every `every`-th label under its
    bar, or fewer when they would overlap; each bar carries its label and exact value
    (`value_label`) as a tooltip."""
    axis_label = axis_label or value_label
    peak = max((v for _, v in points), default=0)
    step = nice_step(peak)
    top_value = step * max(1, math.ceil(peak / step)) if peak > 0 else step
    ticks = [step * i for i in range(round(top_value / step) + 1)]
    tick_texts = [axis_label(int(t) if float(t).is_integer() else t) for t in ticks]
    left = 10 + GLYPH_WIDTH * max((len(t) for t in tick_texts), default=1)
    right, bottom, top = 8, FONT_SIZE + 12, 12
    inner_w, inner_h = width - left - right, height - bottom - top
    slot = inner_w / max(len(points), 1)
    bar = max(slot * 0.7, 1)
    widest = max((len(label) for label, _ in points), default=1) * GLYPH_WIDTH + 6
    every = max(every, math.ceil(widest / slot)) if points else every
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for value, text in zip(ticks, tick_texts, strict=True):
        y = top + inner_h - inner_h * (value / top_value)
        parts.append(
            f'<line class="grid" x1="{left:.1f}" y1="{y:.1f}" x2="{left + inner_w:.1f}" '
            f'y2="{y:.1f}"/>'
            f'<text class="tick value" x="{left - 6:.1f}" y="{y + FONT_SIZE / 3:.1f}" '
            f'text-anchor="end">{escape(text)}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{left:.1f}" y1="{top + inner_h}" x2="{left + inner_w:.1f}" '
        f'y2="{top + inner_h}"/>'
    )
    for index, (label, value) in enumerate(points):
        h = inner_h * (value / top_value) if value > 0 else 0
        x = left + index * slot + (slot - bar) / 2
        y = top + inner_h - h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {escape(value_label(value))}</title></rect>"
        )
        if index % every == 0:
            parts.append(
                f'<text class="tick" x="{x + bar / 2:.1f}" y="{height - 8}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
