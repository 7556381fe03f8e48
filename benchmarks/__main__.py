"""Run every benchmark: ``python -m benchmarks [name …]``, or one with its
options: ``python -m benchmarks long_meeting --hours 0.5``."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "pipeline",
    "transcription",
    "long_meeting",
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
    "pg_retrieval",
    "pg_scale",
    "pg_workers",
]

if __name__ == "__main__":
    args = sys.argv[1:]
    options = next((i for i, a in enumerate(args) if a.startswith("-")), len(args))
    names, rest = args[:options] or BENCHMARKS, args[options:]
    if rest and len(names) != 1:
        sys.exit("options go with one benchmark: python -m benchmarks long_meeting --hours 0.5")
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        module.main(rest) if rest else module.main()
