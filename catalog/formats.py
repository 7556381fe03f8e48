"""Transcript renderings: plain text, WebVTT, SRT and JSON."""

from __future__ import annotations

import json

from catalog.types import Chapter, Meeting, Segment

FORMATS = ("txt", "vtt", "srt", "json")
# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A cell a spreadsheet shows as text: one that would start a formula
    gets a leading apostrophe (OWASP's advice for CSV injection). Every CSV
    export writes its cells through this."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


# Names the file as ours: importing it back takes it verbatim rather than
# merging words repeated across cues, as broadcast captions need.
VTT_HEADER = "WEBVTT - OnRecord transcript"


def clock(seconds: float, sep: str = ".") -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cue_text(seg: Segment) -> str:
    return f"{seg.speaker}: {seg.text}" if seg.speaker else seg.text


def render(meeting: Meeting, segments: list[Segment], fmt: str, chapters: list[Chapter] | None = None) -> str:
    if fmt == "json":
        return json.dumps(
            {
                "meeting": meeting.summary(),
                "chapters": [c.export() for c in chapters or []],
                "segments": [s.to_dict() for s in segments],
            },
            indent=2,
        )
    if fmt == "vtt":
        cues = [f"{clock(s.start)} --> {clock(s.end)}\n{_cue_text(s)}" for s in segments]
        return f"{VTT_HEADER}\n\n" + "\n\n".join(cues) + "\n"
    if fmt == "srt":
        cues = [
            f"{i}\n{clock(s.start, ',')} --> {clock(s.end, ',')}\n{_cue_text(s)}"
            for i, s in enumerate(segments, 1)
        ]
        return "\n\n".join(cues) + "\n"
    if fmt == "txt":
        lines = [f"[{clock(s.start)[:8]}] {_cue_text(s)}" for s in segments]
        return f"{meeting.title} ({meeting.body}, {meeting.date or 'undated'})\n\n" + "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r}")
