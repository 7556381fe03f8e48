"""Turn CTranslate2 Whisper weights into an openai-whisper checkpoint.

The only weights that ship offline are in CTranslate2 format, so this is what
lets the openai-whisper engine run (and be compared) on exactly the same
model as faster-whisper. ``model.bin`` is: a version, the spec name, its
revision, then named arrays (rank, dims, dtype, byte count, bytes), then
aliases. The layout mirrors ``ctranslate2.specs.model_spec._serialize``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from catalog.errors import ModelError

# Bump when the mapping changes so stale checkpoints are not reused.
CONVERTER_VERSION = 1

# The order of ctranslate2's DataType enum (include/ctranslate2/types.h).
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise EOFError
    return struct.unpack(fmt, data)[0]


def _read_string(fh: BinaryIO) -> str:
    length = _read(fh, "H")
    return fh.read(length)[:-1].decode("utf-8")  # stored with a trailing NUL


def read_ct2_header(path: Path) -> tuple[int, str, int]:
    """(binary version, spec name, spec revision): enough to check a file is Whisper."""
    with path.open("rb") as fh:
        try:
            return _read(fh, "I"), _read_string(fh), _read(fh, "I")
        except (EOFError, UnicodeDecodeError):
            raise ModelError(f"{path} is not a CTranslate2 model file; rebuild the model folder") from None


def read_ct2_variables(path: Path) -> dict[str, np.ndarray]:
    """Every named array in a CTranslate2 ``model.bin``, aliases resolved."""
    variables: dict[str, np.ndarray] = {}
    with path.open("rb") as fh:
        try:
            version, spec, _revision = _read(fh, "I"), _read_string(fh), _read(fh, "I")
            if version < 5 or spec != "WhisperSpec":
                raise ModelError(f"{path} holds a {spec} (format {version}), not a Whisper model")
            for _ in range(_read(fh, "I")):
                name = _read_string(fh)
                shape = tuple(_read(fh, "I") for _ in range(_read(fh, "B")))
                dtype = _DTYPES[_read(fh, "B")]
                raw = fh.read(_read(fh, "I"))
                if dtype == "bfloat16":
                    # NumPy has no bfloat16: widen the 16 bits into float32's top half.
                    array = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
                else:
                    array = np.frombuffer(raw, dtype)
                variables[name] = array.reshape(shape)
            for _ in range(_read(fh, "I")):
                alias, target = _read_string(fh), _read_string(fh)
                variables[alias] = variables[target]
        except (EOFError, IndexError, UnicodeDecodeError, ValueError):
            raise ModelError(f"{path} is truncated or damaged; reinstall or rebuild the model") from None
    return variables


def _layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    return 1 + max((int(m.group(1)) for k in variables if (m := pattern.match(k))), default=-1)


def _split_qkv(fused_w: np.ndarray, fused_b: np.ndarray, parts: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(zip(np.split(fused_w, parts), np.split(fused_b, parts), strict=True))


def _attention(v: dict[str, np.ndarray], src: str, dst: str, cross: bool) -> dict[str, np.ndarray]:
    """Map one attention block. openai-whisper's key projection has no bias:
    CTranslate2 stores zeros there, which are dropped."""
    out: dict[str, np.ndarray] = {}
    if cross:
        q = (v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"])
        k, val = _split_qkv(v[f"{src}/linear_1/weight"], v[f"{src}/linear_1/bias"], 2)
        proj = f"{src}/linear_2"
    else:
        q, k, val = _split_qkv(v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"], 3)
        proj = f"{src}/linear_1"
    if np.any(k[1]):
        raise ModelError(f"{src}: the key projection has a bias openai-whisper cannot hold")
    out[f"{dst}.query.weight"], out[f"{dst}.query.bias"] = q
    out[f"{dst}.key.weight"] = k[0]
    out[f"{dst}.value.weight"], out[f"{dst}.value.bias"] = val
    out[f"{dst}.out.weight"], out[f"{dst}.out.bias"] = v[f"{proj}/weight"], v[f"{proj}/bias"]
    return out


def _norm(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, np.ndarray]:
    return {f"{dst}.weight": v[f"{src}/gamma"], f"{dst}.bias": v[f"{src}/beta"]}


def _mlp(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, np.ndarray]:
    return {
        f"{dst}.mlp.0.weight": v[f"{src}/linear_0/weight"],
        f"{dst}.mlp.0.bias": v[f"{src}/linear_0/bias"],
        f"{dst}.mlp.2.weight": v[f"{src}/linear_1/weight"],
        f"{dst}.mlp.2.bias": v[f"{src}/linear_1/bias"],
        **_norm(v, f"{src}/layer_norm", f"{dst}.mlp_ln"),
    }


def ct2_to_openai(variables: dict[str, np.ndarray]) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """The openai-whisper ``dims`` and state dict for CTranslate2 Whisper weights."""
    v = variables
    if any(k.endswith("weight_scale") for k in v):
        raise ModelError("The model is quantized (int8); convert from a float16 or float32 model folder")
    embeddings = v["decoder/embeddings/weight"]
    projection = v.get("decoder/projection/weight", embeddings)
    if projection is not embeddings and not np.array_equal(projection, embeddings):
        raise ModelError("The model's output projection is not tied to its embeddings, as Whisper's is")
    dims = {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(v["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": _layers(v, "encoder"),
        "n_vocab": int(embeddings.shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(embeddings.shape[1]),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": _layers(v, "decoder"),
    }
    state: dict[str, np.ndarray] = {
        "encoder.positional_embedding": v["encoder/position_encodings/encodings"],
        "encoder.conv1.weight": v["encoder/conv1/weight"],
        "encoder.conv1.bias": v["encoder/conv1/bias"],
        "encoder.conv2.weight": v["encoder/conv2/weight"],
        "encoder.conv2.bias": v["encoder/conv2/bias"],
        **_norm(v, "encoder/layer_norm", "encoder.ln_post"),
        "decoder.positional_embedding": v["decoder/position_encodings/encodings"],
        "decoder.token_embedding.weight": embeddings,
        **_norm(v, "decoder/layer_norm", "decoder.ln"),
    }
    for i in range(dims["n_audio_layer"]):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        state |= _attention(v, f"{src}/self_attention", f"{dst}.attn", cross=False)
        state |= _norm(v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        state |= _mlp(v, f"{src}/ffn", dst)
    for i in range(dims["n_text_layer"]):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        state |= _attention(v, f"{src}/self_attention", f"{dst}.attn", cross=False)
        state |= _norm(v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        state |= _attention(v, f"{src}/attention", f"{dst}.cross_attn", cross=True)
        state |= _norm(v, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
        state |= _mlp(v, f"{src}/ffn", dst)
    return dims, state


def alignment_heads(model_dir: Path) -> list[list[int]] | None:
    """The (layer, head) pairs used for word timings, from the model's config.json."""
    config = model_dir / "config.json"
    if not config.exists():
        return None
    heads = json.loads(config.read_text()).get("alignment_heads")
    return [list(map(int, pair)) for pair in heads] if heads else None


def atomic_write(target: Path, write: Any) -> None:
    """Call ``write(path)`` on a temporary file beside ``target``, then rename it
    into place, so a killed run never leaves a half-written file under the real name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def converted_checkpoint(model_dir: Path, identity: str, cache_dir: Path) -> Path:
    """An openai-whisper checkpoint for the CTranslate2 model in ``model_dir``,
    converted once and cached under ``cache_dir`` by the source's identity."""
    import torch

    key = hashlib.sha256(f"{identity}|converter-{CONVERTER_VERSION}".encode()).hexdigest()[:20]
    target = cache_dir / "openai-whisper" / f"{key}.pt"
    if target.exists():
        return target
    weights = model_dir / "model.bin"
    if not weights.exists():
        raise ModelError(f"{model_dir} holds no model.bin; point --model at a CTranslate2 Whisper folder")
    dims, state = ct2_to_openai(read_ct2_variables(weights))
    checkpoint = {
        "dims": dims,
        # float16 halves the file; openai-whisper casts to the model's dtype on load.
        "model_state_dict": {k: torch.from_numpy(a.astype(np.float16)) for k, a in state.items()},
        # openai-whisper keeps alignment heads out of the state dict; carry them
        # so word timings use the same heads as faster-whisper.
        "alignment_heads": alignment_heads(model_dir),
        "source": identity,
    }
    atomic_write(target, lambda tmp: torch.save(checkpoint, tmp))
    return target
