"""Who spoke when: speaker diarization behind one ``Diarizer`` seam.

The default, ``resemblyzer``, finds speech with the Silero VAD that
faster-whisper bundles, embeds overlapping 1.6 s windows of it with
resemblyzer's d-vectors, clusters them with average-linkage agglomerative
clustering cut at a cosine distance (so the number of speakers is found, not
given), and smooths the window labels with a Viterbi pass that charges for
every change of speaker. ``assign_speakers`` then puts the speakers on a
transcript's segments, splitting a segment at a change of speaker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_right
from dataclasses import replace
from importlib import metadata
from typing import Any, ClassVar, NamedTuple

import numpy as np

from catalog.errors import ModelError
from catalog.types import Segment, Word
from transcribe.voices import MIN_WINDOW_S, SAMPLE_RATE, WINDOW_S, Span

# VAD is run this many seconds at a time: Silero's wrapper copies its whole
# input twice, which for a 6-hour meeting would be gigabytes.
VAD_CHUNK_S = 600.0
# Average-linkage on n windows needs n²/2 distances; past this many windows
# clusters are found on an evenly spaced sample and the rest are assigned.
MAX_CLUSTER_WINDOWS = 3000
# Cosine distance at which average linkage stops merging. On the labelled
# material in benchmarks/diarization.py the right number of speakers came
# out from 0.30 to 0.32 (a real phone call merges above 0.32; one real voice
# and the scripted meetings split below 0.30): a narrow band, and this sits
# in its middle. Lower it for a body whose members are merged, raise it if
# one member is split in two.
THRESHOLD = 0.31


class Turn(NamedTuple):
    """A stretch of one speaker's speech, in seconds from the start."""

    start: float
    end: float
    label: str


class Diarizer(ABC):
    """Turns 16 kHz mono float32 audio into speaker turns.

    Labels are ``SPEAKER_1``, ``SPEAKER_2``… in order of first appearance.
    ``model_id`` and ``version`` name what produced them, for caching.
    """

    name: ClassVar[str]
    model_id: str
    version: str

    def options(self) -> dict[str, Any]:
        """Settings that change the output, part of any cache key."""
        return {}

    @abstractmethod
    def diarize(self, audio: np.ndarray) -> list[Turn]:
        """Speaker turns in time order, timed from the start of ``audio``."""

    def voice_prints(self, audio: np.ndarray, turns: list[Turn]) -> dict[str, np.ndarray]:
        """Each label's voice print, embedded from up to a minute of its turns."""
        from transcribe.voices import centroids, embed_spans

        spans: list[Span] = []
        owners: list[str] = []
        for label in dict.fromkeys(t.label for t in turns):
            budget = 60.0
            for turn in sorted((t for t in turns if t.label == label), key=lambda t: t.start - t.end):
                start = turn.start
                while budget > 0 and turn.end - start >= MIN_WINDOW_S:
                    end = min(turn.end, start + WINDOW_S)
                    spans.append((start, end))
                    owners.append(label)
                    budget -= end - start
                    start = end
        return centroids(embed_spans(audio, spans), owners)


DIARIZERS: dict[str, type[Diarizer]] = {}
DEFAULT_DIARIZER = "resemblyzer"


def register(cls: type[Diarizer]) -> type[Diarizer]:
    DIARIZERS[cls.name] = cls
    return cls


def get_diarizer(name: str = DEFAULT_DIARIZER, **options: Any) -> Diarizer:
    if name not in DIARIZERS:
        known = ", ".join(sorted(DIARIZERS))
        raise ModelError(f"Unknown diarizer {name!r}; choose one of: {known}")
    return DIARIZERS[name](**options)


def speech_regions(
    audio: np.ndarray, *, min_silence_ms: int = 300, pad_ms: int = 100, chunk_s: float = VAD_CHUNK_S
) -> list[Span]:
    """Where anyone speaks, by the Silero VAD that ships with faster-whisper.

    Silero rather than resemblyzer's webrtcvad: it is what the transcriber
    already trusts to find speech, so turns and transcript agree on where
    speech is, and it ignores the noise and music that webrtcvad takes for
    speech. Pauses longer than ``min_silence_ms`` split regions, so a region
    is usually one speaker's stretch.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        min_speech_duration_ms=200, min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms
    )
    step = int(chunk_s * SAMPLE_RATE)
    regions: list[Span] = []
    for offset in range(0, len(audio), step):
        for found in get_speech_timestamps(audio[offset : offset + step], options):
            start, end = (offset + found["start"]) / SAMPLE_RATE, (offset + found["end"]) / SAMPLE_RATE
            if regions and start - regions[-1][1] < 0.01:
                # Speech running across a chunk border is one region.
                regions[-1] = (regions[-1][0], end)
            else:
                regions.append((start, end))
    return regions


def plan_windows(regions: list[Span], step: float) -> list[Span]:
    """Overlapping windows over each region, the last one flush with its end."""
    windows: list[Span] = []
    for start, end in regions:
        if end - start < MIN_WINDOW_S:
            continue
        at = start
        while at + WINDOW_S < end:
            windows.append((at, at + WINDOW_S))
            at += step
        windows.append((max(start, end - WINDOW_S), end))
    return windows


def cluster(
    embeddings: np.ndarray,
    threshold: float,
    *,
    max_windows: int = MAX_CLUSTER_WINDOWS,
    window_s: float = 0.8,
    min_speaker_s: float = 3.0,
) -> np.ndarray:
    """Cluster ids (0..k-1) for unit vectors, k found from ``threshold``.

    Average linkage cut at a cosine distance: unlike Ward's, its heights do
    not grow with the amount of speech, so one threshold serves a 30-second
    call and a 3-hour meeting. A cluster with under ``min_speaker_s`` of
    speech (each window standing for ``window_s``) is a cough, a door or
    cross-talk, and joins the nearest real one. Then two k-means passes move
    every window, sampled or not, to its nearest centroid.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embeddings)
    if n < 2:
        return np.zeros(n, dtype=int)
    sample = np.unique(np.linspace(0, n - 1, min(n, max_windows)).round().astype(int))
    ids = fcluster(linkage(embeddings[sample], method="average", metric="cosine"), threshold, "distance")
    counts = np.bincount(ids)
    seconds = counts * window_s * n / len(sample)
    keep = [c for c in range(len(counts)) if counts[c] >= 2 and seconds[c] >= min_speaker_s]
    if not keep:
        keep = [int(counts.argmax())]
    centres = np.stack([embeddings[sample[ids == c]].mean(axis=0) for c in keep])
    for _ in range(2):
        labels = (embeddings @ _unit(centres).T).argmax(axis=1)
        centres = np.stack(
            [
                embeddings[labels == k].mean(axis=0) if (labels == k).any() else centres[k]
                for k in range(len(keep))
            ]
        )
    return (embeddings @ _unit(centres).T).argmax(axis=1)


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-9)


def viterbi(embeddings: np.ndarray, labels: np.ndarray, penalty: float) -> np.ndarray:
    """Relabel windows along the best path: similarity to the speaker's
    centroid, less ``penalty`` for each change, so that one odd window inside
    a long turn does not become a turn of its own."""
    k = int(labels.max()) + 1 if len(labels) else 0
    if k < 2:
        return labels
    centres = _unit(np.stack([embeddings[labels == c].mean(axis=0) for c in range(k)]))
    scores = embeddings @ centres.T
    best = scores[0].copy()
    back = np.zeros((len(scores), k), dtype=int)
    switch = penalty * (1 - np.eye(k))
    for t in range(1, len(scores)):
        total = best[:, None] - switch
        back[t] = total.argmax(axis=0)
        best = total.max(axis=0) + scores[t]
    path = np.zeros(len(scores), dtype=int)
    path[-1] = int(best.argmax())
    for t in range(len(scores) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def first_appearance(labels: np.ndarray) -> np.ndarray:
    """Renumber cluster ids 0, 1, 2… in the order they first occur."""
    order: dict[int, int] = {}
    for c in labels:
        order.setdefault(int(c), len(order))
    return np.array([order[int(c)] for c in labels], dtype=int)


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
            turns[-1] = Turn(turns[-1].start, round(end, 3), label)
        else:
            turns.append(Turn(round(start, 3), round(end, 3), label))
    return turns


@register
class ResemblyzerDiarizer(Diarizer):
    """resemblyzer d-vectors, agglomerative clustering, Viterbi smoothing."""

    name = "resemblyzer"

    def __init__(
        self,
        *,
        threshold: float = THRESHOLD,
        step: float = 0.8,
        switch_penalty: float = 0.1,
        min_speaker_s: float = 3.0,
        max_cluster_windows: int = MAX_CLUSTER_WINDOWS,
        device: str = "cpu",
    ) -> None:
        from transcribe.voices import load_encoder

        load_encoder(device)  # fail now, with a clear message, if it cannot load
        self.threshold = threshold
        self.step = step
        self.switch_penalty = switch_penalty
        self.min_speaker_s = min_speaker_s
        self.max_cluster_windows = max_cluster_windows
        self.device = device
        self.model_id = f"resemblyzer-{metadata.version('resemblyzer')}"
        self.version = f"onrecord-diarize-1/{self.model_id}"
        self._last: tuple[list[Turn], dict[str, np.ndarray]] | None = None

    def options(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "step": self.step,
            "switch_penalty": self.switch_penalty,
            "min_speaker_s": self.min_speaker_s,
        }

    def diarize(self, audio: np.ndarray) -> list[Turn]:
        from transcribe.voices import centroids, embed_spans

        audio = np.asarray(audio, dtype=np.float32)  # Silero takes float32 only
        regions = speech_regions(audio)
        windows = plan_windows(regions, self.step)
        embeddings = embed_spans(audio, windows, device=self.device)
        labels = cluster(
            embeddings,
            self.threshold,
            max_windows=self.max_cluster_windows,
            window_s=self.step,
            min_speaker_s=self.min_speaker_s,
        )
        labels = viterbi(embeddings, labels, self.switch_penalty)
        labels = first_appearance(labels)
        turns = to_turns(regions, windows, labels)
        # Keep this meeting's voice prints: embedding them again would cost
        # as much as the diarization did.
        self._last = (list(turns), centroids(embeddings, [f"SPEAKER_{c + 1}" for c in labels]))
        return turns

    def voice_prints(self, audio: np.ndarray, turns: list[Turn]) -> dict[str, np.ndarray]:
        if self._last is not None and self._last[0] == list(turns):
            return dict(self._last[1])
        return super().voice_prints(audio, turns)


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
