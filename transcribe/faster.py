"""faster-whisper (CTranslate2): the default engine."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import numpy as np

from catalog.errors import ModelError
from catalog.types import Segment, Word
from transcribe import coverage
from transcribe import packing as packing_
from transcribe.base import Transcriber, register
from transcribe.guards import collapse_loop
from transcribe.models import hub_hint, resolve_whisper_model

# Defaults, measured on this 2-core CPU (benchmarks/transcription.py and
# the tuning runs behind it): batched pipeline, batch 8, beam 5, int8,
# one CTranslate2 thread per core. Greedy decoding is only ~1.3x faster
# here, because the 30 s encoder windows, word alignment and VAD cost the
# same either way, and it raises WER from 5.2% to 7.0% on the gold clips
# (openai-whisper: 4.9%); greedy-first with a beam retry on unsure chunks
# saved ~4%. Beam 4 matched beam 5's WER for ~5%. Batch 4, 8 and 16 are
# within noise of each other (16 a little slower). Chunks shorter than 30 s
# cost more encoder time and more WER. float32 and int8_float32 are no
# faster than int8, and MKL on this AMD CPU is 3x slower. Two 1-thread
# workers did not beat one 2-thread model.
#
# Whisper's own fallback ladder: a window that decodes into a loop or into
# low-confidence text is decoded again, hotter. (The batched pipeline only
# uses the first temperature; the sequential one walks the ladder.)
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _device(requested: str) -> tuple[str, str]:
    """int8 on CPU, float16 on CUDA, picked automatically."""
    if requested == "auto":
        import ctranslate2

        requested = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return requested, ("float16" if requested == "cuda" else "int8")


@register
class FasterWhisperTranscriber(Transcriber):
    engine = "faster-whisper"
    # Cut a region that does not fit so each window fills up (packing.py).
    # Off: tried on 24 minutes of real speech (the long-meeting recording),
    # full windows made tiny.en end more of them early: 28 regions skipped
    # instead of 13, gold WER 11.6% instead of 6.8%, and 15% more CPU once
    # the coverage pass had redone them.
    pack_cuts = False

    def load(self) -> None:
        model, device, batch_size = self.model_name, self.requested_device, self.batch_size
        from faster_whisper import BatchedInferencePipeline, WhisperModel
        from faster_whisper.utils import available_models

        resolved = resolve_whisper_model(model, self.cache_dir)
        if resolved.format == "openai":
            raise ModelError(f"{model} is an openai-whisper checkpoint; use --engine openai-whisper with it")
        if resolved.format == "hub" and model not in available_models():
            raise ModelError(f"faster-whisper has no model {model!r}; use tiny.en or a local model folder")
        self.model_id = resolved.model_id
        self.device, self.compute_type = _device(device)
        try:
            self.model = WhisperModel(
                resolved.location,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=os.cpu_count() or 0,
                local_files_only=resolved.local,
            )
        except Exception as exc:
            hint = hub_hint(model) if resolved.format == "hub" else "use tiny.en (bundled) or another folder"
            raise ModelError(
                f"Could not load Whisper model {model!r} ({type(exc).__name__}); {hint}"
            ) from None
        self.pipeline = BatchedInferencePipeline(self.model) if batch_size > 1 else None

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "beam_size": self.beam_size,
            "batch_size": self.batch_size,
            "language": self.language,
        }
        if self.vocabulary:  # absent when empty, so older transcripts keep their cache keys
            options["vocabulary"] = self.vocabulary
        return options

    @property
    def version(self) -> str:  # type: ignore[override]
        # The suffixes name our own passes over its output, which change the
        # text: our windows (packed full, or whole regions) and the coverage pass.
        packed = "" if self.pipeline is None else "+packed-1" if self.pack_cuts else "+regions-1"
        return f"faster-whisper-{metadata.version('faster-whisper')}{packed}+coverage-1"

    def _common(self) -> dict[str, Any]:
        return dict(
            language=self.language or None,
            beam_size=self.beam_size,
            temperature=TEMPERATURES,
            word_timestamps=True,
            # Conditioning on earlier text is what lets one hallucination
            # spread through the rest of a long meeting.
            condition_on_previous_text=False,
            # Hotwords go into every window's prompt in both pipelines (an
            # initial_prompt would reach only the first window of the
            # sequential one once conditioning is off).
            hotwords=self.prompt,
        )

    def transcribe(self, audio: np.ndarray) -> Iterator[Segment]:
        if self.pipeline is None:
            segments, _ = self.model.transcribe(audio, vad_filter=True, **self._common())
            yield from (_segment(seg) for seg in segments)
            return
        # One VAD pass serves the packing and the coverage check.
        with self.timed("vad"):
            regions = coverage.speech_regions(audio)
        with self.timed("decode"):
            first = [collapse_loop(seg) for seg in self._decode_packed(audio, regions)]
        with self.timed("coverage pass"):
            missed = coverage.skipped(regions, first)
            if missed:
                redone, _ = self.pipeline.transcribe(
                    audio,
                    batch_size=self.batch_size,
                    clip_timestamps=[{"start": r.start, "end": r.end} for r in missed],
                    **self._common(),
                )
                again = [collapse_loop(_segment(seg)) for seg in redone]
                first = coverage.splice(first, again, missed)
        yield from first

    def _decode_packed(self, audio: np.ndarray, regions: list[coverage.Region]) -> Iterator[Segment]:
        """The speech packed into full windows, decoded a batch at a time.

        A thread lays out each next batch and computes its features (numpy
        and the tokenizer, one core) while this one runs CTranslate2 on the
        batch before, so both cores stay busy."""
        assert self.pipeline is not None
        packing = packing_.pack(regions, audio if self.pack_cuts else None)
        batches: queue.Queue[Any] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def prepare() -> None:
            try:
                for i in range(0, len(packing.windows), self.batch_size):
                    windows = packing.windows[i : i + self.batch_size]
                    lo, hi = windows[0].start, windows[-1].end
                    clip = packing.packed(audio, lo, hi)
                    decoded, _ = self.pipeline.transcribe(  # type: ignore[union-attr]
                        clip,
                        batch_size=self.batch_size,
                        clip_timestamps=[{"start": w.start - lo, "end": w.end - lo} for w in windows],
                        **self._common(),
                    )
                    while not stop.is_set():
                        try:
                            batches.put((lo, decoded), timeout=0.5)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            except BaseException as exc:  # handed to the decoding thread, which raises it
                batches.put((None, exc))
                return
            batches.put((None, None))

        worker = threading.Thread(target=prepare, name="whisper-features", daemon=True)
        worker.start()
        try:
            while True:
                lo, decoded = batches.get()
                if lo is None:
                    if decoded is not None:
                        raise decoded
                    return
                for seg in decoded:
                    yield packing.restore(_segment(seg), lo)
        finally:
            stop.set()
            worker.join()


def _segment(seg: Any) -> Segment:
    return Segment(
        start=round(seg.start, 3),
        end=round(seg.end, 3),
        text=seg.text.strip(),
        words=[
            Word(
                start=round(w.start, 3),
                end=round(w.end, 3),
                word=w.word,
                probability=round(w.probability, 4),
            )
            for w in seg.words or []
        ],
        avg_logprob=seg.avg_logprob,
        no_speech_prob=seg.no_speech_prob,
        compression_ratio=seg.compression_ratio,
    )
