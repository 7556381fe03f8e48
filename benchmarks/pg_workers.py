"""Ingest throughput with 1, 2 and 3 workers on this machine: the same queue
of real recordings (../shared/data) drained by ``onrecord worker
--concurrency N --until-idle`` into a fresh PostgreSQL database, each N
from scratch (models warm on disk, nothing cached in the catalog).

``python -m benchmarks pg_workers``. Diarization on, tiny.en, as a nightly
worker would run; the figure is audio seconds made searchable per wall
second, and the speed-up over one worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, write_results

DATA = ROOT.parent.parent / "shared" / "data"
RECORDINGS = [
    "meetings/seattle-council-special-2017-10-05.mp4",
    "speech/two-speakers.wav",
    "speech/jfk.flac",
    *[f"speech/ljspeech/LJ001-{i:04d}.wav" for i in range(1, 7)],
]
CONCURRENCY = (1, 2, 3)


def onrecord(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "onrecord", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"onrecord {' '.join(args)}: {done.stdout}{done.stderr}")
    return done


def audio_seconds(files: list[Path]) -> float:
    import soundfile

    total = 0.0
    for f in files:
        if f.suffix == ".mp4":
            total += 181.0  # the Seattle meeting (DATA's README); soundfile cannot read mp4
        else:
            total += soundfile.info(str(f)).duration
    return total


def main() -> None:
    sys.path.insert(0, str(ROOT.parent))
    from tests.pg import LocalPostgres

    files = [DATA / r for r in RECORDINGS]
    audio = audio_seconds(files)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, LocalPostgres() as pg:
        for n in CONCURRENCY:
            home = Path(tmp) / f"home-{n}"
            env = {**os.environ, "ONRECORD_HOME": str(home), "ONRECORD_DATABASE_URL": pg.create_database()}
            onrecord(env, "db", "upgrade")
            onrecord(env, "enqueue", *map(str, files))
            started = time.perf_counter()
            onrecord(env, "worker", "--concurrency", str(n), "--until-idle")
            wall = time.perf_counter() - started
            listed = onrecord(env, "meetings", "--json").stdout
            indexed = listed.count('"status": "indexed"')
            rows.append(
                {
                    "workers": n,
                    "recordings": len(files),
                    "indexed": indexed,
                    "audio s": round(audio, 1),
                    "wall s": round(wall, 1),
                    "x real time": round(audio / wall, 2),
                }
            )
    one = rows[0]["wall s"]
    for row in rows:
        row["speed-up vs 1"] = round(one / row["wall s"], 2)
    write_results(
        "pg_workers",
        "Ingest throughput: 1, 2 and 3 workers over one PostgreSQL queue",
        rows,
        [
            f"{len(files)} real recordings from ../shared/data ({audio:.0f} s of audio), queued with"
            " onrecord enqueue and drained by onrecord worker --concurrency N --until-idle;"
            " a fresh database for each N",
            "each worker process loads its own models (tiny.en, MiniLM, resemblyzer): included in wall time;"
            " each also runs as many threads as the machine has cores (CTranslate2, torch), so on 2 cores a"
            " second process adds contention, not capacity: workers scale by machines",
            f"load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}",
        ],
    )


if __name__ == "__main__":
    main()
