"""The timeline as a server-rendered SVG bar chart: no script, no inline
style (the CSP allows neither), so it works offline and for everyone.
Bars stack one series per body; each piece is a plain link that narrows
the search to its period and body."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from typing import Any

from search.timeline import Timeline

WIDTH, HEIGHT = 760, 170
LEFT, BOTTOM, TOP = 34, 22, 8
SERIES = 6  # colours in style.css: .series-0 … .series-5
MAX_MONTHS = 240
MAX_BAR = 48.0


@dataclass
class Piece:
    x: float
    y: float
    width: float
    height: float
    series: int
    href: str
    label: str


def _months(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last and len(out) < MAX_MONTHS:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _span(period: str) -> tuple[str, str]:
    if len(period) == 10:
        return period, period
    year, month = int(period[:4]), int(period[5:7])
    return f"{period}-01", f"{period}-{calendar.monthrange(year, month)[1]:02d}"


def chart(found: Timeline, link: Any) -> dict[str, Any] | None:
    """What the template draws: ``link(since, until, body)`` makes the
    narrowing address of a piece."""
    if not found.buckets:
        return None
    if found.per == "month":
        periods = _months(found.buckets[0].period, found.buckets[-1].period)
    else:
        periods = sorted({b.period for b in found.buckets})
    bodies = sorted({b.body for b in found.buckets})
    by = {(b.period, b.body): b.count for b in found.buckets}
    tallest = max(sum(by.get((p, body), 0) for body in bodies) for p in periods)
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    step = plot_w / len(periods)
    bar = max(1.0, min(step * 0.8, MAX_BAR))
    pieces: list[Piece] = []
    ticks = []
    every = max(1, round(len(periods) / 8))
    for n, period in enumerate(periods):
        x = LEFT + n * step + (step - bar) / 2
        y = TOP + plot_h
        for s, body in enumerate(bodies):
            value = by.get((period, body), 0)
            if not value:
                continue
            height = max(1.0, plot_h * value / tallest)
            y -= height
            since, until = _span(period)
            noun = "passage" if value == 1 else "passages"
            pieces.append(
                Piece(
                    round(x, 1),
                    round(y, 1),
                    round(bar, 1),
                    round(height, 1),
                    s % SERIES,
                    link(since, until, body),
                    f"{value} matching {noun}, {body}, {period}",
                )
            )
        if n % every == 0:
            ticks.append({"x": round(LEFT + n * step + step / 2, 1), "label": period})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "baseline": TOP + plot_h,
        "top": TOP,
        "tallest": tallest,
        "pieces": pieces,
        "ticks": ticks,
        "legend": [{"body": body, "series": s % SERIES} for s, body in enumerate(bodies)],
        "per": found.per,
        "first": periods[0],
        "last": periods[-1],
    }
