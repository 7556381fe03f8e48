"""Words as Whisper writes them: the spellings one term takes in transcripts.

"287(g)" comes out as 287G, 287-G and 28-7G; "ICE" as "ice" and "I.C.E.";
a sheriff's name in three spellings. FTS5 sees each as different tokens, so
the index keeps a table of variants by key (each store owns its own and
answers ``VariantTable``'s few questions; ``spellings`` is the one rule):

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
from abc import ABC, abstractmethod
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
# A name's spellings widen a query only where both are rare: in at most
# this many passages, or this share of a large store's (1 in RARE_SHARE).
RARE_DOCS = 50
RARE_SHARE = 2_000
MAX_SPELLINGS = 8


def code_keys(text: str, as_written: bool = False) -> list[tuple[str, str]]:
    """``(key, phrase)`` for each code written in ``text``: the key joins its
    letters and digits, the phrase is the FTS5 tokens of the written form
    or, ``as_written``, that form itself (lowercased) for a store whose
    parser splits it its own way (PostgreSQL reads "28-7G" as 28, -7, g)."""
    found = []
    for pattern in (NUMBER_LETTER, LETTER_NUMBER, DOTTED, JOINED):
        for match in pattern.finditer(text):
            written = match.group(0)
            key = "#" + "".join(TOKEN.findall(written)).lower()
            found.append((key, written.lower() if as_written else " ".join(TOKEN.findall(written)).lower()))
    return list(dict.fromkeys(found))


def name_key(word: str) -> str | None:
    """The sound of a word that may be a name (Metaphone), or None."""
    import jellyfish

    letters = word.lower()
    if len(letters) < NAME_MIN_LETTERS or not letters.isalpha():
        return None
    key = jellyfish.metaphone(letters)
    return key or None


def vocabulary(texts: Iterable[str], as_written: bool = False) -> set[tuple[str, str]]:
    """Every ``(key, variant)`` the texts hold, for the variants table."""
    from search.query import NOISE

    out: set[tuple[str, str]] = set()
    for text in texts:
        out.update(code_keys(text, as_written))
        for word in {w.lower() for w in TOKEN.findall(text)}:
            if word not in NOISE:
                key = name_key(word)
                if key:
                    out.add((key, word))
    return out


def table_rows(
    texts: Iterable[str], roster: Iterable[str], as_written: bool = False
) -> list[tuple[str, str, bool]]:
    """``(key, variant, on the roster)`` for the variants table: what the
    texts hold, and the roster's names (people who spoke, the body's members,
    a source's vocabulary) marked as known; in key order, so that writers
    at once take the rows' locks in one order."""
    rows = dict.fromkeys(vocabulary(texts, as_written), False)
    rows.update(dict.fromkeys(vocabulary(dict.fromkeys(r for r in roster if r), as_written), True))
    return [(key, variant, known) for (key, variant), known in sorted(rows.items())]


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


class VariantTable(ABC):
    """What ``spellings`` asks of a store's table of variants."""

    @abstractmethod
    def variants_of(self, key: str) -> list[str]:
        """The variants filed under ``key``."""

    @abstractmethod
    def codes_of_length(self, length: int) -> list[tuple[str, str]]:
        """``(key, variant)`` of every code key ("#…") ``length`` long."""

    @abstractmethod
    def in_roster(self, key: str, word: str) -> bool:
        """Whether ``word`` is a known name (someone who spoke)."""

    @abstractmethod
    def keyed_under(self, prefix: str) -> list[str]:
        """The variants of every key starting with ``prefix``."""

    @abstractmethod
    def passages(self, term: str) -> int:
        """How many passages hold the FTS5 term (the count may stop at a cap)."""

    @abstractmethod
    def size(self) -> int:
        """How many passages the store holds."""


class Remembered:
    """Spellings already worked out, per query item, until the store says
    its index changed (``clear``): a search asks twice for each of its
    words, and for the same words as the searches before it."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}

    def clear(self) -> None:
        self.found.clear()

    def spellings(self, item: str, table: VariantTable) -> list[str]:
        if item not in self.found:
            if len(self.found) > self.LIMIT:
                self.found.clear()
            self.found[item] = spellings(item, table)
        return list(self.found[item])


def spellings(item: str, table: VariantTable) -> list[str]:
    """Other FTS5 items for a query's word or compound: the written forms
    of its code, and rare words that sound like a rare or known name."""
    tokens = item.strip('"').lower().split()
    joined = "".join(tokens)
    found = table.variants_of("#" + joined)
    if sum(ch.isdigit() for ch in joined) >= 3:
        found += [v for k, v in table.codes_of_length(len(joined) + 1) if codes_close("#" + joined, k)]
    if len(tokens) == 1 and (key := name_key(joined)):
        found += _sounds_like(joined, key, table)
    return ['"' + v + '"' for v in dict.fromkeys(found) if v != " ".join(tokens)][:MAX_SPELLINGS]


def _sounds_like(word: str, key: str, table: VariantTable) -> list[str]:
    """Rare indexed words that may be ``word`` misheard, when ``word``
    itself is rare in the index or a known name: a common word ("police")
    keeps its meaning, and so does a common word like it ("place")."""
    rare = max(RARE_DOCS, table.size() // RARE_SHARE)
    if not table.in_roster(key, word) and table.passages(f'"{word}"') > rare:
        return []
    candidates = [c for c in table.keyed_under(key[:2]) if sounds_like(word, c)]
    return [c for c in candidates if 0 < table.passages(f'"{c}"') <= rare]
