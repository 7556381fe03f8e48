"""Caption import: WebVTT and SRT become a transcript without Whisper.

Broadcast and automatic captions repeat themselves: each cue often starts
with the words the previous cue ended on (roll-up captions), and YouTube's
automatic captions add near-empty cues that only repeat. Those overlaps are
merged away here, except in a transcript OnRecord exported itself (its
WebVTT header says so): that one is verbatim, and "Aye." after "Aye." was
said twice, so it imports back word for word. ``>>`` marks a change of
speaker in broadcast captions, so it starts a new turn, even where a
captioner typed it against a word ("!>>").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from catalog.errors import SourceError
from catalog.formats import VTT_HEADER
from catalog.types import Segment, Word

# Hours are bounded: a 400-digit hour is no caption, and no float holds it.
TIMING = re.compile(
    r"(?<!\d)(?:(\d{1,5}):)?(\d{1,2}):(\d{2})[.,](\d{3})\s*-->\s*"
    r"(?:(\d{1,5}):)?(\d{1,2}):(\d{2})[.,](\d{3})(?!\d)"
)
INLINE_TIME = re.compile(r"<(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})>")
TAG = re.compile(r"</?[^>]+>")
SENTENCE_END = re.compile(r"[.?!]['\")\]]*$")
MAX_OVERLAP = 40
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
        for token in TAG.sub("", piece).replace(">>", " >> ").split():
            words.append((token, marked))
            marked = None
    return words


def cues_to_segments(cues: list[Cue], merge_repeats: bool = True) -> list[Segment]:
    """Merge overlapping cues into segments with word timings and turns;
    ``merge_repeats=False`` keeps every word of every cue (a verbatim file)."""
    words: list[tuple[Word, int]] = []  # (word, turn)
    turn = 0
    last_end = 0.0
    for cue in cues:
        if cue.end <= cue.start and not cue.text.strip():
            continue
        incoming = _timed_words(cue)
        tail = [_norm(w.word) for w, _ in words[-MAX_OVERLAP:]] if merge_repeats else []
        overlap = _overlap(tail, [_norm(t) for t, _ in incoming if t != ">>"])
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


def _overlap(tail: list[str], head: list[str]) -> int:
    """How many leading words of ``head`` repeat the end of ``tail``."""
    for k in range(min(len(tail), len(head)), 0, -1):
        if tail[-k:] == head[:k]:
            return k
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


def captions_to_segments(text: str) -> list[Segment]:
    """The transcript a caption file's text holds; our own export is verbatim."""
    verbatim = text.lstrip("\ufeff").startswith(VTT_HEADER)
    return cues_to_segments(parse_cues(text), merge_repeats=not verbatim)


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
    segments = captions_to_segments(text)
    if not segments:
        raise SourceError(f"{path.name}: the captions are empty")
    return segments
