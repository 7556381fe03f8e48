"""kill -9 soak: ``onrecord run`` (a real process) over a loopback feed of
real recordings, killed with SIGKILL at chosen stages (download,
transcription, diarization, indexing, alert delivery) again and again, then
left to finish. Afterwards every recording must be indexed once, with no
duplicate segment, chunk or vector, nothing left in work/, no orphan audio,
and every alert delivered to the loopback webhook: exactly once by
Idempotency-Key. Raw deliveries are counted too: a kill after the receiver
has the alert but before the run marks it sent makes the next run send it
again, with the same key, which the receiver drops.

``python -m benchmarks faults`` runs the long version (30 kills) and writes
results/faults.{md,json}; tests/test_soak.py runs a short one.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED_DATA, write_results
from tests.loopback import Channel, LoopbackServer
from tests.receivers import Receiver

STAGES = ("download", "transcription", "diarization", "indexing", "alerts")
IN_FLIGHT = "alerts (in flight: received, not yet marked sent)"
# Each alert's receiver takes this long to answer, so a kill can land while
# the alert is in flight: received, not yet marked sent.
RECEIVER_DELAY = 0.25
SAVED_SEARCHES = [
    ("call the roll", []),
    ("ask not what your country can do", []),
    ("printing arts and crafts", []),
    # Fires on every meeting (any passage is this close to itself), so
    # every run has alerts to deliver and to be killed during.
    ("meeting", ["--min-score", "-1"]),
]


@dataclass
class Kill:
    aimed: str
    landed: str
    seconds_into_run: float


@dataclass
class SoakResult:
    kills: list[Kill] = field(default_factory=list)
    missed: int = 0  # runs that ended before reaching the stage aimed at
    runs: int = 0
    final_exit: int | None = None
    recordings: int = 0
    checks: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def landed(self) -> Counter[str]:
        return Counter(k.landed for k in self.kills)

    def problems(self) -> list[str]:
        """Every invariant that does not hold, in words; empty when all do."""
        c = self.checks
        wanted = {
            "final run exit code": (self.final_exit, 0),
            "meetings": (c["meetings"], self.recordings),
            "meetings indexed": (c["indexed"], self.recordings),
            "duplicate meetings": (c["duplicate_meetings"], 0),
            "duplicate segments": (c["duplicate_segments"], 0),
            "duplicate chunks": (c["duplicate_chunks"], 0),
            "chunks without exactly one vector": (c["chunks_without_one_vector"], 0),
            "vector rows used twice": (c["vector_rows_reused"], 0),
            "meetings indexed more than once": (c["indexed_twice"], 0),
            "sqlite integrity": (c["integrity"], "ok"),
            "full-text index integrity": (c["fts_integrity"], "ok"),
            "folders left in work/": (c["work_left"], 0),
            "orphan audio files": (c["orphan_audio"], 0),
            "alerts not delivered": (c["alerts_undelivered"], 0),
            "alerts never received": (c["alerts_never_received"], 0),
            "deliveries of unknown alerts": (c["unknown_deliveries"], 0),
        }
        problems = [
            f"{what}: {got!r}, wanted {want!r}" for what, (got, want) in wanted.items() if got != want
        ]
        if c["repeated_deliveries"] > c["kills_in_delivery"]:
            problems.append("more repeated deliveries than kills during delivery")
        return problems

    def summary(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in asdict(self).items() if k not in ("kills", "checks")},
            "kills_done": len(self.kills),
            "landed": dict(self.landed),
            "checks": self.checks,
            "kills": [asdict(k) for k in self.kills],
        }


class _Watcher:
    """Which stage a run is in, read from outside as an operator would: its
    scratch folder, the catalog (read-only, WAL), and the webhook receiver."""

    def __init__(self, home: Path, receiver: Receiver) -> None:
        self.home, self.receiver = home, receiver
        self.db = home / "onrecord.db"
        self.conn: sqlite3.Connection | None = None

    def _query(self, sql: str) -> int:
        try:
            if self.conn is None:
                if not self.db.exists():
                    return 0
                self.conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1)
            return int(self.conn.execute(sql).fetchone()[0])
        except sqlite3.Error:
            return 0  # the schema is not there yet, or a writer holds it this instant

    def stage(self, pid: int, received_before: int) -> str:
        work = self.home / "work"
        # Scratch folders: work/<machine>/<pid>-…
        mine = list(work.glob(f"*/{pid}-*")) if work.exists() else []
        if any(folder.glob("*.part") for folder in mine):
            return "download"
        if len(self.receiver.received) > received_before:
            return "alerts"
        if self._query("SELECT count(*) FROM meetings WHERE status = 'indexing'"):
            return "indexing"
        transcribing = (
            "SELECT count(*) FROM meetings m WHERE m.status = 'transcribing' AND {} EXISTS"
            " (SELECT 1 FROM transcripts t WHERE t.audio_hash = m.audio_hash AND t.complete = 1)"
        )
        if self._query(transcribing.format("NOT")):
            return "transcription"
        if self._query(transcribing.format("")):
            return "diarization"
        if mine:
            return "audio extraction"
        return "other"

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class Soak:
    def __init__(
        self,
        folder: Path,
        initial: list[Path],
        pool: list[Path],
        seed: int = 11,
        rate: int = 512_000,
        log: Any = print,  # noqa: ANN401
    ) -> None:
        self.folder, self.rate, self.log = folder, rate, log
        self.random = random.Random(seed)
        self.initial, self.pool = list(initial), list(pool)
        self.pairs = list(itertools.permutations(pool, 2))
        self.random.shuffle(self.pairs)
        self.home = folder / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "ONRECORD_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        self.result = SoakResult()
        self.began = time.monotonic()

    def _cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "onrecord", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def _start_run(self, config: Path) -> subprocess.Popen[bytes]:
        self.result.runs += 1
        self.log(f"  run {self.result.runs} starts ({time.monotonic() - self.began:.0f} s in)")
        log = (self.folder / f"run-{self.result.runs:03d}.log").open("wb")
        # Its own process group, so its ffmpeg children die with it.
        return subprocess.Popen(
            [sys.executable, "-m", "onrecord", "run", "--config", str(config)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def run(self, kills: int) -> SoakResult:
        started = self.began = time.monotonic()
        www = self.folder / "www"
        www.mkdir(exist_ok=True)
        with LoopbackServer(www, rate=self.rate) as server, Receiver(delay=RECEIVER_DELAY) as receiver:
            channel = Channel(server)
            for path in self.initial:
                channel.add(f"Regular Meeting {path.stem}", path)
            config = self.folder / "sources.toml"
            config.write_text(
                "[run]\nretries = 1\nbackoff = 0.1\n\n"
                f'[[bodies]]\nname = "Springfield City Council"\nsources = ["{server.url("feed.xml")}"]\n'
            )
            (self.home / "settings.toml").write_text("allow_private_webhooks = 1\n")
            for query, extra in SAVED_SEARCHES:
                added = self._cli("alerts", "add", query, "--notify", f"webhook:{receiver.url()}", *extra)
                assert added.returncode == 0, added.stdout + added.stderr
            watcher = _Watcher(self.home, receiver)
            try:
                self._kill_loop(kills, config, channel, receiver, watcher)
                final = self._start_run(config)
                self.result.final_exit = final.wait(timeout=900)
            finally:
                watcher.close()
            self.result.recordings = len(channel.items)
            self.result.checks = self._check(receiver)
        self.result.seconds = round(time.monotonic() - started, 1)
        return self.result

    def _kill_loop(
        self, kills: int, config: Path, channel: Channel, receiver: Receiver, watcher: _Watcher
    ) -> None:
        aims = [STAGES[i % len(STAGES)] for i in range(kills)]
        attempts = 0
        while aims and attempts < 3 * kills + 5:
            attempts += 1
            aim = aims[0]
            if attempts > 1:
                # Fresh work for every run: one more recording in the feed.
                path = self._next_recording()
                channel.add(f"Regular Meeting {path.stem}", path)
            kill = self._one_run(aim, config, receiver, watcher)
            if kill is None:
                self.result.missed += 1
                self.log(f"  run {self.result.runs}: ended before reaching {aim}")
                aims.append(aims.pop(0))  # aim at the next stage; this one comes round again
                continue
            aims.pop(0)
            self.result.kills.append(kill)
            self.log(f"  kill {len(self.result.kills)}: aimed at {aim}, landed in {kill.landed}")

    def _next_recording(self) -> Path:
        """The next clip of the pool; once it runs out, two clips joined
        (new audio, still real speech), so every run has work to do."""
        if self.pool:
            return self.pool.pop(0)
        from ingest.audio import ffmpeg_exe

        first, second = self.pairs.pop(0)  # never the same pair twice: the same audio is one meeting
        made = self.folder / "made"
        made.mkdir(exist_ok=True)
        out = made / f"{first.stem}+{second.stem}.wav"
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(first), "-i", str(second),
             "-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1", str(out)],
            check=True,
        )  # fmt: skip
        return out

    def _one_run(self, aim: str, config: Path, receiver: Receiver, watcher: _Watcher) -> Kill | None:
        received_before = len(receiver.received)
        in_flight = aim == "alerts" and self.random.random() < 0.5
        proc = self._start_run(config)
        begun = time.monotonic()
        done = threading.Event()

        def kill_now() -> None:
            if not done.is_set():
                done.set()
                os.killpg(proc.pid, signal.SIGKILL)

        if in_flight:
            # Inside the receiver, after it has the alert, before it answers.
            receiver.on_receipt = kill_now
        try:
            while proc.poll() is None and not done.is_set():
                if time.monotonic() - begun > 600:
                    kill_now()
                    return Kill(aim, "stuck (ten minutes)", 600.0)
                if not in_flight and watcher.stage(proc.pid, received_before) == aim:
                    time.sleep(self.random.uniform(0.0, 0.3))
                    landed = watcher.stage(proc.pid, received_before)
                    if proc.poll() is None:
                        kill_now()
                        return Kill(aim, landed, round(time.monotonic() - begun, 2))
                time.sleep(0.02)
            if done.is_set():
                return Kill(aim, IN_FLIGHT, round(time.monotonic() - begun, 2))
            return None
        finally:
            receiver.on_receipt = None
            proc.wait(timeout=60)

    def _check(self, receiver: Receiver) -> dict[str, Any]:
        conn = sqlite3.connect(self.home / "onrecord.db")
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        try:
            uids = {r[0] for r in conn.execute("SELECT uid FROM alerts")}
            keys = receiver.keys
            received = {k.removeprefix("onrecord-alert-") for k in keys}
            audio_files = {p.name for p in (self.home / "audio").glob("*")}
            used = conn.execute("SELECT audio_path FROM meetings WHERE audio_path IS NOT NULL")
            used_audio = {Path(r[0]).name for r in used}
            return {
                "meetings": one("SELECT count(*) FROM meetings"),
                "indexed": one("SELECT count(*) FROM meetings WHERE status = 'indexed'"),
                "duplicate_meetings": one(
                    "SELECT count(*) - count(DISTINCT source_key)"
                    " + count(audio_hash) - count(DISTINCT audio_hash) FROM meetings"
                ),
                "segments": one("SELECT count(*) FROM segments"),
                "duplicate_segments": one(
                    "SELECT count(*) FROM (SELECT 1 FROM segments GROUP BY meeting_id, start_time, text"
                    " HAVING count(*) > 1)"
                ),
                "chunks": one("SELECT count(*) FROM chunks"),
                "duplicate_chunks": one(
                    "SELECT count(*) FROM (SELECT 1 FROM chunks GROUP BY meeting_id, start_time, text"
                    " HAVING count(*) > 1)"
                ),
                "chunks_without_one_vector": one(
                    "SELECT count(*) FROM chunks c WHERE (SELECT count(*) FROM chunk_vectors v"
                    " WHERE v.chunk_id = c.id) != 1"
                ),
                "vector_rows_reused": one(
                    "SELECT count(*) - count(DISTINCT model || ':' || row) FROM chunk_vectors"
                ),
                "indexed_twice": one("SELECT count(*) - count(DISTINCT meeting_id) FROM indexed_meetings"),
                "integrity": one("PRAGMA integrity_check"),
                "fts_integrity": _fts_integrity(conn),
                # Scratch folders sit under work/<machine>/.
                "work_left": len(list((self.home / "work").glob("*/*"))),
                "orphan_audio": len(audio_files - used_audio),
                "alerts": len(uids),
                "alerts_undelivered": one("SELECT count(*) FROM alerts WHERE delivered_at IS NULL"),
                "alerts_never_received": len(uids - received),
                "unknown_deliveries": len(received - uids),
                "received_raw": sum(keys.values()),
                "received_distinct": len(keys),
                "repeated_deliveries": sum(n - 1 for n in keys.values()),
                "kills_in_flight": sum(k.landed == IN_FLIGHT for k in self.result.kills),
                "kills_in_delivery": sum(k.landed.startswith("alerts") for k in self.result.kills),
            }
        finally:
            conn.close()


def _fts_integrity(conn: sqlite3.Connection) -> str:
    try:
        conn.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.Error as exc:
        return str(exc)
    return "ok"


def recordings() -> tuple[list[Path], list[Path]]:
    """The first feed (a real council meeting, a speech, two speakers) and
    the pool each later run adds one from (LJ Speech clips)."""
    speech = SHARED_DATA / "speech"
    initial = [
        SHARED_DATA / "meetings" / "seattle-council-special-2017-10-05.mp4",
        speech / "jfk.flac",
        speech / "two-speakers.wav",
    ]
    pool = sorted((speech / "ljspeech").glob("LJ001-*.wav"))
    return initial, pool


def _table(result: SoakResult, problems: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    c = result.checks
    pairs = [
        ("kills (SIGKILL to the run's process group)", len(result.kills)),
        *((f"  landed in {stage}", n) for stage, n in sorted(result.landed.items())),
        ("runs (killed, ended early, final)", result.runs),
        ("runs that ended before the stage aimed at", result.missed),
        ("final run exit code", result.final_exit),
        (
            "recordings in the feed / meetings / indexed",
            f"{result.recordings} / {c['meetings']} / {c['indexed']}",
        ),
        ("segments / chunks", f"{c['segments']} / {c['chunks']}"),
        (
            "duplicate meetings / segments / chunks",
            f"{c['duplicate_meetings']} / {c['duplicate_segments']} / {c['duplicate_chunks']}",
        ),
        (
            "chunks without exactly one vector / vector rows reused",
            f"{c['chunks_without_one_vector']} / {c['vector_rows_reused']}",
        ),
        ("SQLite and FTS5 integrity", f"{c['integrity']} / {c['fts_integrity']}"),
        ("left in work/ / orphan audio files", f"{c['work_left']} / {c['orphan_audio']}"),
        ("alerts in the outbox / delivered", f"{c['alerts']} / {c['alerts'] - c['alerts_undelivered']}"),
        ("webhook deliveries: distinct keys / raw", f"{c['received_distinct']} / {c['received_raw']}"),
        (
            "raw repeats (same key) / kills in delivery / of them in flight",
            f"{c['repeated_deliveries']} / {c['kills_in_delivery']} / {c['kills_in_flight']}",
        ),
        ("wall time, s", result.seconds),
    ]
    notes = [
        "onrecord run is a real subprocess (faster-whisper tiny.en, resemblyzer, MiniLM, SQLite) over an RSS"
        " feed of real recordings served on loopback at 1 MB/s; each later run adds one LJ Speech clip"
        " (then two clips joined, once the 16 are used)",
        "a kill is aimed at a stage (round robin) and lands 0-300 ms after the stage is seen from outside;"
        " alert kills hit either while the receiver holds the alert (in flight) or between alerts",
        "a kill between sending and marking makes the next run send that alert again with the same"
        " Idempotency-Key, which the receiver drops; raw repeats are at most the kills that landed there",
        "invariants: " + ("all hold" if not problems else "FAILED: " + "; ".join(problems)),
        f"load average at the end: {os.getloadavg()[0]:.1f}",
    ]
    return [{"what": what, "value": value} for what, value in pairs], notes


def main(kills: int = 30) -> None:
    initial, pool = recordings()
    for path in initial:
        if not path.exists():
            sys.exit(f"{path} is missing: the soak feeds real recordings from ../shared/data")
    with tempfile.TemporaryDirectory(prefix="onrecord-soak-") as tmp:
        soak = Soak(Path(tmp), initial, pool, seed=11, rate=1_000_000)
        print(f"kill -9 soak: {kills} kills")
        result = soak.run(kills)
        logs = Path(tmp)
        problems = result.problems()
        if problems:
            keep = Path(tempfile.mkdtemp(prefix="onrecord-soak-failed-"))
            shutil.copytree(logs, keep, dirs_exist_ok=True)
            print(f"kept the failed soak's data in {keep}")
    rows, notes = _table(result, problems)
    path = write_results("faults", f"kill -9 soak: {len(result.kills)} kills of onrecord run", rows, notes)
    detail = {"result": result.summary(), "rows": rows, "notes": notes}
    path.with_suffix(".json").write_text(json.dumps(detail, indent=2))
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
