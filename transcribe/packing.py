"""Speech packed into full 30-second windows, and times mapped back.

Whisper's encoder always reads 30 s: a window holding 20 s of speech costs
as much as a full one. The batched pipeline fills windows with whole VAD
regions in order and starts a new window when the next region does not fit,
so on the Seattle meeting its five windows held 116 s of speech (77% full),
where four would do. Here a region that does not fit is cut at its quietest
moment near the point where the window is full, so the head fills this
window and the rest opens the next; a region is only cut where both parts
are long enough to hold words.

The windows' audio is laid out in one array (``packed``), each window in a
30 s slot of it, and decoded as clips of that array; ``to_source`` maps a
time on it back to the recording's.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass

import numpy as np

from catalog.types import Segment, Word
from transcribe.coverage import SAMPLE_RATE, Region
from transcribe.guards import with_words

WINDOW = 30.0
# Room left in a window below which it is closed rather than filled with a
# cut region, and the shortest piece a cut may leave on either side.
MIN_ROOM = 1.0
MIN_PIECE = 1.0
# Frames searched for the quietest cut: 20 ms of RMS, over the last
# ``CUT_SEARCH`` seconds before the window would be full.
FRAME = 320
CUT_SEARCH = 1.0


@dataclass(frozen=True)
class Piece:
    """A stretch of the recording (``source``, in seconds) laid at ``at``
    seconds into the packed audio."""

    at: float
    source: Region

    @property
    def end(self) -> float:
        return self.at + self.source.duration


@dataclass(frozen=True)
class Window:
    start: float  # on the packed audio
    end: float


class Packing:
    """Pieces of the recording laid end to end, grouped into windows."""

    def __init__(self, pieces: list[Piece], windows: list[Window]) -> None:
        self.pieces = pieces
        self.windows = windows
        self._starts = [p.at for p in pieces]

    @property
    def seconds(self) -> float:
        return self.pieces[-1].end if self.pieces else 0.0

    def packed(self, audio: np.ndarray, lo: float = 0.0, hi: float | None = None) -> np.ndarray:
        """The pieces' samples end to end (the audio the windows index), or
        the stretch of it from ``lo`` to ``hi`` seconds."""
        hi = self.seconds if hi is None else hi
        out = np.zeros(_sample(hi) - _sample(lo), dtype=np.float32)
        for p in self.pieces:
            if p.end <= lo or p.at >= hi:
                continue
            part = audio[_sample(p.source.start) : _sample(p.source.end)]
            at = max(0, _sample(p.at) - _sample(lo))
            n = max(0, min(len(part), len(out) - at))
            out[at : at + n] = part[:n]
        return out

    def restore(self, segment: Segment, offset: float = 0.0) -> Segment:
        """A segment decoded from the packed audio (from ``offset`` seconds
        into it), timed in the recording. Each word keeps to the piece its
        middle falls in, so no word is stretched across a cut silence."""
        words = []
        for w in segment.words:
            piece = self.piece_at(offset + (w.start + w.end) / 2)
            start = round(self.to_source(offset + w.start, piece), 3)
            end = round(self.to_source(offset + w.end, piece), 3)
            words.append(Word(start, end, w.word, w.probability))
        if words:
            return with_words(segment, words)
        segment.start = round(self.to_source(offset + segment.start), 3)
        segment.end = round(self.to_source(offset + segment.end), 3)
        return segment

    def piece_at(self, t: float) -> Piece:
        return self.pieces[max(0, bisect_right(self._starts, t) - 1)]

    def to_source(self, t: float, piece: Piece | None = None) -> float:
        """A time on the packed audio as a time in the recording, kept inside
        ``piece`` (by default the one ``t`` falls in)."""
        piece = piece or self.piece_at(t)
        return min(piece.source.end, max(piece.source.start, piece.source.start + t - piece.at))


def _sample(t: float) -> int:
    return int(round(t * SAMPLE_RATE))


def quietest(audio: np.ndarray, lo: float, hi: float) -> float:
    """The centre of the quietest 20 ms frame between ``lo`` and ``hi`` seconds."""
    a, b = _sample(lo), _sample(hi)
    frames = (b - a) // FRAME
    if frames < 1:
        return hi
    block = audio[a : a + frames * FRAME].reshape(frames, FRAME)
    energy = np.einsum("ij,ij->i", block, block)
    return float(a + int(energy.argmin()) * FRAME + FRAME // 2) / SAMPLE_RATE


def pack(regions: list[Region], audio: np.ndarray | None = None, window: float = WINDOW) -> Packing:
    """Lay ``regions`` end to end in order, in windows of at most ``window``
    seconds. With ``audio``, a region that does not fit in a window with
    room left is cut at its quietest frame so the window fills up; without
    it, regions stay whole (as faster-whisper's own packing does)."""
    pieces: list[Piece] = []
    windows: list[Window] = []
    opened = at = 0.0
    todo = deque(regions)

    def close() -> None:
        nonlocal opened, at
        windows.append(Window(opened, at))
        # Each window gets a whole slot of the packed audio: Whisper times a
        # window's words from its start rounded down to a 10 ms frame, and
        # a start on a whole second is exact.
        opened = at = len(windows) * window

    while todo:
        region = todo.popleft()
        room = window - (at - opened)
        cut: float | None = None
        if region.duration > room:
            cut = _cut(region, room, audio)
            if cut is None and at > opened:
                todo.appendleft(region)
                close()
                continue
            if cut is None:  # longer than a whole window: cut where it is full
                cut = region.start + window
            todo.appendleft(Region(cut, region.end))
            region = Region(region.start, cut)
        pieces.append(Piece(at, region))
        at = round(at + region.duration, 6)
        if cut is not None:
            close()  # full, or cut: the rest of the region opens the next window
    if at > opened:
        windows.append(Window(opened, at))
    return Packing(pieces, windows)


def _cut(region: Region, room: float, audio: np.ndarray | None) -> float | None:
    if audio is None or room < MIN_ROOM or region.duration - room < MIN_PIECE:
        return None
    hi = region.start + room
    return quietest(audio, max(region.start + MIN_PIECE, hi - CUT_SEARCH), hi)
