"""Run every benchmark: ``python -m benchmarks [name …]``."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "pipeline",
    "transcription",
    "diarization",
    "retrieval",
    "judged",
    "alert_threshold",
    "load",
    "scale",
    "votes",
    "chapters",
    "timeline",
    "faults",
]

if __name__ == "__main__":
    for name in sys.argv[1:] or BENCHMARKS:
        importlib.import_module(f"benchmarks.{name}").main()
