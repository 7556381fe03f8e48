"""A transcript as one stream of timed, normalised tokens, so that cue
phrases split across caption cues or segments still match."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from catalog.types import Segment

WORD = re.compile(r"[\w'’-]+|[.?!;:,]")
NUMBERS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
        " sixteen seventeen eighteen nineteen twenty".split()
    )
}


def fold(text: str) -> str:
    """Lower case, accents and apostrophes dropped: 'González' -> 'gonzalez'."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower().replace("’", "'")


@dataclass
class Token:
    text: str  # as written
    norm: str  # folded, punctuation stripped
    start: float
    end: float
    turn: object  # speaker label, caption turn, or the segment index when neither is known
    stop: bool = False  # a sentence or question ends after this token


class Stream:
    """Tokens plus a flat string of their norms for regular expressions,
    with a map from character offsets back to tokens."""

    def __init__(self, segments: list[Segment]) -> None:
        self.tokens: list[Token] = []
        for i, seg in enumerate(segments):
            turn = seg.speaker or (("turn", seg.turn) if seg.turn is not None else ("seg", i))
            for text, start, end in _timed(seg):
                if text in ".?!;:,":
                    if self.tokens:
                        self.tokens[-1].stop = self.tokens[-1].stop or text in ".?!;"
                    continue
                norm = fold(text).strip("'-")
                if norm:
                    stop = text.endswith((".", "?", "!"))
                    self.tokens.append(Token(text.strip(), norm, start, end, turn, stop))
            if self.tokens and seg.text.rstrip().endswith((".", "?", "!")):
                self.tokens[-1].stop = True
        self.flat = ""
        self._offsets: list[int] = []
        for tok in self.tokens:
            self._offsets.append(len(self.flat))
            self.flat += tok.norm + " "

    def token_at(self, offset: int) -> int:
        """Index of the token holding character ``offset`` of ``flat``."""
        lo, hi = 0, len(self._offsets) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._offsets[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def offset_of(self, index: int) -> int:
        return self._offsets[index] if index < len(self._offsets) else len(self.flat)

    def span_text(self, first: int, last: int) -> str:
        return " ".join(t.text for t in self.tokens[first : last + 1])

    def index_at_time(self, seconds: float) -> int:
        for i, tok in enumerate(self.tokens):
            if tok.start >= seconds:
                return i
        return len(self.tokens)


def _timed(seg: Segment) -> list[tuple[str, float, float]]:
    """The segment's words with times: its own word timings where it has
    them, else spread evenly over the segment."""
    if seg.words:
        out = []
        for w in seg.words:
            pieces = WORD.findall(w.word)
            for p in pieces:
                out.append((p, w.start, w.end))
        return out
    pieces = WORD.findall(seg.text)
    if not pieces:
        return []
    step = max(seg.end - seg.start, 0.0) / len(pieces)
    return [(p, seg.start + i * step, seg.start + (i + 1) * step) for i, p in enumerate(pieces)]


def number(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return NUMBERS.get(word)
