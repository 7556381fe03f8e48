"""Speaker encoders and clusterings side by side, on the tune and held-out
halves of the diarization sets (benchmarks/diarization_sets.py).

Each diarizer embeds each material once, timed (VAD, windows, encoder);
every clustering variant then labels the same vectors, so variants differ
only in how they group them. The shipped configuration of each encoder was
chosen on the tune rows alone.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.diarization_sets import SAMPLE_RATE, Material
from catalog.types import Segment
from transcribe.diarize import array_loader, get_diarizer
from transcribe.turns import Turn, assign_speakers

# (diarizer, label, options): the first of each diarizer is what it ships.
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("resemblyzer", "shipped: cut 0.25 + merge 0.89", {}),
    ("resemblyzer", "before: cut 0.31, no merge", {"threshold": 0.31, "merge_at": None}),
    ("resemblyzer", "cut 0.25, no merge", {"merge_at": None}),
    ("resemblyzer", "spectral", {"clustering": "spectral"}),
    ("campplus", "shipped: spectral + merge 0.80", {}),
    ("campplus", "spectral, no merge", {"merge_at": None}),
    ("campplus", "cut 0.40, no merge", {"clustering": "agglomerative", "threshold": 0.40, "merge_at": None}),
]


def score(material: Material, turns: list[Turn], segments: list[Segment]) -> dict[str, Any]:
    from benchmarks.diarization import clip, der, word_accuracy

    reference, hypothesis = clip(material.reference, material.scored), clip(turns, material.scored)
    scored = der(reference, hypothesis) if hypothesis else {"der": 1.0}
    ref_count, found = len({t.label for t in reference}), len({t.label for t in turns})
    return {
        "DER": round(scored["der"], 3),
        "DER, no collar": round(der(reference, hypothesis, collar=0)["der"], 3) if hypothesis else 1.0,
        "speakers (ref / found)": f"{ref_count} / {found}",
        "count error": found - ref_count,
        "words right": round(word_accuracy(assign_speakers(segments, turns), reference, hypothesis), 3),
    }


def compare(materials: list[Material], segments: list[list[Segment]]) -> list[dict[str, Any]]:
    """One row per (variant, material), then a summary per (variant, split)."""
    rows: list[dict[str, Any]] = []
    for name in dict.fromkeys(v[0] for v in VARIANTS):
        diarizer = get_diarizer(name)
        for material, words in zip(materials, segments, strict=True):
            started, cpu = time.perf_counter(), time.process_time()
            embedded = diarizer.embed_meeting(array_loader(material.audio))
            shipped = diarizer.label(*embedded)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            minutes = len(material.audio) / SAMPLE_RATE / 60
            for model, label, options in VARIANTS:
                if model != name:
                    continue
                found = shipped if not options else get_diarizer(name, **options).label(*embedded)
                row = {"diarizer": f"{name}, {label}", "set": material.name, "split": material.split}
                row["audio s"] = round(len(material.audio) / SAMPLE_RATE)
                row |= score(material, found.turns, words)
                if not options:
                    row["s per audio min"] = round(wall / minutes, 2)
                    row["CPU s per audio min"] = round(cpu / minutes, 2)
                rows.append(row)
    return rows + summary(rows)


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for variant in dict.fromkeys(r["diarizer"] for r in rows):
        for split in ("tune", "held-out"):
            mine = [r for r in rows if r["diarizer"] == variant and r["split"] == split]
            row: dict[str, Any] = {
                "diarizer": variant,
                "set": f"ALL {split} ({len(mine)} sets)",
                "split": split,
            }
            row["DER"] = round(float(np.mean([r["DER"] for r in mine])), 3)
            row["words right"] = round(float(np.mean([r["words right"] for r in mine])), 3)
            row["worst words right"] = min(r["words right"] for r in mine)
            row["sets with count within one"] = (
                f"{sum(abs(r['count error']) <= 1 for r in mine)} / {len(mine)}"
            )
            row["count error"] = " ".join(f"{r['count error']:+d}" for r in mine)
            timed = [r for r in mine if "s per audio min" in r]
            if timed:
                audio = sum(r["audio s"] for r in timed)
                row["s per audio min"] = round(
                    sum(r["s per audio min"] * r["audio s"] for r in timed) / audio, 2
                )
                row["CPU s per audio min"] = round(
                    sum(r["CPU s per audio min"] * r["audio s"] for r in timed) / audio, 2
                )
            out.append(row)
    return out


def _diarize_file(path: str, name: str) -> tuple[float, float, float]:
    """In a fresh process, on one thread: diarize a file a block at a time as
    the pipeline does; wall s, CPU s and peak RSS (MB, models included)."""
    import torch
    from threadpoolctl import threadpool_limits

    from ingest import load_audio

    torch.set_num_threads(1)
    threadpool_limits(1)
    diarizer = get_diarizer(name)
    started, cpu = time.perf_counter(), time.process_time()
    diarizer.run(lambda start, seconds: load_audio(Path(path), start, seconds))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    return wall, cpu, peak


def memory(material: Material, work: Path) -> list[dict[str, Any]]:
    """Each diarizer on the same file, each in a fresh process."""
    import soundfile

    path = work / "memory.wav"
    soundfile.write(path, material.audio, SAMPLE_RATE)
    minutes = len(material.audio) / SAMPLE_RATE / 60
    rows = []
    for name in dict.fromkeys(v[0] for v in VARIANTS):
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            wall, cpu, peak = pool.submit(_diarize_file, str(path), name).result()
        rows.append(
            {
                "diarizer": f"{name}, from a file in a fresh process",
                "set": material.name,
                "audio s": round(minutes * 60),
                "s per audio min": round(wall / minutes, 2),
                "CPU s per audio min": round(cpu / minutes, 2),
                "peak RSS MB": round(peak),
            }
        )
    return rows
