"""Caption import: WebVTT and SRT become a transcript without Whisper.

Broadcast and automatic captions repeat themselves: in roll-up captions a
cue starts with the line the previous cue ended on, and YouTube's automatic
captions add 10 ms cues that only repeat. Those repeats are merged away
here, and only those: a repeat counts when it is whole lines, at both ends,
of a cue that follows the last one straight on, and a cue that is nothing
but a repeat must be a filler that brief. Anything else was said twice (a
clerk calling a name again, "Aye." after "Aye.") and is kept, so a
transcript exported as WebVTT imports back word for word. ``>>`` marks a
change of speaker in broadcast captions, so it starts a new turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from catalog.errors import SourceError
from catalog.types import Segment, Word

# Hours are bounded: a 400-digit hour is no caption, and no float holds it.
TIMING = re.compile(
    r"(?<!\d)(?:(\d{1,5}):)?(\d{1,2}):(\d{2})[.,](\d{3})\s*-->\s*"
    r"(?:(\d{1,5}):)?(\d{1,2}):(\d{2})[.,](\d{3})(?!\d)"
)
INLINE_TIME = re.compile(r"<(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})>")
TAG = re.compile(r"</?[^>]+>")
SENTENCE_END = re.compile(r"[.?!]['\")\]]*$")
# A roll-up cue follows the one before within this much; a repeat-only
# cue is a filler when it lasts no longer than this.
ROLL_UP_GAP = 1.0
FILLER_SECONDS = 0.05
SEGMENT_WORDS = 40
GAP_SECONDS = 2.0
CAPTION_SUFFIXES = (".vtt", ".srt")


@dataclass
class Cue:
    start: float
    end: float
    text: str  # raw text, tags and inline timestamps included


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_cues(text: str) -> list[Cue]:
    """Read the cues of a WebVTT or SRT file; notes and styles are skipped."""
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = block.strip("\n").split("\n")
        for i, line in enumerate(lines):
            match = TIMING.search(line)
            if match:
                g = match.groups()
                body = "\n".join(lines[i + 1 :]).strip()
                cues.append(Cue(_seconds(*g[:4]), _seconds(*g[4:]), body))
                break
    return cues


def _norm(token: str) -> str:
    return re.sub(r"[^\w']", "", token.lower())


def _timed_words(cue: Cue) -> list[tuple[str, float | None]]:
    """Words with their inline start times where the cue gives them."""
    words: list[tuple[str, float | None]] = []
    marked: float | None = None
    for piece in re.split(r"(<(?:\d+:)?\d{2}:\d{2}\.\d{3}>)", cue.text.replace("\n", " ")):
        inline = INLINE_TIME.fullmatch(piece)
        if inline:
            marked = _seconds(*inline.groups())
            continue
        for token in TAG.sub("", piece).split():
            words.append((token, marked))
            marked = None
    return words


def cues_to_segments(cues: list[Cue]) -> list[Segment]:
    """Merge overlapping cues into segments with word timings and turns."""
    words: list[tuple[Word, int]] = []  # (word, turn)
    turn = 0
    last_end = 0.0
    previous: tuple[Cue, list[list[str]]] | None = None
    for cue in cues:
        if cue.end <= cue.start and not cue.text.strip():
            continue
        incoming = _timed_words(cue)
        lines = _line_words(cue)
        overlap = _repeat(previous, cue, lines)
        if any(lines):
            previous = (cue, lines)
        fresh: list[tuple[str, float | None]] = []
        skipped = 0
        for token, at in incoming:
            if token != ">>" and skipped < overlap:
                skipped += 1
                continue
            fresh.append((token, at))
        texts = [t for t, _ in fresh if t != ">>"]
        span = max(cue.end - cue.start, 0.01)
        total = sum(len(t) + 1 for t in texts) or 1
        starts: list[float] = []
        cursor = cue.start
        for token, at in fresh:
            if token != ">>":
                # Inline timestamps (automatic captions) beat spreading the
                # cue's time over its words by their length.
                starts.append(at if at is not None else cursor)
                cursor = starts[-1] + span * (len(token) + 1) / total
        ends = starts[1:] + [cue.end]
        index = 0
        for token, _ in fresh:
            if token == ">>":
                turn += 1
                continue
            start = max(starts[index], last_end)
            # At least a millisecond (what WebVTT can say), but never past the
            # cue's end for it: the next cue's words start there.
            end = max(min(max(ends[index], start + 0.001), cue.end), start)
            words.append((Word(round(start, 3), round(end, 3), " " + token), turn))
            last_end = end
            index += 1
    return _group(words)


def _line_words(cue: Cue) -> list[list[str]]:
    """Each line of a cue as the normalised words it shows."""
    lines = []
    for line in cue.text.split("\n"):
        shown = TAG.sub("", INLINE_TIME.sub("", line)).split()
        lines.append([_norm(t) for t in shown if t != ">>"])
    return lines


def _repeat(previous: tuple[Cue, list[list[str]]] | None, cue: Cue, lines: list[list[str]]) -> int:
    """How many leading words of ``cue`` only repeat the previous cue's
    closing lines (see the module's docstring for when that counts)."""
    if previous is None or cue.start - previous[0].end > ROLL_UP_GAP:
        return 0
    before = previous[1]
    for m in range(len(lines), 0, -1):
        if m == len(lines) and cue.end - cue.start > FILLER_SECONDS:
            continue  # a whole cue said again, at length: said again
        head = [w for line in lines[:m] for w in line]
        if not head:
            continue
        for k in range(1, len(before) + 1):
            tail = [w for line in before[-k:] for w in line]
            if tail == head:
                return len(head)
            if len(tail) > len(head):
                break
    return 0


def _group(words: list[tuple[Word, int]]) -> list[Segment]:
    segments: list[Segment] = []
    current: list[Word] = []
    current_turn = 0

    def close() -> None:
        if current:
            text = "".join(w.word for w in current).strip()
            segments.append(
                Segment(current[0].start, current[-1].end, text, list(current), turn=current_turn)
            )
            current.clear()

    for word, turn in words:
        if current and (
            turn != current_turn
            or word.start - current[-1].end > GAP_SECONDS
            or (len(current) >= SEGMENT_WORDS and SENTENCE_END.search(current[-1].word))
            or len(current) >= 2 * SEGMENT_WORDS
        ):
            close()
        current_turn = turn
        current.append(word)
    close()
    return segments


def read_captions(path: Path) -> list[Segment]:
    """Parse a caption file; raises SourceError when it holds no captions."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(
            f"{path.name}: cannot read captions ({type(exc).__name__}); give a UTF-8 WebVTT or SRT file"
        ) from None
    cues = parse_cues(text)
    if not cues:
        raise SourceError(f"{path.name}: no caption cues found; give a WebVTT or SRT file with timings")
    segments = cues_to_segments(cues)
    if not segments:
        raise SourceError(f"{path.name}: the captions are empty")
    return segments
