"""openai-whisper (PyTorch): the reference implementation, as an alternative engine.

It runs on the same weights as faster-whisper: CTranslate2 folders (the
bundled tiny.en, the joined base, any local folder) are converted into an
openai-whisper checkpoint once and cached (see ``transcribe.convert``).
Decoding matches the faster-whisper engine where openai-whisper has the
setting: beam search, word timestamps, no conditioning on previous text,
the temperature fallback ladder, and the vocabulary in every window's prompt.
openai-whisper has no voice-activity filter, so silence goes to the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from catalog.errors import ModelError
from catalog.types import Segment, Word
from transcribe.base import Transcriber, register
from transcribe.convert import converted_checkpoint
from transcribe.faster import TEMPERATURES
from transcribe.models import hub_hint, resolve_whisper_model

# faster-whisper's default number of samples per hot temperature.
BEST_OF = 5


def _device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def load_checkpoint(path: Path, device: str) -> Any:
    """Build a Whisper model from a ``{"dims", "model_state_dict"}`` checkpoint,
    with the alignment heads the conversion carried (for word timings)."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    checkpoint = torch.load(path, map_location=device, weights_only=True)
    model = Whisper(ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"])
    heads = checkpoint.get("alignment_heads")
    if heads:
        mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model.to(device).eval()


@register
class OpenAIWhisperTranscriber(Transcriber):
    engine = "openai-whisper"

    def load(self) -> None:
        model, device = self.model_name, self.requested_device
        try:
            import whisper
        except ImportError:
            raise ModelError("openai-whisper is not installed; pip install openai-whisper") from None

        resolved = resolve_whisper_model(model, self.cache_dir)
        if resolved.format == "hub" and model not in whisper.available_models():
            raise ModelError(f"openai-whisper has no model {model!r}; use tiny.en or a local model folder")
        self.model_id = resolved.model_id
        self.version = f"openai-whisper-{metadata.version('openai-whisper')}"
        self.device = _device(device)
        try:
            if resolved.format == "hub":
                self.model = whisper.load_model(model, device=self.device)
            else:
                location = Path(resolved.location)
                if resolved.format == "ctranslate2":
                    location = converted_checkpoint(location, resolved.model_id, self.cache_dir)
                self.model = load_checkpoint(location, self.device)
        except ModelError:
            raise
        except Exception as exc:
            hint = hub_hint(model) if resolved.format == "hub" else "use tiny.en (bundled) or another model"
            raise ModelError(
                f"Could not load Whisper model {model!r} ({type(exc).__name__}); {hint}"
            ) from None

    def options(self) -> dict[str, Any]:
        # batch_size is not listed: openai-whisper decodes one window at a time.
        options: dict[str, Any] = {"beam_size": self.beam_size, "language": self.language}
        if self.vocabulary:
            options["vocabulary"] = self.vocabulary
        return options

    def transcribe(self, audio: np.ndarray) -> Iterator[Segment]:
        prompt = self.prompt
        result = self.model.transcribe(
            audio.astype(np.float32, copy=False),
            language=self.language or None,
            beam_size=self.beam_size if self.beam_size > 1 else None,
            best_of=BEST_OF,
            temperature=TEMPERATURES,
            word_timestamps=True,
            condition_on_previous_text=False,
            initial_prompt=prompt,
            # Without this the prompt reaches only the first 30 s window.
            carry_initial_prompt=prompt is not None,
            fp16=self.device != "cpu",
            verbose=None,
        )
        for seg in result["segments"]:
            yield Segment(
                start=round(float(seg["start"]), 3),
                end=round(float(seg["end"]), 3),
                text=seg["text"].strip(),
                words=[
                    Word(
                        start=round(float(w["start"]), 3),
                        end=round(float(w["end"]), 3),
                        word=w["word"],
                        probability=round(float(w["probability"]), 4),
                    )
                    for w in seg.get("words", [])
                ],
                avg_logprob=float(seg["avg_logprob"]),
                no_speech_prob=float(seg["no_speech_prob"]),
                compression_ratio=float(seg["compression_ratio"]),
            )
