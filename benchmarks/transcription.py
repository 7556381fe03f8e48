"""Transcription: faster-whisper against openai-whisper on the same tiny.en
weights, side by side in one run.

- WER against gold transcripts (LJ Speech's 16 clips, JFK, the two-speaker
  sample from 6.5 s on, where its transcript starts), normalised with
  openai-whisper's EnglishTextNormalizer;
- speed (audio seconds per wall second) on those clips and on the real
  181 s Seattle meeting (no gold there: speed only);
- peak memory: each configuration runs in its own subprocess;
- local vocabulary on and off, on a scripted hearing (espeak-ng voices)
  full of names and acronyms that Whisper cannot know how to spell.

The machine is shared and noisy, so compare ratios within one run.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import shared, write_results

TWO_SPEAKERS_FROM = 6.5  # its .stm transcribes nothing before 6.68 s
SAMPLE_RATE = 16000
SEATTLE = "meetings/seattle-council-special-2017-10-05.mp4"
JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)

VOCABULARY = [
    "Chief Lando",
    "Councilmember O'Connor",
    "Councilmember Mosqueda",
    "Councilmember Juarez",
    "Councilmember Sawant",
    "Councilmember Bagshaw",
    "Mayor Harrell",
    "Duwamish",
    "Tukwila",
    "ICE",
    "SPD",
    "287(g)",
]
# What a reporter would search for. All-capital terms count only in capitals:
# "ice" is not the agency.
NAMES = ["Lando", "O'Connor", "Mosqueda", "Juarez", "Sawant", "Bagshaw", "Harrell", "Duwamish", "Tukwila"]
NAMES += ["Councilmember", "ICE", "SPD", "287(g)"]
# (espeak-ng voice, what is said, how it is written when that differs)
HEARING: list[tuple[str, str, str | None]] = [
    ("en-us+m3", "The public safety committee will come to order. The clerk will call the roll.", None),
    ("en-us+f2", "Councilmember Oh Connor.", "Councilmember O'Connor."),
    ("en-gb+m4", "Present.", None),
    ("en-us+f2", "Councilmember Mosqueda.", None),
    ("en-us+f4", "Here.", None),
    ("en-us+f2", "Councilmember Juarez.", None),
    ("en-us+m3", "Present. Thank you. Chief Lando, the floor is yours.", None),
    (
        "en-gb+m2",
        "Thank you. As of today the two eighty seven gee agreement with ice ends, "
        "and S P D officers will not hold anyone for immigration agents.",
        "Thank you. As of today the 287(g) agreement with ICE ends, "
        "and SPD officers will not hold anyone for immigration agents.",
    ),
    (
        "en-us+f2",
        "Chief Lando, does the Tukwila jail still share booking data with ice?",
        "Chief Lando, does the Tukwila jail still share booking data with ICE?",
    ),
    (
        "en-gb+m2",
        "No. Tukwila stopped in March, and the Duwamish tribe asked us to put that in writing.",
        None,
    ),
    ("en-us+f4", "Councilmember Sawant asked Mayor Harrell to sign the ordinance this week.", None),
    (
        "en-us+m3",
        "For the record, Chief Lando said the two eighty seven gee agreement with ice ends.",
        "For the record, Chief Lando said the 287(g) agreement with ICE ends.",
    ),
    ("en-us+m3", "Councilmember Bagshaw moves to adopt the report. Is there a second?", None),
    ("en-us+f2", "Second.", None),
    ("en-us+m3", "All in favor say aye. The motion carries, and we are adjourned.", None),
]

# (configuration, engine, constructor options, vocabulary on). The engine's
# own defaults are what "default" measures.
CONFIGS: list[tuple[str, str, dict[str, Any], bool]] = [
    ("anchor: beam 5, no VAD", "openai-whisper", {"beam_size": 5}, False),
    ("anchor: beam 5, no VAD", "openai-whisper", {"beam_size": 5}, True),
    ("default", "faster-whisper", {}, False),
    ("default", "faster-whisper", {}, True),
    ("windows packed full (regions cut)", "faster-whisper", {"pack_cuts": True}, False),
    ("batched 8, greedy", "faster-whisper", {"beam_size": 1, "batch_size": 8}, False),
]
# Minutes of the long-meeting recording (benchmarks/long_meeting.py, built
# once into benchmarks/.cache) transcribed for a WER over packed windows:
# the gold clips alone are each shorter than one window.
LONG_MINUTES = 8.0


# -- material -------------------------------------------------------------
def make_hearing(folder: Path) -> tuple[Path, str]:
    """A scripted committee hearing in several espeak-ng voices, and its text."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if not espeak or not sox:
        sys.exit("the vocabulary benchmark needs espeak-ng and sox: apt-get install espeak-ng sox")
    lines = []
    for i, (voice, said, _) in enumerate(HEARING):
        lines.append(folder / f"line{i:02d}.wav")
        subprocess.run([espeak, "-v", voice, "-s", "155", "-w", str(lines[-1]), said], check=True)
    pause = folder / "pause.wav"
    subprocess.run([sox, "-n", "-r", "22050", "-c", "1", str(pause), "trim", "0", "0.6"], check=True)
    joined = [str(p) for line in lines for p in (line, pause)]
    hearing = folder / "hearing.wav"
    subprocess.run([sox, *joined, "-r", str(SAMPLE_RATE), "-c", "1", str(hearing)], check=True)
    return hearing, " ".join(written or said for _, said, written in HEARING)


def gold_clips() -> list[tuple[str, Path, float, str]]:
    """(name, file, start second, reference text) for every clip with gold text."""
    tsv = shared("speech/ljspeech/transcripts.tsv").read_text().splitlines()
    clips = [
        (cid, shared(f"speech/ljspeech/{cid}.wav"), 0.0, text)
        for cid, text in (row.split("\t", 1) for row in tsv)
    ]
    clips.append(("jfk", shared("speech/jfk.flac"), 0.0, JFK))
    stm = shared("speech/two-speakers.stm").read_text().splitlines()
    reference = " ".join(line.split(None, 5)[5] for line in stm if line.strip())
    clips.append(("two-speakers", shared("speech/two-speakers.wav"), TWO_SPEAKERS_FROM, reference))
    return clips


# -- scoring ----------------------------------------------------------------
def wer(pairs: list[tuple[str, str]]) -> float:
    """Corpus WER over (reference, hypothesis) pairs, after Whisper's English normaliser."""
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    return jiwer.wer([norm(r) for r, _ in pairs], [norm(h) for _, h in pairs])


def _keys(text: str) -> list[tuple[str, bool]]:
    """Words as (letters and digits only, lowercased; written in capitals)."""
    words = text.replace("\u2019", "'").split()
    return [(re.sub(r"\W", "", w).lower(), w.strip(".,?!;:\"'").isupper()) for w in words]


def _count(term: str, words: list[tuple[str, bool]]) -> int:
    key, caps = re.sub(r"\W", "", term).lower(), term.isupper()
    found = 0
    for i in range(len(words)):
        # "287 (g)", "287(g)" and "287 G" are the same term written apart or together.
        for span in (1, 2, 3):
            joined = "".join(k for k, _ in words[i : i + span])
            if joined == key and (not caps or all(c for _, c in words[i : i + span])):
                found += 1
                break
    return found


def names_right(reference: str, hypothesis: str) -> tuple[int, int]:
    ref, hyp = _keys(reference), _keys(hypothesis)
    total = sum(_count(term, ref) for term in NAMES)
    right = sum(min(_count(term, ref), _count(term, hyp)) for term in NAMES)
    return right, total


# -- one configuration, in its own process ------------------------------------
def worker(spec: dict[str, Any]) -> dict[str, Any]:
    from ingest.audio import load_audio
    from transcribe import get_transcriber

    clips = [
        (name, load_audio(Path(f))[int(start * SAMPLE_RATE) :], ref) for name, f, start, ref in spec["gold"]
    ]
    meeting = load_audio(Path(spec["meeting"])) if spec["meeting"] else None
    hearing = load_audio(Path(spec["hearing"]))
    long = load_audio(Path(spec["long"])) if spec.get("long") else None
    options = dict(spec["options"])
    pack_cuts = options.pop("pack_cuts", False)
    started = time.perf_counter()
    engine = get_transcriber(
        spec["engine"],
        "tiny.en",
        cache_dir=Path(spec["cache_dir"]),
        vocabulary=VOCABULARY if spec["vocabulary"] else None,
        **options,
    )
    engine.pack_cuts = pack_cuts  # only faster-whisper reads it
    loaded = time.perf_counter() - started

    def text(audio: Any) -> tuple[str, float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = " ".join(s.text for s in engine.transcribe(audio))
        return out, time.perf_counter() - wall, time.process_time() - cpu

    text(hearing[: 5 * SAMPLE_RATE])  # the first call compiles and allocates; a long meeting does not
    heard, _, _ = text(hearing)
    result: dict[str, Any] = {"load_s": loaded, "hearing": heard, "options": engine.options()}
    if clips:
        gold = [(ref, *text(audio)) for _, audio, ref in clips]
        result["gold_wer"] = wer([(ref, hyp) for ref, hyp, _, _ in gold])
        result["gold_x"] = sum(len(a) for _, a, _ in clips) / SAMPLE_RATE / sum(g[2] for g in gold)
    if meeting is not None:
        # CPU seconds too: other work on a shared machine stretches wall time
        # far more than it stretches the work each engine does.
        _, wall, cpu = text(meeting)
        result["meeting_x"] = len(meeting) / SAMPLE_RATE / wall
        result["meeting_cpu_x"] = len(meeting) / SAMPLE_RATE / cpu
    if long is not None:
        wall, cpu = time.perf_counter(), time.process_time()
        segments = [s.to_dict() for s in engine.transcribe(long)]
        result["long_x"] = len(long) / SAMPLE_RATE / (time.perf_counter() - wall)
        result["long_cpu_s"] = time.process_time() - cpu
        result["long_segments"] = segments
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_config(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        subprocess.run(
            [sys.executable, "-m", "benchmarks.transcription", "--worker", json.dumps(spec), out.name],
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        return json.loads(Path(out.name).read_text())


# -- the table -------------------------------------------------------------------
def main() -> None:
    from benchmarks.long_meeting import build, gold_wer, head
    from transcribe.convert import converted_checkpoint
    from transcribe.models import resolve_whisper_model

    gold = [(name, str(f), start, ref) for name, f, start, ref in gold_clips()]
    meeting = shared(SEATTLE)
    recording, placed = build(0.4)
    long = head(recording, LONG_MINUTES)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        hearing, hearing_ref = make_hearing(Path(tmp))
        cache = Path(tmp) / "models"
        # Convert once up front so no engine's load time includes it.
        tiny = resolve_whisper_model("tiny.en", cache)
        converted_checkpoint(Path(tiny.location), tiny.model_id, cache)
        results = []
        for label, engine, options, vocabulary in CONFIGS:
            spec = {
                "engine": engine,
                "options": options,
                "vocabulary": vocabulary,
                "cache_dir": str(cache),
                # openai-whisper with vocabulary runs the hearing only: it is slow,
                # and the prompt changes what is written, not the work done.
                "gold": [] if vocabulary and engine == "openai-whisper" else gold,
                "hearing": str(hearing),
                "meeting": None if vocabulary else str(meeting),
                "long": None if vocabulary else str(long),
            }
            print(f"… {engine}, {label}, vocabulary {'on' if vocabulary else 'off'}", file=sys.stderr)
            results.append((label, engine, vocabulary, run_config(spec)))
    anchor = next(r for label, e, v, r in results if e == "openai-whisper" and not v)
    rows = []
    for label, engine, vocabulary, r in results:
        right, total = names_right(hearing_ref, r["hearing"])
        timed = "meeting_x" in r
        rows.append(
            {
                "engine": engine,
                "configuration": label,
                "vocabulary": "on" if vocabulary else "off",
                "WER gold": round(r["gold_wer"], 4) if "gold_wer" in r else None,
                "WER hearing": round(wer([(hearing_ref, r["hearing"])]), 4),
                "names right": f"{right}/{total}",
                "x real time, meeting": round(r["meeting_x"], 1) if timed else None,
                "vs openai, wall": round(r["meeting_x"] / anchor["meeting_x"], 2) if timed else None,
                "vs openai, CPU time": round(r["meeting_cpu_x"] / anchor["meeting_cpu_x"], 2)
                if timed
                else None,
                "x real time, gold clips": round(r["gold_x"], 1) if "gold_x" in r else None,
                "WER long": round(gold_wer(r["long_segments"], placed, LONG_MINUTES * 60), 4)
                if "long_segments" in r
                else None,
                "x real time, long": round(r["long_x"], 1) if "long_x" in r else None,
                "CPU s, long": round(r["long_cpu_s"], 1) if "long_cpu_s" in r else None,
                "peak RSS MB": round(r["peak_mb"]),
                "load s": round(r["load_s"], 1),
            }
        )
    defaults = next(
        r["options"] for label, e, v, r in results if e == "faster-whisper" and label == "default"
    )
    write_results(
        "transcription",
        "Transcription: faster-whisper vs openai-whisper, same tiny.en weights",
        rows,
        [
            f"faster-whisper default options: {json.dumps(defaults)}; int8 on CPU, VAD, word timestamps",
            "openai-whisper runs on tiny.en converted from the bundled CTranslate2 weights"
            " (transcribe/convert.py); float32 on CPU, beam 5, best of 5, word timestamps,"
            " temperature fallback, no VAD",
            "WER gold: 16 LJ Speech clips + JFK + two-speakers (from 6.5 s),"
            " EnglishTextNormalizer, corpus WER",
            "hearing: scripted with espeak-ng (several voices, 15 turns); names right counts "
            + ", ".join(NAMES)
            + " as written in the script (capitals required for acronyms)",
            "meeting: Seattle special meeting, 181 s, no gold: speed only, measured with vocabulary off;"
            " 'vs openai, CPU time' compares CPU seconds, which other work disturbs less than wall time",
            "gold-clip speed is low for both engines: every short clip still costs a full 30 s window",
            f"long: the first {LONG_MINUTES:g} min of the long-meeting recording (real speech joined with"
            " pauses and music-like noise, benchmarks/long_meeting.py); WER long is over the gold clips"
            " placed in it (LJ Speech, JFK, two-speakers), which share packed windows with the rest",
            "default windows hold whole VAD regions (a window closes when the next region does not fit, as"
            " faster-whisper's own batched pipeline packs them); 'packed full' cuts a region that does not"
            " fit at its quietest frame so every window holds ~30 s",
            f"each configuration runs in its own subprocess; peak RSS is that process's maximum."
            f" Load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on"
            f" {os.cpu_count()} cores shared with other work: read the ratios, not the absolute speeds",
        ],
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        Path(sys.argv[3]).write_text(json.dumps(worker(json.loads(sys.argv[2]))))
    else:
        main()
