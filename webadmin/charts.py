"""Small charts drawn on the server as SVG: no script, no network, print as they show."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape


def bar_chart(
    points: Sequence[tuple[str, float | int]],
    *,
    title: str,
    value_label=str,
    width: int = 640,
    height: int = 200,
    every: int = 1,
) -> Markup:
    """Vertical bars, one per (label, value); every `every`-th label is written under
    its bar, and each bar carries its exact value as a tooltip."""
    left, bottom, top = 8, 22, 10
    inner_w, inner_h = width - 2 * left, height - bottom - top
    peak = max((v for _, v in points), default=0) or 1
    slot = inner_w / max(len(points), 1)
    bar = max(slot * 0.7, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{top + inner_h}" x2="{left + inner_w}" '
        f'y2="{top + inner_h}"/>',
    ]
    for index, (label, value) in enumerate(points):
        h = inner_h * (value / peak) if value > 0 else 0
        x = left + index * slot + (slot - bar) / 2
        y = top + inner_h - h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {escape(value_label(value))}</title></rect>"
        )
        if index % every == 0:
            parts.append(
                f'<text class="tick" x="{x + bar / 2:.1f}" y="{height - 6}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
