"""The quote inside a hit: the sentence or two of a chunk that answer the
query, timed from their first word to their last.

A chunk is up to 120 words; a reporter wants the line to cite. Sentences
are scored by the query's content words they hold (a typed phrase counts
only when it appears whole); when no word matches, as for a query that found
its passage by meaning, the sentences closest to the query vector win.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from catalog.types import Chunk, Segment
from search.chunking import Sentence, sentences
from search.query import OPERATORS, query_terms

QUOTE_WORDS = 40
MAX_SENTENCES = 3
PAIR = 0.25  # a matching word pair counts a quarter of a matching word
EDGE = 0.05  # seconds of slack when matching sentences to a chunk's span
TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass
class Quote:
    start: float
    end: float
    text: str
    score: float


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light suffix stripper, enough to match "agreements" to
    "agreement" and "funded" to "funding" inside one chunk."""
    w = word.lower()
    for suffix in ("ingly", "edly", "ing", "ed", "ies", "es", "s", "ly"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if suffix == "s" and w.endswith("ss"):
                break
            w = w[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    return w


def _stems(text: str) -> list[str]:
    return [stem(t) for t in TOKEN.findall(text)]


def chunk_sentences(chunk: Chunk, segments: list[Segment]) -> list[Sentence]:
    """The chunk's own sentences, cut again from its meeting's segments (or
    just those overlapping the chunk: nothing else is read)."""
    return [s for s in sentences(segments) if s.start >= chunk.start - EDGE and s.end <= chunk.end + EDGE]


def _windows(found: list[Sentence], max_words: int) -> list[tuple[int, int]]:
    """Runs of up to ``MAX_SENTENCES`` consecutive sentences within
    ``max_words``; a single sentence always qualifies, however long."""
    out = []
    for i in range(len(found)):
        words = 0
        for j in range(i, min(len(found), i + MAX_SENTENCES)):
            words += found[j].n_words
            if j > i and words > max_words:
                break
            out.append((i, j))
    return out


def _contains(tokens: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(tokens[k : k + n] == phrase for k in range(len(tokens) - n + 1))


def pick_quote(
    found: list[Sentence],
    query: str,
    query_vector: np.ndarray | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    max_words: int = QUOTE_WORDS,
) -> Quote | None:
    """The best run of sentences in ``found`` (one chunk's, in order) for
    ``query``. ``embed`` (texts to unit vectors, e.g.
    ``Embedder.embed_batch``) is called only when no query word matches and
    ``query_vector`` is given; then the quote is chosen by meaning."""
    if not found:
        return None
    words, phrases = query_terms(query)
    wanted = {stem(w) for w in words}
    phrase_stems = [[stem(w) for w in p] for p in phrases]
    # Word pairs in the order typed, stopwords included: they tell "ask not
    # what your country can do" from "ask what you can do for your country"
    # once the content words tie.
    typed = [stem(t) for t in TOKEN.findall(query) if t not in OPERATORS]
    pairs = set(zip(typed, typed[1:], strict=False))
    tokens = [_stems(s.text) for s in found]
    windows = _windows(found, max_words)

    def lexical(i: int, j: int) -> float:
        joined = [t for k in range(i, j + 1) for t in tokens[k]]
        hits = len(wanted & set(joined))
        hits += sum(2 * len(p) for p in phrase_stems if _contains(joined, p))
        return hits + PAIR * len(pairs & set(zip(joined, joined[1:], strict=False)))

    scores = [lexical(i, j) for i, j in windows]
    if max(scores) <= 0 and query_vector is not None and embed is not None:
        vectors = embed([s.text for s in found])
        scores = []
        for i, j in windows:
            v = vectors[i : j + 1].mean(axis=0)
            scores.append(float(v @ query_vector / (np.linalg.norm(v) or 1.0)))

    def key(k: int) -> tuple[float, int, int]:
        i, j = windows[k]
        size = sum(found[x].n_words for x in range(i, j + 1))
        # Best score; then a quote of a full thought (under 8 words reads
        # as a fragment) but no longer than needed; then the earliest.
        return (-scores[k], 0 if size >= 8 else 1, size if size >= 8 else -size, i)

    best = min(range(len(windows)), key=key)
    i, j = windows[best]
    text = " ".join(found[k].text for k in range(i, j + 1))
    return Quote(start=found[i].start, end=found[j].end, text=text, score=round(scores[best], 4))
