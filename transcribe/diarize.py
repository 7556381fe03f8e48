"""Who spoke when: speaker diarization behind one ``Diarizer`` seam.

The default, ``resemblyzer``, reads the meeting two minutes at a time (so
memory does not grow with its length), finds speech with the Silero VAD that
faster-whisper bundles, embeds overlapping 1.6 s windows of it with
resemblyzer's d-vectors, clusters them with average-linkage agglomerative
clustering cut at a cosine distance (so the number of speakers is found, not
given), and smooths the window labels with a Viterbi pass that charges for
every change of speaker. ``transcribe.turns`` puts the speakers on a
transcript. ``diarize_cached`` keeps each result under the audio's hash and the
diarizer's version and options, so a rerun does not diarize again.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, ClassVar, NamedTuple

import numpy as np

from catalog.db import Catalog
from catalog.errors import ModelError
from transcribe.turns import Turn, to_turns
from transcribe.voices import EMBED_DIM, MIN_WINDOW_S, SAMPLE_RATE, WINDOW_S, Span

# Audio is decoded and searched for speech this many seconds at a time, so
# memory does not grow with the meeting: a whole 6-hour meeting would be
# 1.4 GB of float32 before Silero's copies. Silero's ONNX run costs about
# 2 MB per second of block on top of the block itself. Diarizing a 2-hour
# file peaked at 510 MB of RSS with 120 s blocks, 710 MB with 600 s, and
# 1350 MB decoding it whole (torch and the models are 270 MB of each). Speech
# longer than half a block is rare, and is cut there, not lost.
VAD_CHUNK_S = 120.0
# Speech ending this close to a block's end may run on past it: that region
# is decoded again at the head of the next block rather than cut.
BLOCK_EDGE_S = 0.5
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


# ``load(start, seconds)`` returns that stretch of the meeting as 16 kHz mono
# float32, shorter only at the end of the recording.
AudioLoader = Callable[[float, float], np.ndarray]
Progress = Callable[[float], None]


@dataclass
class Diarization:
    """Who spoke when, and each speaker's voice print (a unit 256-vector)."""

    turns: list[Turn]
    prints: dict[str, np.ndarray]

    def talk_time(self) -> dict[str, float]:
        seconds: dict[str, float] = {}
        for turn in self.turns:
            seconds[turn.label] = seconds.get(turn.label, 0.0) + turn.end - turn.start
        return seconds


def array_loader(audio: np.ndarray) -> AudioLoader:
    """A loader over audio already in memory (tests, benchmarks, short clips)."""
    samples = np.asarray(audio, dtype=np.float32)  # Silero takes float32 only

    def load(start: float, seconds: float) -> np.ndarray:
        first = int(round(start * SAMPLE_RATE))
        return samples[first : first + int(round(seconds * SAMPLE_RATE))]

    return load


class Diarizer(ABC):
    """Turns 16 kHz mono float32 audio into speaker turns.

    Labels are ``SPEAKER_1``, ``SPEAKER_2``… in order of first appearance.
    ``model_id`` and ``version`` name what produced them, for caching.
    """

    name: ClassVar[str]
    model_id: str
    version: str
    _last: Diarization | None = None

    def options(self) -> dict[str, Any]:
        """Settings that change the output, part of any cache key."""
        return {}

    @abstractmethod
    def run(self, load: AudioLoader, progress: Progress | None = None) -> Diarization:
        """Turns in time order and voice prints for the audio ``load`` reads,
        which a diarizer should take a block at a time; ``progress`` hears
        how many seconds are done."""

    def diarize(self, audio: np.ndarray) -> list[Turn]:
        """Speaker turns for audio in memory, timed from its start."""
        self._last = self.run(array_loader(audio))
        return list(self._last.turns)

    def voice_prints(self, audio: np.ndarray, turns: list[Turn]) -> dict[str, np.ndarray]:
        """Each label's voice print: the ones ``diarize`` just found for these
        turns, else embedded from up to a minute of each label's turns."""
        from transcribe.voices import centroids, embed_spans

        if self._last is not None and self._last.turns == list(turns):
            # Embedding them again would cost as much as the diarization did.
            return dict(self._last.prints)

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


class Block(NamedTuple):
    """A stretch of decoded audio and the speech found in it (in seconds
    from the block's start, which is ``offset`` into the meeting)."""

    offset: float
    audio: np.ndarray
    regions: list[Span]


def speech_blocks(
    load: AudioLoader, *, min_silence_ms: int = 300, pad_ms: int = 100, chunk_s: float = VAD_CHUNK_S
) -> Iterator[Block]:
    """The meeting ``chunk_s`` at a time, with where anyone speaks in it, by
    the Silero VAD that ships with faster-whisper.

    Silero rather than resemblyzer's webrtcvad: it is what the transcriber
    already trusts to find speech, so turns and transcript agree on where
    speech is, and it ignores the noise and music that webrtcvad takes for
    speech. Pauses longer than ``min_silence_ms`` split regions, so a region
    is usually one speaker's stretch. Speech running into a block's end
    starts the next block, so no region is cut at an arbitrary sample.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        min_speech_duration_ms=200, min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms
    )
    start = 0.0
    while True:
        audio = np.asarray(load(start, chunk_s), dtype=np.float32)
        seconds = len(audio) / SAMPLE_RATE
        last = seconds < chunk_s - 1.0
        regions = [
            (found["start"] / SAMPLE_RATE, found["end"] / SAMPLE_RATE)
            for found in get_speech_timestamps(audio, options)
        ]
        advance = seconds
        # A region filling over half the block is cut rather than held: the
        # next block must begin later than this one did.
        if not last and regions and regions[-1][1] > seconds - BLOCK_EDGE_S and regions[-1][0] > seconds / 2:
            advance = regions.pop()[0]
        yield Block(start, audio, regions)
        if last:
            return
        start += advance


def speech_regions(audio: np.ndarray, **options: Any) -> list[Span]:
    """Where anyone speaks in audio held in memory (see ``speech_blocks``)."""
    return [
        (block.offset + a, block.offset + b)
        for block in speech_blocks(array_loader(audio), **options)
        for a, b in block.regions
    ]


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
        block_s: float = VAD_CHUNK_S,
        device: str = "cpu",
    ) -> None:
        from transcribe.voices import load_encoder

        load_encoder(device)  # fail now, with a clear message, if it cannot load
        self.threshold = threshold
        self.step = step
        self.switch_penalty = switch_penalty
        self.min_speaker_s = min_speaker_s
        self.max_cluster_windows = max_cluster_windows
        self.block_s = block_s
        self.device = device
        self.model_id = f"resemblyzer-{metadata.version('resemblyzer')}"
        self.version = f"onrecord-diarize-2/{self.model_id}"

    def options(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "step": self.step,
            "switch_penalty": self.switch_penalty,
            "min_speaker_s": self.min_speaker_s,
            "max_cluster_windows": self.max_cluster_windows,
            "block_s": self.block_s,
        }

    def run(self, load: AudioLoader, progress: Progress | None = None) -> Diarization:
        from transcribe.voices import centroids, embed_spans

        regions: list[Span] = []
        windows: list[Span] = []
        # Only the window vectors outlive a block: 1 KB per 0.8 s of speech.
        parts = [np.zeros((0, EMBED_DIM), dtype=np.float32)]
        for block in speech_blocks(load, chunk_s=self.block_s):
            planned = plan_windows(block.regions, self.step)
            parts.append(embed_spans(block.audio, planned, device=self.device))
            regions += [(block.offset + a, block.offset + b) for a, b in block.regions]
            windows += [(block.offset + a, block.offset + b) for a, b in planned]
            if progress:
                progress(block.offset + len(block.audio) / SAMPLE_RATE)
        embeddings = np.concatenate(parts)
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
        return Diarization(turns, centroids(embeddings, [f"SPEAKER_{c + 1}" for c in labels]))


def diarization_key(audio_hash: str, diarizer: Diarizer) -> str:
    ident = {
        "audio": audio_hash,
        "diarizer": diarizer.name,
        "model": diarizer.model_id,
        "version": diarizer.version,
        "options": diarizer.options(),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def diarize_cached(
    catalog: Catalog,
    diarizer: Diarizer,
    audio_hash: str,
    load: AudioLoader,
    progress: Progress | None = None,
) -> Diarization:
    """The diarization of this audio by this diarizer, run only the first
    time: a rerun, or a meeting resumed after a kill, reads it back."""
    key = diarization_key(audio_hash, diarizer)
    stored = catalog.diarization(key)
    if stored is not None:
        turns = [Turn(start, end, label) for start, end, label in stored.turns]
        prints = {label: np.asarray(vec, dtype=np.float32) for label, vec in stored.prints.items()}
        return Diarization(turns, prints)
    found = diarizer.run(load, progress)
    catalog.save_diarization(
        key,
        audio_hash,
        diarizer.name,
        diarizer.version,
        diarizer.options(),
        [(t.start, t.end, t.label) for t in found.turns],
        {label: vec.tolist() for label, vec in found.prints.items()},
    )
    return found
