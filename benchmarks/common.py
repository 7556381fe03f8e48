"""Shared helpers: where the real material is, and how results are written."""

from __future__ import annotations

import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
SHARED_DATA = ROOT.parent.parent / "shared" / "data"


def shared(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        sys.exit(f"{path} is missing: benchmarks read real recordings from ../shared/data")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def write_results(name: str, title: str, rows: list[dict[str, Any]], notes: list[str]) -> Path:
    """Write ``results/NAME.json`` and ``results/NAME.md`` (a Markdown table)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
    }
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows, "notes": notes}, indent=2))
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = [f"# {title}", "", f"{meta['when']} · Python {meta['python']} · {meta['machine']}", ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("| " + " | ".join("---" for _ in columns) + " |")
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    lines += [""] + [f"- {n}" for n in notes]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())
    return path


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)
