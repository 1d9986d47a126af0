"""A released table drawn as an inline SVG chart: bars by category, a line over time.

Inline SVG keeps the console free of any script library or CDN. The chart is picked
from the column kinds: the first text or date column is the axis, the first numeric
column the value; a date-like axis draws a line, anything else bars. Noisy columns
get their 95 % interval as error bars, so nobody reads noise as a difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import pandas as pd

from service.web.formatting import show_number

__all__ = ["Chart", "chart_for"]

MAX_POINTS = 40
WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 16, 70


@dataclass(frozen=True)
class Chart:
    svg: str
    axis: str
    value: str
    shape: str  # "bar" or "line"
    points_shown: int
    points_total: int


def _axis_and_value(frame: pd.DataFrame) -> tuple[str, str] | None:
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    others = [c for c in frame.columns if c not in numeric]
    if not numeric or not others:
        return None
    return others[0], numeric[0]


def _is_time(values: pd.Series) -> bool:
    parsed = pd.to_datetime(values.astype(str), errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def chart_for(frame: pd.DataFrame, half_widths: dict[str, float], title: str) -> Chart | None:
    """The chart that fits this table, or None when no axis/value pair exists."""
    picked = _axis_and_value(frame)
    if picked is None or frame.empty:
        return None
    axis, value = picked
    rows = frame[[axis, value]].dropna()
    line = _is_time(rows[axis])
    rows = rows.sort_values(axis) if line else rows
    shown = rows.head(MAX_POINTS)
    labels = [str(v) for v in shown[axis]]
    values = [float(v) for v in shown[value]]
    spread = float(half_widths.get(value, 0.0))
    top = max([v + spread for v in values] + [0.0])
    bottom = min([v - spread for v in values] + [0.0])
    span = (top - bottom) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(v: float) -> float:
        return TOP + plot_h * (top - v) / span

    step = plot_w / max(len(values), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{y(0):.1f}" x2="{WIDTH - RIGHT}" y2="{y(0):.1f}" class="axis"/>',
        f'<text x="{LEFT - 6}" y="{y(top) + 4:.1f}" text-anchor="end">{show_number(top)}</text>',
        f'<text x="{LEFT - 6}" y="{y(bottom) + 4:.1f}" text-anchor="end">'
        f"{show_number(bottom)}</text>",
    ]
    centres = [LEFT + step * (i + 0.5) for i in range(len(values))]
    if line:
        path = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in zip(centres, values, strict=True))
        parts.append(f'<polyline points="{path}" class="series" fill="none"/>')
    for x, v, label in zip(centres, values, labels, strict=True):
        tip = f"{escape(label)}: {show_number(v)}" + (f" ± {show_number(spread)}" if spread else "")
        if not line:
            bar_top, bar_bottom = sorted((y(v), y(0)))
            parts.append(
                f'<rect x="{x - step * 0.35:.1f}" y="{bar_top:.1f}" width="{step * 0.7:.1f}" '
                f'height="{bar_bottom - bar_top:.1f}" class="series"><title>{tip}</title></rect>'
            )
        else:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y(v):.1f}" r="3" class="series">'
                f"<title>{tip}</title></circle>"
            )
        if spread:
            parts.append(
                f'<line x1="{x:.1f}" y1="{y(v + spread):.1f}" x2="{x:.1f}" '
                f'y2="{y(v - spread):.1f}" class="error-bar"/>'
            )
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="end" '
            f'transform="rotate(-40 {x:.1f} {HEIGHT - BOTTOM + 14})">{escape(label[:16])}</text>'
        )
    parts.append("</svg>")
    shape = "line" if line else "bar"
    return Chart("".join(parts), axis, value, shape, len(values), len(rows))
