"""How much of a query a passage holds, and how clearly a hit matches.

The fused score is relative: a query about something never discussed still
gets a best passage, with a top score like any other's. Two signals do not
move with the rest of the list:

- meaning: the cosine between the query and the passage (MiniLM's cosines
  between a question and unrelated council talk stay low, however the list
  around them looks);
- words: the share of the query's word weight that the passage holds, each
  word weighed by its rarity in the index (IDF) and counted in any of its
  spellings (search/variants.py), so a passage holding the rare words typed
  ("287(g)", a name) counts and one holding only "council" does not.

Fusion reads the second to decide how much words count for a query; a hit is
"strong" when either is high. Thresholds were set on the tune half of the
judged set (``python -m benchmarks judged``): absent topics get no strong top
hit, answered questions mostly do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from catalog.types import Chunk
from search.quotes import stem

STRONG = "strong"
WEAK = "weak"
# A passage this close in meaning matches on its own. On the tune half the
# absent topics' best passages stayed under 0.39, answered topics' were all
# over 0.58, and 20 of 38 paraphrased remarks' best passages reached 0.5:
# the cut sits in the gap, nearer the absent side, so that more remarks
# described in other words count as found.
STRONG_COSINE = 0.45
# Or it holds this share of the query's word weight.
STRONG_SHARE = 0.75
WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class QueryWord:
    """One content term of a query: its spellings (each a list of stemmed
    tokens) and its weight, the IDF of any of them."""

    forms: tuple[tuple[str, ...], ...]
    weight: float


def query_words(groups: Mapping[str, list[str]], passages: int, counts: Mapping[str, int]) -> list[QueryWord]:
    """``groups``: each content item of the query (an FTS5 item) with its
    spellings; ``counts``: passages holding any of them, keyed by the item."""
    out = []
    for item, spellings in groups.items():
        forms = tuple(tuple(stem(t) for t in WORDS.findall(s.lower())) for s in spellings)
        idf = math.log((passages + 1) / (counts.get(item, 0) + 0.5))
        out.append(QueryWord(tuple(f for f in forms if f), max(0.0, idf)))
    return out


def word_share(chunk: Chunk, words: list[QueryWord]) -> float:
    """The share of the query's word weight that the passage (its text and
    its speaker's name) holds."""
    total = sum(w.weight for w in words)
    if total <= 0:
        return 0.0
    held = {stem(t) for t in WORDS.findall(f"{chunk.text} {chunk.speaker or ''}".lower())}
    return sum(w.weight for w in words if any(set(f) <= held for f in w.forms)) / total


def strengths(
    ids: list[int],
    dense: Mapping[int, float],
    chunks: Mapping[int, Chunk],
    words: list[QueryWord],
) -> dict[int, str]:
    """ "strong" or "weak" for each of ``ids``, from each chunk's cosine in
    ``dense`` (a chunk missing from it is further than the last listed)."""
    floor = min(dense.values(), default=0.0)
    out = {}
    for cid in ids:
        cosine = dense.get(cid, floor)
        share = word_share(chunks[cid], words) if cid in chunks else 0.0
        out[cid] = STRONG if cosine >= STRONG_COSINE or share >= STRONG_SHARE else WEAK
    return out
