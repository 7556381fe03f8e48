"""Words as Whisper writes them: the spellings one term takes in transcripts.

"287(g)" comes out as 287G, 287-G and 28-7G; "ICE" as "ice" and "I.C.E.";
a sheriff's name in three spellings. FTS5 sees each as different tokens, so
the index keeps a table of variants by key (``SQLiteStore`` owns it):

- codes, numbers with letters: the key is the lowercased letters and digits
  run together ("#287g", "#sb54"), the variant is the phrase FTS5 tokenises
  the written form into ("287 g", "287g", "28 7g"); dotted acronyms ("I.C.E.")
  and words split by apostrophes or hyphens ("Wet'suwet'en") key as the word
  they spell ("#ice" → "i c e");
- words that may be names: the key is their Metaphone code, the variant the
  word itself.

A query's terms are widened with their variants before they reach FTS5
(``query.fts_expression``'s ``expand``). Names widen only where that cannot
cost precision: both the typed word and its variant must be rare in the
index (misspellings are), and close in spelling as well as in sound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

TOKEN = re.compile(r"\w+", re.UNICODE)
# 287(g), 287-G, 28-7G, 287 (g), 287G: digits (hyphen-split too), then one
# letter, bracketed or joined. Never a lone "3 a" of running text: the
# letter is bracketed, joined, hyphened or a capital.
NUMBER_LETTER = re.compile(
    r"(?<![\w.-])(\d+(?:-\d+)*)(?:\(([A-Za-z])\)|-?([A-Za-z])|\s\(([A-Za-z])\)|\s([A-Z]))(?![\w(])"
)
# SB 54, AB-450, H.R. 1: capitals, then digits.
LETTER_NUMBER = re.compile(r"(?<![\w.])((?:[A-Z]\.){1,3}|[A-Z]{1,3})[\s-]?(\d+)(?![\w.]\w)")
# I.C.E., U.S.
DOTTED = re.compile(r"(?<![\w.])((?:[A-Za-z]\.){2,})(?!\w)")
# Wet'suwet'en, COVID-19: one word to a reader, several tokens to FTS5.
JOINED = re.compile(r"(?<![\w'’-])(?=[\w'’-]*[^\W\d_])\w+(?:['’-]\w+)+")
NAME_MIN_LETTERS = 4


def code_keys(text: str) -> list[tuple[str, str]]:
    """``(key, phrase)`` for each code written in ``text``: the key joins its
    letters and digits, the phrase is the FTS5 tokens of the written form."""
    found = []
    for pattern in (NUMBER_LETTER, LETTER_NUMBER, DOTTED, JOINED):
        for match in pattern.finditer(text):
            written = match.group(0)
            key = "#" + "".join(TOKEN.findall(written)).lower()
            found.append((key, " ".join(TOKEN.findall(written)).lower()))
    return list(dict.fromkeys(found))


def name_key(word: str) -> str | None:
    """The sound of a word that may be a name (Metaphone), or None."""
    import jellyfish

    letters = word.lower()
    if len(letters) < NAME_MIN_LETTERS or not letters.isalpha():
        return None
    key = jellyfish.metaphone(letters)
    return key or None


def vocabulary(texts: Iterable[str]) -> set[tuple[str, str]]:
    """Every ``(key, variant)`` the texts hold, for the variants table."""
    from search.query import NOISE

    out: set[tuple[str, str]] = set()
    for text in texts:
        out.update(code_keys(text))
        for word in {w.lower() for w in TOKEN.findall(text)}:
            if word not in NOISE:
                key = name_key(word)
                if key:
                    out.add((key, word))
    return out


@cache
def common_words() -> frozenset[str]:
    """Whole English words of the bundled MiniLM's WordPiece vocabulary
    (30,522 entries): the common words that two spellings of a name are not
    both of. "police" and "palace" are; "Hutchins" and "Sawant" are not."""
    from search.embed import _bundled_minilm

    words = (_bundled_minilm() / "vocab.txt").read_text(encoding="utf-8").split()
    return frozenset(w for w in words if w.isalpha())


def sounds_like(typed: str, candidate: str) -> bool:
    """Whether ``candidate`` could be ``typed`` as Whisper heard it: the same
    sound (Metaphone) within a third of its letters in edits ("Hutchens",
    "Hutchins"), or the same first letter and sound within one edit and
    spelling within one edit in five letters, two from eight ("Hutchings").
    Never two common words ("police", "palace"): one of them is a name."""
    import jellyfish

    typed, candidate = typed.lower(), candidate.lower()
    if typed == candidate or len(typed) < NAME_MIN_LETTERS:
        return False
    common = common_words()
    if typed in common and candidate in common:
        return False
    edits = jellyfish.damerau_levenshtein_distance(typed, candidate)
    sound, other = jellyfish.metaphone(typed), jellyfish.metaphone(candidate)
    if sound == other:
        return edits <= max(1, len(typed) // 3)
    return (
        len(typed) >= 5
        and typed[0] == candidate[0]
        and edits <= 1 + len(typed) // 8
        and jellyfish.damerau_levenshtein_distance(sound, other) <= 1
    )


def codes_close(typed: str, candidate: str) -> bool:
    """Whether a code key could be ``typed`` misheard: the same letters, and
    digits of the same count with one digit changed ("257g" for "287g")."""
    if typed == candidate or len(typed) != len(candidate):
        return False
    digits = [i for i, ch in enumerate(typed) if ch.isdigit()]
    if len(digits) < 3 or [i for i, ch in enumerate(candidate) if ch.isdigit()] != digits:
        return False
    changed = [a for a, b in zip(typed, candidate, strict=True) if a != b]
    return len(changed) == 1 and changed[0].isdigit()
