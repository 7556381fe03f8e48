"""Scripted meetings spoken by espeak-ng voices, with exact reference turns
(we concatenate the clips ourselves, so who spoke when is known to the
sample). The diarization benchmark and the speaker tests both use them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from transcribe.turns import Turn

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: language+variant, pitch (0-99), words per minute."""

    name: str
    voice: str
    pitch: int
    speed: int


# Chosen to sound (and embed) unlike each other: espeak's voices share one
# synthesiser, so close variants look alike to a speaker encoder too.
VOICES = {
    "Chair Okafor": Voice("Chair Okafor", "en-us+m3", 40, 150),
    "Clerk Lindqvist": Voice("Clerk Lindqvist", "en-us+f4", 85, 175),
    "Member Brennan": Voice("Member Brennan", "en-gb-scotland+m7", 25, 140),
    "Member Haddad": Voice("Member Haddad", "en-us-nyc+m5", 35, 170),
    "Member Quill": Voice("Member Quill", "en-029+f5", 55, 160),
    # Only in the second meeting: a resident nobody has named before.
    "Resident": Voice("Resident", "en-us+antonio", 20, 135),
    # The hearing's six voices, which no threshold was ever tuned on
    # (benchmarks/diarization_sets.py keeps them held out).
    "Chair Abernathy": Voice("Chair Abernathy", "en-gb-x-rp+m1", 45, 155),
    "Clerk Moreno": Voice("Clerk Moreno", "en-us+f2", 70, 165),
    "Member Tanaka": Voice("Member Tanaka", "en-gb-x-gbclan+m4", 30, 145),
    "Member Oyelaran": Voice("Member Oyelaran", "en-gb+f3", 90, 180),
    "Resident Kowalski": Voice("Resident Kowalski", "en-gb-x-gbcwmd+m6", 50, 150),
    "Resident Delacroix": Voice("Resident Delacroix", "en-us+klatt3", 60, 160),
}

MEETING_1 = [
    (
        "Chair Okafor",
        "Good evening. I call this regular meeting of the city council to order. "
        "The clerk will call the roll.",
    ),
    ("Clerk Lindqvist", "Council member Brennan?"),
    ("Member Brennan", "Present."),
    ("Clerk Lindqvist", "Council member Haddad? Council member Quill?"),
    ("Member Haddad", "Here, thank you."),
    ("Member Quill", "Present, madam clerk."),
    ("Clerk Lindqvist", "Madam chair, all members are present and we have a quorum."),
    (
        "Chair Okafor",
        "Thank you. The first item is the budget amendment for the public works department, "
        "which moves two hundred thousand dollars from road resurfacing into storm drain repair.",
    ),
    (
        "Member Brennan",
        "I have real concerns about this amendment. The road resurfacing program is already "
        "two years behind, and the residents on the east side have waited long enough. "
        "I would like to hear from staff before we vote on anything tonight.",
    ),
    (
        "Member Haddad",
        "I understand that, but the storm drains flooded three times last spring, "
        "and every one of those floods cost us more than this whole amendment.",
    ),
    ("Member Quill", "I move that we approve the amendment as written."),
    ("Member Haddad", "Second."),
    (
        "Chair Okafor",
        "It has been moved and seconded. Is there any further discussion? "
        "Seeing none, the clerk will call the vote.",
    ),
    ("Clerk Lindqvist", "The motion carries, three votes to one."),
    (
        "Member Brennan",
        "Let the record show that I voted no, and that I will bring the resurfacing "
        "schedule back to this council next month.",
    ),
    ("Chair Okafor", "So noted. We are adjourned."),
]

MEETING_2 = [
    (
        "Clerk Lindqvist",
        "This special meeting of the city council is now in session. The chair is on her way.",
    ),
    (
        "Member Quill",
        "While we wait, I want to thank the public works crews for the fast repairs on "
        "Fifth Street after the storm last week. They worked through the night.",
    ),
    (
        "Chair Okafor",
        "Thank you for waiting. Our only item tonight is public comment on the police "
        "department's agreement with federal immigration authorities.",
    ),
    (
        "Resident",
        "Thank you for hearing us. I have lived in this city for twenty two years, and my "
        "neighbours are afraid to call the police when something happens on our street. "
        "Please end this agreement.",
    ),
    ("Member Haddad", "Can staff tell us how many requests we received under the agreement last year?"),
    ("Member Brennan", "And whether any of them involved people who were never charged with a crime."),
    ("Chair Okafor", "We will ask the chief to answer both questions in writing before the next meeting."),
    ("Member Quill", "I would like that report to be public."),
    ("Clerk Lindqvist", "It will be posted on the council's website, with the agenda."),
    ("Chair Okafor", "Thank you all. We are adjourned."),
]


HEARING = [
    (
        "Chair Abernathy",
        "This public hearing on the proposed rezoning of the waterfront warehouses will come to order. "
        "The clerk will read the notice.",
    ),
    (
        "Clerk Moreno",
        "Notice of this hearing was published in the daily journal on the third and the tenth of the month, "
        "and mailed to every owner within three hundred feet.",
    ),
    ("Chair Abernathy", "Thank you. Commissioner Tanaka, you asked to speak first."),
    (
        "Member Tanaka",
        "I did. The staff report assumes the new housing brings no extra traffic to Harbor Road, "
        "and I find that very hard to believe.",
    ),
    ("Member Oyelaran", "Point of order."),
    ("Chair Abernathy", "Go ahead."),
    (
        "Member Oyelaran",
        "The traffic study is an appendix to the report, and it counts the trucks that would leave "
        "when the warehouses close.",
    ),
    ("Member Tanaka", "Fair enough. I withdraw the point."),
    ("Chair Abernathy", "We will now hear from the public. Each speaker has two minutes."),
    (
        "Resident Kowalski",
        "My family has run a bakery on Pier Street for forty years. We are not against housing, "
        "but we need the loading zone in front of our door, every morning before six.",
    ),
    ("Clerk Moreno", "One minute remaining."),
    (
        "Resident Kowalski",
        "Please keep the loading zone in the plan. That is all I ask.",
    ),
    (
        "Resident Delacroix",
        "I rent an apartment two blocks from the warehouses. Rents on my street went up by a third "
        "in two years, and new homes are the only thing that will slow that down.",
    ),
    ("Member Oyelaran", "Thank you both. Staff, can the loading zone stay?"),
    ("Clerk Moreno", "Staff say yes, it is in the second phase of the street plan."),
    ("Member Tanaka", "Then I move to close the hearing."),
    ("Member Oyelaran", "Second."),
    ("Chair Abernathy", "The hearing is closed. We will vote at the next regular meeting."),
]


def synthesize(voice: Voice, text: str, work: Path) -> np.ndarray:
    """espeak-ng speaks ``text``; sox makes it 16 kHz mono; edges trimmed."""
    import soundfile

    raw, wav = work / "raw.wav", work / "16k.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice.voice, "-p", str(voice.pitch), "-s", str(voice.speed), "-w", raw, text],
        check=True,
    )
    subprocess.run(["sox", "-V1", raw, "-r", str(SAMPLE_RATE), "-c", "1", wav], check=True)
    audio, _ = soundfile.read(wav, dtype="float32")
    loud = np.nonzero(np.abs(audio) > 1e-3)[0]
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio


def scripted_meeting(
    script: Sequence[tuple[str, str]], work: Path, seed: int = 0, vary: bool = False
) -> tuple[np.ndarray, list[Turn]]:
    """The script spoken turn by turn, with pauses of 0.3-1.2 s and a faint
    room hiss, and its exact reference turns (labels are the speakers' names).

    ``vary`` nudges each line's pitch and pace a little, as a person never
    says a line the same way twice: a long meeting made by repeating a short
    script would otherwise repeat identical audio, whose identical vectors
    pile up into clusters of their own.
    """
    rng = np.random.default_rng(seed)
    pieces, reference, at = [np.zeros(int(0.5 * SAMPLE_RATE), dtype=np.float32)], [], 0.5
    for speaker, text in script:
        voice = VOICES[speaker]
        if vary:
            pitch = int(np.clip(voice.pitch + rng.integers(-4, 5), 0, 99))
            voice = replace(voice, pitch=pitch, speed=int(voice.speed * rng.uniform(0.94, 1.06)))
        clip = synthesize(voice, text, work) * 0.5
        reference.append(Turn(round(at, 3), round(at + len(clip) / SAMPLE_RATE, 3), speaker))
        gap = np.zeros(int(rng.uniform(0.3, 1.2) * SAMPLE_RATE), dtype=np.float32)
        pieces += [clip, gap]
        at += (len(clip) + len(gap)) / SAMPLE_RATE
    audio = np.concatenate(pieces)
    audio += rng.normal(0, 0.002, len(audio)).astype(np.float32)
    return audio, reference


def have_espeak() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))
