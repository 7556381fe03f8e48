"""Voice prints: resemblyzer d-vectors for stretches of speech, one centroid
per speaker, and matching a new meeting's speakers to names already known.

A voice print is a unit-length float32 vector of 256 numbers. It is plain
data: store it as bytes (``print_to_bytes``) or JSON (``vec.tolist()``) and
compare two with a dot product.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from catalog.errors import ModelError

SAMPLE_RATE = 16000
# resemblyzer was trained on 1.6 s partial utterances (160 mel frames).
WINDOW_S = 1.6
# Below this a window says more about the room than the voice.
MIN_WINDOW_S = 0.4
HOP = SAMPLE_RATE // 100  # 10 ms mel frames
N_FFT = SAMPLE_RATE * 25 // 1000  # 25 ms mel windows
N_MELS = 40
EMBED_DIM = 256
# resemblyzer normalises every utterance to this loudness before its mel
# spectrogram (which is not log-scaled, so loudness matters).
TARGET_DBFS = -30.0

# Chosen on precision (benchmarks/diarization.py): real voices embedded from
# two halves of their own speech scored 0.81-0.99 against themselves, while
# two different people on the same phone call reached 0.875; on the scripted
# meetings every name proposed at 0.80-0.92 was right, and all five known
# voices were still named at 0.90. A wrong name is worse than no name.
MATCH_THRESHOLD = 0.90
# The best name must also beat the next best by this much: two similar known
# voices make a coin toss, and a coin toss is not a name.
MATCH_MARGIN = 0.04

Span = tuple[float, float]


@functools.lru_cache(maxsize=2)
def load_encoder(device: str = "cpu") -> Any:
    """resemblyzer's VoiceEncoder, from the pretrained.pt its wheel ships."""
    try:
        from resemblyzer import VoiceEncoder
    except ModuleNotFoundError as exc:
        if exc.name == "pkg_resources":
            # webrtcvad (imported by resemblyzer) reads its version through
            # pkg_resources, which setuptools 81 removed.
            raise ModelError(
                "resemblyzer cannot import webrtcvad; run: pip install 'setuptools<81' "
                "(or pip install --force-reinstall webrtcvad-wheels)"
            ) from None
        raise ModelError("Speaker diarization needs resemblyzer; run: pip install resemblyzer") from None
    return VoiceEncoder(device, verbose=False)


def _normalised(wav: np.ndarray) -> np.ndarray:
    """Raise quiet speech to resemblyzer's training loudness (never lower it)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
    if rms < 1e-6:
        return wav
    gain = 10 ** ((TARGET_DBFS - 20 * np.log10(rms)) / 20)
    return wav * gain if gain > 1 else wav


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    linear = hz / (200 / 3)
    log = 15 + np.log(np.maximum(hz, 1e-9) / 1000) / (np.log(6.4) / 27)
    return np.where(hz >= 1000, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return np.where(mel >= 15, 1000 * np.exp((np.log(6.4) / 27) * (mel - 15)), mel * (200 / 3))


@functools.lru_cache(maxsize=1)
def mel_basis() -> np.ndarray:
    """The 40 Slaney-normalised mel filters resemblyzer was trained with, as
    ``librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)`` makes them (the
    tests check that), without librosa's seconds of first-call JIT."""
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    edges = _mel_to_hz(np.linspace(0, _hz_to_mel(np.array(SAMPLE_RATE / 2)), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(rising, falling))
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def _mels(audio: np.ndarray, spans: Sequence[Span]) -> list[np.ndarray]:
    """Mel power spectrograms as resemblyzer computes them for each span
    (centred frames, zero padding, the span raised to -30 dBFS), with the
    STFT done in NumPy: librosa's per-call overhead was most of the cost."""
    basis = mel_basis()
    # scipy's periodic Hann ("fftbins"), as librosa's STFT uses.
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    powers = []
    for start, end in spans:
        wav = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)].astype(np.float32)
        wav = _normalised(wav)
        frames = max(1, len(wav) // HOP)
        padded = np.pad(wav, (N_FFT // 2, N_FFT // 2 + N_FFT))
        strided = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[: frames * HOP : HOP]
        powers.append(np.abs(np.fft.rfft(strided * window, axis=1)) ** 2)
    # One product for the whole batch: many small ones cost more in BLAS
    # thread hand-offs than in arithmetic.
    mels = (np.concatenate(powers) @ basis.T).astype(np.float32)
    return np.split(mels, np.cumsum([len(p) for p in powers])[:-1])


def embed_spans(
    audio: np.ndarray, spans: Sequence[Span], *, batch_size: int = 64, device: str = "cpu"
) -> np.ndarray:
    """One unit d-vector per span of 16 kHz ``audio`` (spans in seconds).

    Spans may differ in length (up to a few seconds each): a batch is packed
    so every span's vector is the LSTM state at its own last frame, exactly
    what resemblyzer computes for it alone. Memory stays at one batch of mel
    frames, whatever the length of the meeting.
    """
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

    out = np.zeros((len(spans), EMBED_DIM), dtype=np.float32)
    if not spans:
        return out
    encoder = load_encoder(device)
    with torch.inference_mode():
        for first in range(0, len(spans), batch_size):
            mels = [torch.from_numpy(m) for m in _mels(audio, spans[first : first + batch_size])]
            lengths = torch.tensor([len(m) for m in mels])
            packed = pack_padded_sequence(
                pad_sequence(mels, batch_first=True), lengths, batch_first=True, enforce_sorted=False
            )
            _, (hidden, _) = encoder.lstm(packed.to(encoder.device))
            raw = encoder.relu(encoder.linear(hidden[-1])).cpu().numpy()
            out[first : first + len(mels)] = raw
    return unit_rows(out)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; an all-zero row stays zero instead of NaN."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-9)).astype(np.float32)


def centroids(embeddings: np.ndarray, labels: Iterable[str]) -> dict[str, np.ndarray]:
    """Each label's voice print: the unit mean of its windows' vectors."""
    labels = list(labels)
    found: dict[str, np.ndarray] = {}
    for label in dict.fromkeys(labels):
        rows = embeddings[[i for i, lab in enumerate(labels) if lab == label]]
        found[label] = unit_rows(rows.mean(axis=0))
    return found


def match_voices(
    centroids: dict[str, np.ndarray],
    known: dict[str, np.ndarray],
    threshold: float = MATCH_THRESHOLD,
    margin: float = MATCH_MARGIN,
) -> dict[str, tuple[str, float]]:
    """Propose a known name for each of this meeting's speakers, one to one.

    Returns ``{label: (name, cosine similarity)}`` only for labels whose
    best one-to-one match reaches ``threshold`` and beats that label's
    second-best name, and that name's second-best label, by ``margin``.
    Everyone else stays unnamed: a stranger is never given a known name just
    because some name had to be closest.
    """
    from scipy.optimize import linear_sum_assignment

    labels = list(centroids)
    # A print made by another encoder (resemblyzer's 256 numbers, CAM++'s
    # 192) says nothing about this one: such names are never proposed.
    size = np.asarray(centroids[labels[0]]).size if labels else 0
    names = [name for name in known if np.asarray(known[name]).size == size]
    if not labels or not names:
        return {}
    sims = _as_matrix(centroids, labels) @ _as_matrix(known, names).T
    rows, cols = linear_sum_assignment(-sims)
    proposals: dict[str, tuple[str, float]] = {}
    for r, c in zip(rows, cols, strict=True):
        best = float(sims[r, c])
        rivals = np.concatenate([np.delete(sims[r], c), np.delete(sims[:, c], r)])
        runner_up = float(rivals.max()) if rivals.size else -1.0
        if best >= threshold and best - runner_up >= margin:
            proposals[labels[r]] = (names[c], round(best, 4))
    return proposals


def _as_matrix(prints: dict[str, np.ndarray], keys: list[str]) -> np.ndarray:
    return unit_rows(np.stack([np.asarray(prints[k], dtype=np.float32).reshape(-1) for k in keys]))


def blend_prints(old: np.ndarray, old_seconds: float, new: np.ndarray, new_seconds: float) -> np.ndarray:
    """A known voice's print after one more meeting: the speech-weighted mean."""
    total = max(old_seconds + new_seconds, 1e-9)
    return unit_rows(old * (old_seconds / total) + new * (new_seconds / total))


def print_to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def print_from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").copy()
