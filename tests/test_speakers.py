"""Speakers end to end: scripted espeak-ng meetings go through the real CLI
(ffmpeg, tiny.en, resemblyzer, MiniLM, SQLite); a person names a voice in
one meeting, and the body's next meeting recognises it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from benchmarks.scripted import have_espeak, scripted_meeting
from catalog.speakers import APPLY_AT
from tests.conftest import run

BODY = "Springfield Planning Commission"
OTHER_BODY = "Shelbyville Town Council"

# The chair's voice in every meeting, saying different words each time.
FIRST = [
    (
        "Chair Okafor",
        "Good evening. I call this meeting of the planning commission to order. "
        "Tonight we take up the zoning map for the river district.",
    ),
    ("Clerk Lindqvist", "Madam chair, all five commissioners are present and we have a quorum."),
    (
        "Member Brennan",
        "I have read the staff report twice, and I still do not see how the traffic "
        "study supports four stories on Mill Street.",
    ),
    (
        "Chair Okafor",
        "Thank you, commissioner. Staff will answer that question after public comment, "
        "and the floor is now open.",
    ),
    ("Clerk Lindqvist", "We have two speakers signed up, and one letter for the record."),
    (
        "Member Brennan",
        "Then I will hold my motion until we have heard from the residents of the east bank.",
    ),
]
SECOND = [
    (
        "Chair Okafor",
        "We are back in session. The only item tonight is the sidewalk repair contract "
        "for the north end, which the engineers priced last month.",
    ),
    (
        "Resident",
        "I live on Cedar Avenue. My mother uses a wheelchair, and the broken sidewalk in "
        "front of our house has kept her indoors since the winter.",
    ),
    (
        "Chair Okafor",
        "Thank you for coming tonight. The contract puts Cedar Avenue in the first phase, "
        "so the work should start before the end of summer.",
    ),
    ("Resident", "That is good news. Please put the schedule on the city website."),
]
ELSEWHERE = [
    (
        "Chair Okafor",
        "This is the town council of Shelbyville. Our first item is the library roof, "
        "which has leaked through two winters now.",
    ),
    (
        "Member Haddad",
        "The roofing bids came in under the estimate, and I move that we accept the lowest one.",
    ),
    ("Chair Okafor", "Moved. Is there a second? Hearing one, the motion passes without objection."),
]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not have_espeak():
        message = "espeak-ng and sox are needed for scripted meetings: apt-get install espeak-ng sox"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    import soundfile

    work = tmp_path_factory.mktemp("scripted")
    paths = {}
    for name, script, seed in (("first", FIRST, 11), ("second", SECOND, 12), ("elsewhere", ELSEWHERE, 13)):
        audio, _ = scripted_meeting(script, work, seed=seed)
        paths[name] = work / f"{name}.wav"
        soundfile.write(paths[name], audio, 16000)
    return paths


def _ingest(home: Path, path: Path, body: str) -> int:
    result = run(home, "ingest", str(path), "--body", body, "--json")
    assert result.exit_code == 0, result.output
    [meeting] = json.loads(result.output)["meetings"]
    assert meeting["status"] == "indexed"
    return int(meeting["id"])


def _speakers(home: Path, meeting_id: int) -> list[dict[str, Any]]:
    result = run(home, "speakers", str(meeting_id), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["speakers"]


def _search(home: Path, *args: str) -> list[dict[str, Any]]:
    result = run(home, "search", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["results"]


@pytest.mark.slow
def test_a_named_voice_is_recognised_in_the_bodys_next_meeting(
    home: Path, recordings: dict[str, Path]
) -> None:
    first = _ingest(home, recordings["first"], BODY)
    found = _speakers(home, first)
    assert [s["label"] for s in found] == ["SPEAKER_1", "SPEAKER_2", "SPEAKER_3"]
    # Speakers are numbered in order of appearance: the chair opens.
    chair = found[0]
    assert "order" in chair["sample"].lower() or "staff" in chair["sample"].lower()
    assert chair["seconds"] > 8 and chair["proposed_name"] is None

    named = run(home, "speakers", str(first), "--name", "SPEAKER_1", "Chair Okafor")
    assert named.exit_code == 0, named.output
    assert "Chair Okafor" in named.output
    assert _speakers(home, first)[0]["name"] == "Chair Okafor"

    second = _ingest(home, recordings["second"], BODY)
    elsewhere = _ingest(home, recordings["elsewhere"], OTHER_BODY)

    found = _speakers(home, second)
    assert [s["label"] for s in found] == ["SPEAKER_1", "SPEAKER_2"]
    chair, resident = found
    assert chair["proposed_name"] == "Chair Okafor" and chair["name"] is None
    # Measured 0.977 for the same espeak voice on new words; the threshold
    # for showing a name unconfirmed is 0.93.
    assert chair["proposed_score"] >= APPLY_AT
    assert chair["display"] == "probably Chair Okafor"
    # The resident never spoke before: no name, not even a suggestion.
    assert resident["proposed_name"] is None and resident["display"] == "SPEAKER_2"

    # Another body's meeting never borrows this body's names.
    assert all(s["proposed_name"] is None for s in _speakers(home, elsewhere))
    assert all(s["display"].startswith("SPEAKER_") for s in _speakers(home, elsewhere))

    hits = _search(home, "sidewalk repair contract", "--speaker", "Chair Okafor")
    assert hits[0]["meeting_id"] == second and hits[0]["speaker"] == "probably Chair Okafor"
    assert {h["speaker"] for h in hits} <= {"Chair Okafor", "probably Chair Okafor"}
    # The same voice said these words in the other body's meeting, where
    # nobody named it: searching by the name must not find them.
    assert _search(home, "library roof", "--body", OTHER_BODY)[0]["meeting_id"] == elsewhere
    by_name = _search(home, "library roof", "--speaker", "Chair Okafor")
    assert all(h["meeting_id"] != elsewhere for h in by_name)

    # Confirming the name drops the "probably", in the catalog and the index.
    run(home, "speakers", str(second), "--name", "SPEAKER_1", "Chair Okafor")
    assert _speakers(home, second)[0]["display"] == "Chair Okafor"
    hits = _search(home, "sidewalk repair contract", "--speaker", "Chair Okafor")
    assert hits[0]["meeting_id"] == second and hits[0]["speaker"] == "Chair Okafor"
    transcript = run(home, "transcript", str(second), "--format", "txt").output
    assert "Chair Okafor" in transcript and "probably" not in transcript
