"""The small typed records that cross stage lines.

Every record round-trips through JSON with ``to_dict`` / ``from_dict`` so that
stages can hand work to each other (and to the CLI's ``--json``) without
sharing anything but these shapes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date as _date
from typing import Any, TypeVar

from catalog.errors import OnRecordError

T = TypeVar("T", bound="Record")


class Record:
    """Mixin giving a dataclass a JSON round-trip."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Body(Record):
    """A council, commission or board that holds meetings."""

    name: str
    id: int | None = None


@dataclass
class Word(Record):
    start: float
    end: float
    word: str
    probability: float = 1.0


@dataclass
class Segment(Record):
    """One stretch of transcribed speech, with its word timings."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    # Index of the speaker turn, where the source marks turns but not who
    # speaks (captions' ">>"); chunks never cross a turn.
    turn: int | None = None

    def doubtful(self) -> bool:
        """Whether Whisper itself doubted this passage: low confidence, likely
        no speech, or the repetitive text of a loop. The app marks these."""
        return (
            (self.avg_logprob is not None and self.avg_logprob < -1.0)
            or (self.no_speech_prob is not None and self.no_speech_prob > 0.6)
            or (self.compression_ratio is not None and self.compression_ratio > 2.4)
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        seg = super().from_dict(data)
        seg.words = [w if isinstance(w, Word) else Word.from_dict(w) for w in seg.words]
        return seg


# Cosine similarity of voice prints (resemblyzer), chosen on precision in the
# diarization benchmark: two different people on one phone call reached 0.875,
# while the same voice across halves of its speech scored 0.81 and up.
PROPOSE_AT = 0.90
# Strong enough to show "probably NAME" in transcripts and search results
# (the catalog's segments and the speaker book both apply it).
APPLY_AT = 0.93


@dataclass
class Speaker(Record):
    label: str
    name: str | None = None
    id: int | None = None


@dataclass
class Meeting(Record):
    """A recorded meeting and where it stands in the pipeline."""

    title: str
    body: str
    source_url: str
    source_id: str | None = None
    date: str | None = None  # ISO YYYY-MM-DD
    duration: float | None = None
    status: str = "queued"
    error: str | None = None
    audio_path: str | None = None
    audio_hash: str | None = None
    transcript_source: str = "whisper"  # or "captions"
    id: int | None = None

    def summary(self) -> dict[str, Any]:
        """The shape the CLI and API print for a meeting."""
        return {
            "id": self.id,
            "title": self.title,
            "date": self.date,
            "body": self.body,
            "status": self.status,
            "duration": self.duration,
            "source_url": self.source_url,
        }


@dataclass
class Chunk(Record):
    """A quotable passage: consecutive sentences of one speaker."""

    meeting_id: int
    seq: int
    start: float
    end: float
    text: str
    speaker: str | None = None
    id: int | None = None


@dataclass
class Hit(Record):
    """One search result, shaped as ``search --json`` prints it.

    ``text``, ``start`` and ``end`` are the quote: the sentence or few of the
    matching passage that answer the query, timed from its first word to its
    last, and ``url`` opens the recording at ``start``. ``context`` is the
    whole passage (chunk) around the quote, spoken from ``context_start`` to
    ``context_end``; records saved before quotes existed have the passage as
    their text and no context.
    """

    meeting_id: int
    meeting_title: str
    meeting_date: str | None
    body: str
    start: float
    end: float
    speaker: str | None
    text: str
    score: float
    url: str
    context: str = ""
    context_start: float | None = None
    context_end: float | None = None
    # "strong" when the passage clearly matches (close in meaning, or holding
    # the query's rare words), else "weak" (search/match.py).
    match: str = "strong"
    # Said during a public-comment period (by the meeting's chapters):
    # residents' testimony rather than members and staff.
    public_comment: bool = False


def parse_date(value: str, what: str = "date") -> str:
    """Normalise a user's date to ISO ``YYYY-MM-DD`` or say how to fix it."""
    try:
        return _date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise OnRecordError(f"{what} {value!r} is not a date; use YYYY-MM-DD, e.g. 2024-03-05") from None


# -- votes ------------------------------------------------------------------
VOTE_KINDS = ("roll_call", "voice", "unanimous_consent", "consent_agenda", "electronic")
VOTE_RESULTS = ("passed", "failed", "unknown")
MEMBER_VOTES = ("yes", "no", "abstain", "absent", "unclear")
VOTE_SOURCES = ("transcript", "legistar", "both")


@dataclass
class Person(Record):
    """Someone who sits on a body: the name, how it is spoken or
    transcribed ("Bike Shop" for Bagshaw), and Legistar's id when known."""

    name: str
    aliases: list[str] = field(default_factory=list)
    legistar_id: int | None = None
    id: int | None = None


@dataclass
class Membership(Record):
    """A seat on a body from one date to another (open ends unknown)."""

    person_id: int
    body: str
    title: str = "Member"
    start_date: str | None = None
    end_date: str | None = None
    id: int | None = None


@dataclass
class AgendaItem(Record):
    meeting_id: int | None
    seq: int
    title: str
    number: str | None = None
    matter_file: str | None = None
    matter_name: str | None = None
    legistar_id: int | None = None
    start: float | None = None  # second of the recording where it is taken up
    id: int | None = None

    @property
    def label(self) -> str:
        head = " ".join(filter(None, [self.number, self.matter_file]))
        return f"{head}: {self.title}" if head else self.title


@dataclass
class MemberVote(Record):
    """One member's answer: the name as spoken (or as the record gives it),
    the person it resolved to, and the vote."""

    name: str
    vote: str
    person_id: int | None = None
    person: str | None = None


@dataclass
class VoteEvent(Record):
    """A question put and decided: from the question (``start``) to the
    announced result (``end``), in seconds of the recording.

    Counts are those announced where the meeting states them; ``counted``
    keeps the tally of the members' answers, and ``disagreements`` says
    where the two (or the transcript and Legistar) differ, so nothing is
    silently resolved."""

    meeting_id: int | None
    motion: str
    kind: str
    result: str
    yes: int | None = None
    no: int | None = None
    abstain: int | None = None
    absent: int | None = None
    start: float | None = None
    end: float | None = None
    source: str = "transcript"
    confidence: float = 0.5
    members: list[MemberVote] = field(default_factory=list)
    agenda_item: str | None = None
    agenda_item_id: int | None = None
    counted: dict[str, int] | None = None
    disagreements: list[str] = field(default_factory=list)
    legistar_id: int | None = None
    # The other source's row this one is reconciled with, if any.
    twin_id: int | None = None
    id: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VoteEvent:
        event = super().from_dict(data)
        event.members = [m if isinstance(m, MemberVote) else MemberVote.from_dict(m) for m in event.members]
        return event

    def counts(self) -> dict[str, int | None]:
        return {"yes": self.yes, "no": self.no, "abstain": self.abstain, "absent": self.absent}


# -- chapters -----------------------------------------------------------------
CHAPTER_KINDS = ("agenda_item", "public_comment", "vote", "other")


@dataclass
class Chapter(Record):
    """A stretch of a meeting a table of contents names: an agenda item, a
    public-comment period, a vote, or the rest (roll call, adjournment).
    ``start`` is None for an agenda item nobody has found in the recording
    (a Legistar agenda without a second)."""

    start: float | None
    end: float | None
    title: str
    kind: str = "other"
    agenda_item_id: int | None = None

    def export(self) -> dict[str, Any]:
        """The shape the transcript's JSON export carries."""
        return {"start": self.start, "end": self.end, "title": self.title, "kind": self.kind}
