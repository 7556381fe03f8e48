"""Cut a transcript into quotable chunks.

A chunk is a run of whole sentences by one speaker, at most ``max_words``
long, timed from its first word to its last. Sentences come from the word
timings, so a chunk's start and end are where its words were spoken, not
where Whisper's 30-second windows happened to fall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from catalog.types import Chunk, Segment, Word

SENTENCE_END = re.compile(r"[.?!…]['\")\]]*$")
MAX_WORDS = 120
# A roll call (names and "Here.") runs about twenty words.
SHORT_TURN_WORDS = 25


@dataclass
class Sentence:
    start: float
    end: float
    text: str
    speaker: str | None
    n_words: int
    turn: int | None = None


def sentences(segments: list[Segment]) -> list[Sentence]:
    """Split segments into sentences, never across a change of speaker."""
    found: list[Sentence] = []
    for seg in segments:
        words = seg.words or [Word(seg.start, seg.end, seg.text)]
        current: list[Word] = []
        for word in words:
            current.append(word)
            if SENTENCE_END.search(word.word.strip()):
                found.append(_sentence(current, seg.speaker, seg.turn))
                current = []
        if current:
            # Whisper segments usually end at a pause, so close the sentence.
            found.append(_sentence(current, seg.speaker, seg.turn))
    return [s for s in found if s.text]


def _sentence(words: list[Word], speaker: str | None, turn: int | None) -> Sentence:
    text = "".join(w.word for w in words).strip()
    return Sentence(words[0].start, words[-1].end, text, speaker, len(text.split()), turn)


def chunk_segments(meeting_id: int, segments: list[Segment], max_words: int = MAX_WORDS) -> list[Chunk]:
    chunks: list[Chunk] = []
    group: list[Sentence] = []

    def close() -> None:
        if group:
            chunks.append(
                Chunk(
                    meeting_id=meeting_id,
                    seq=len(chunks),
                    start=group[0].start,
                    end=group[-1].end,
                    text=" ".join(s.text for s in group),
                    speaker=group[0].speaker,
                )
            )
            group.clear()

    found = sentences(segments)
    for i, sentence in enumerate(found):
        size = sum(s.n_words for s in group)
        if group and size + sentence.n_words > max_words:
            close()
        elif group and _voice(sentence) != _voice(group[0]):
            # A short interjection ("Here.", a roll call's names) stays with
            # the passage it answers; a real turn starts a chunk of its own.
            run = _run_words(found, i)
            if run >= SHORT_TURN_WORDS or size + run > max_words:
                close()
        group.append(sentence)
    close()
    return chunks


def _voice(sentence: Sentence) -> tuple[str | None, int | None]:
    return (sentence.speaker, sentence.turn)


def _run_words(found: list[Sentence], i: int) -> int:
    """Words in the run of sentences by the same voice starting at ``i``."""
    words = 0
    for sentence in found[i:]:
        if _voice(sentence) != _voice(found[i]):
            break
        words += sentence.n_words
    return words
