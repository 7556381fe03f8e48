"""Speaker turns: cutting clustered windows into turns, and putting the
turns' speakers on a transcript's segments and words."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from catalog.types import Segment, Word
from transcribe.voices import Span


class Turn(NamedTuple):
    """A stretch of one speaker's speech, in seconds from the start."""

    start: float
    end: float
    label: str


def to_turns(regions: list[Span], windows: list[Span], labels: np.ndarray) -> list[Turn]:
    """Cut each region where its windows' labels change, at the midpoint
    between the two windows' centres; a region too short to embed takes the
    label of the nearest window in time. Cluster ``c`` is ``SPEAKER_{c+1}``."""
    if not len(windows):
        return [Turn(round(s, 3), round(e, 3), "SPEAKER_1") for s, e in regions]
    # Windows are planned region by region, left to right, so their centres
    # are sorted and each region's windows are one slice of them.
    centres = np.array([(a + b) / 2 for a, b in windows])
    pieces: list[tuple[float, float, int]] = []
    for start, end in regions:
        lo = int(np.searchsorted(centres, start, side="left"))
        inside = range(lo, int(np.searchsorted(centres, end, side="right")))
        if not len(inside):
            near = [i for i in (lo - 1, lo) if 0 <= i < len(centres)]
            nearest = min(near, key=lambda i: abs(centres[i] - (start + end) / 2))
            pieces.append((start, end, int(labels[nearest])))
            continue
        at = start
        for i in inside[1:]:
            if labels[i - 1] != labels[i]:
                cut = (centres[i - 1] + centres[i]) / 2
                pieces.append((at, cut, int(labels[i - 1])))
                at = cut
        pieces.append((at, end, int(labels[inside[-1]])))
    turns: list[Turn] = []
    for start, end, cid in pieces:
        label = f"SPEAKER_{cid + 1}"
        if turns and turns[-1].label == label and start - turns[-1].end < 0.05:
            turns[-1] = Turn(turns[-1].start, round(float(end), 3), label)
        else:
            turns.append(Turn(round(float(start), 3), round(float(end), 3), label))
    return turns


def assign_speakers(segments: list[Segment], turns: list[Turn]) -> list[Segment]:
    """Put the speakers of ``turns`` on ``segments``: new segments, each with
    one speaker, split where the speaker changes between two words.

    A word belongs to the turn it overlaps most; a word in a gap between
    turns (the VAD and Whisper disagree by a few hundred ms at the edges)
    belongs to the nearest turn. Segments without word timings are labelled
    whole, by overlap.
    """
    if not turns:
        return [replace(seg, words=list(seg.words)) for seg in segments]
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    starts = [t.start for t in ordered]
    out: list[Segment] = []
    for seg in segments:
        if not seg.words:
            out.append(replace(seg, words=[], speaker=_speaker_at(ordered, starts, seg.start, seg.end)))
            continue
        runs: list[tuple[str, list[Word]]] = []
        for word in seg.words:
            label = _speaker_at(ordered, starts, word.start, word.end)
            if runs and runs[-1][0] == label:
                runs[-1][1].append(word)
            else:
                runs.append((label, [word]))
        for i, (label, words) in enumerate(runs):
            out.append(
                replace(
                    seg,
                    start=seg.start if i == 0 else words[0].start,
                    end=seg.end if i == len(runs) - 1 else words[-1].end,
                    text="".join(w.word for w in words).strip(),
                    words=list(words),
                    speaker=label,
                )
            )
    return out


def _speaker_at(turns: list[Turn], starts: list[float], start: float, end: float) -> str:
    """The label of the turn overlapping [start, end] most, else the nearest."""
    hi = bisect_right(starts, end)
    best, best_overlap, best_gap = turns[max(hi - 1, 0)].label, 0.0, float("inf")
    # Turns are sorted and rarely overlap, so only the few just before
    # ``end`` can touch the word; one more on each side covers the gaps.
    for turn in turns[max(hi - 4, 0) : hi + 1]:
        overlap = min(end, turn.end) - max(start, turn.start)
        gap = max(turn.start - end, start - turn.end, 0.0)
        if overlap > best_overlap or (best_overlap <= 0 and overlap <= 0 and gap < best_gap):
            best, best_overlap, best_gap = turn.label, max(overlap, 0.0), gap
    return best
