"""Speech to text: Whisper engines behind one ``Transcriber`` seam."""

from transcribe import faster as _faster  # noqa: F401  (registers the engine)
from transcribe import openai_engine as _openai_engine  # noqa: F401  (registers the engine)
from transcribe.base import TRANSCRIBERS, Transcriber, get_transcriber
from transcribe.cache import transcribe_cached, transcript_key

__all__ = ["TRANSCRIBERS", "Transcriber", "get_transcriber", "transcribe_cached", "transcript_key"]
