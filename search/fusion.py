"""Merging the keyword and the dense rankings into one.

Plain reciprocal-rank fusion throws the scores away, and on council
transcripts it loses to BM25 alone: MiniLM's tenth-best passage is usually
far weaker than BM25's tenth, yet RRF weighs the two ranks alike. ``fuse``
keeps the scores instead: each retriever's list is standardised (z-scores
over its own candidates) and the two are mixed with fixed weights. When the
candidates' records are passed, very short chunks are damped on the keyword
side, passages of the meeting that dominates the top get a small pull, and
a chunk whose neighbour by the same speaker already ranks higher folds into
it. Weights were tuned on the qmsum-committee train and val queries only
(``python -m benchmarks retrieval``); the test split stays held out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from catalog.types import Chunk
from search.match import QueryWord, word_share

RRF_K = 60
WORDS = re.compile(r"\w+")

Ranked = dict[str, list[tuple[int, float]]]


@dataclass(frozen=True)
class Weights:
    bm25: float = 0.6
    dense: float = 0.4
    # Share of the better neighbour's score a chunk borrows: a passage inside
    # a stretch of talk about the topic beats a stray mention.
    neighbour: float = 0.0
    # Pull of the meeting whose passages dominate the top of the pool.
    meeting: float = 0.15
    meeting_pool: int = 30
    # BM25 overrates a few-word turn ("Questions now from Ms Bowden.") that
    # happens to hold a rare query word; shorter chunks are damped.
    short_words: int = 15
    # Chunks this many places apart in one meeting fold into the best one.
    fold: int = 1


DEFAULT = Weights()


def rrf(ranked: Ranked, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of each retriever's ranking, best first."""
    scores: dict[int, float] = {}
    for results in ranked.values():
        for rank, (chunk_id, _score) in enumerate(results):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda item: -item[1])


def _standardise(values: dict[int, float], pool: list[int], absent: float, cut: bool) -> dict[int, float]:
    """z-scores of one retriever's scores, ``absent`` standing in for the
    pool's chunks it did not return. The mean and spread are the returned
    list's own, so 200 close candidates keep their fine differences. A list
    that was not cut holds every match; one stand-in for the chunks that
    did not match joins it, so that a lone weak match in a small meeting
    counts as one clear step up rather than an outlier above everything."""
    own = list(values.values()) + ([] if cut else [absent])
    mean = sum(own) / len(own) if own else 0.0
    spread = math.sqrt(sum((v - mean) ** 2 for v in own) / len(own)) if own else 0.0
    if spread < 1e-9:
        return dict.fromkeys(pool, 0.0)
    return {c: (values.get(c, absent) - mean) / spread for c in pool}


def fuse(
    ranked: Ranked,
    chunks: Mapping[int, Chunk] | None = None,
    keyword_only: bool = False,
    weights: Weights = DEFAULT,
    keep: int | None = None,
    words: list[QueryWord] | None = None,
) -> list[tuple[int, float]]:
    """Merge ``{"bm25": [(chunk id, score)…], "dense": […]}`` into one
    ranking, best first; scores are comparable within one query only.

    ``chunks`` (the candidates' records, from ``Store.chunks``) enables the
    length damping, neighbour and meeting evidence and folding; without it
    the scores are only mixed. ``keyword_only`` keeps just the BM25 matches
    (see ``query.is_strict``): a quoted phrase must appear in every result.
    ``keep`` stops folding once that many are listed: folding compares each
    candidate's words with those above it, and a page needs only its top.
    ``words`` (the query's weighted content words, see search/match.py) lets
    the query decide how much keywords count: see ``words_count``.
    """
    bm25 = dict(ranked.get("bm25", []))
    dense = dict(ranked.get("dense", []))
    if chunks is not None and weights.short_words > 1:
        for cid, score in bm25.items():
            chunk = chunks.get(cid)
            if chunk is not None and score > 0:
                length = len(chunk.text.split())
                bm25[cid] = score * min(1.0, length / weights.short_words) ** 0.5
    pool = list(bm25) if keyword_only else list(dict.fromkeys([*bm25, *dense]))
    if not pool:
        return []
    # A chunk missing from a list scored at most as well as the list's last.
    # Both lists are cut at the same length, so a BM25 list shorter than
    # the dense one was not cut: what it left out matched no word at all.
    bm25_cut = len(bm25) >= len(dense)
    zb = _standardise(bm25, pool, min(bm25.values(), default=0.0) if bm25_cut else 0.0, bm25_cut)
    zd = _standardise(dense, pool, min(dense.values(), default=0.0), True)
    trust = 1.0 if bm25_cut else _keyword_trust(bm25, len(pool))
    if words and chunks is not None and not keyword_only:
        trust *= words_count(ranked.get("bm25", []), chunks, words)
    scores = {c: weights.bm25 * trust * zb[c] + weights.dense * zd[c] for c in pool}
    if chunks is not None:
        # The meeting pull rests on where keywords cluster: a remark found
        # by meaning alone gets none.
        scores = _context(scores, chunks, replace(weights, meeting=weights.meeting * trust))
    ranking = sorted(scores.items(), key=lambda item: -item[1])
    if chunks is not None:
        ranking = _demote_loops(ranking, chunks, keep)
    if chunks is not None and weights.fold:
        ranking = _fold(ranking, chunks, weights.fold, keep)
    return ranking


# How much of the query's word weight BM25's best passages must hold for
# keywords to count fully, and below which they do not count at all. On the
# tune half BM25's best passages held 0.14-0.34 (10th-90th percentile) of a
# paraphrased remark's word weight, 0.46-1 of a keyword query's and 0.53-1 of
# a topic's; on qmsum's train+val questions 0.41-1.
WORDS_FULL = 0.45
WORDS_NONE = 0.3
WORDS_TOP = 5


def words_count(bm25: list[tuple[int, float]], chunks: Mapping[int, Chunk], words: list[QueryWord]) -> float:
    """How much keywords count for this query, from 0 to 1: the largest share
    of the query's word weight that one of BM25's best few passages holds. A
    name or a code typed alone, or a topic in its own words, is held whole by
    the passages that answer it; a remark described in other words shares
    only its common words with any passage, and then BM25's ranking is noise
    that would bury what the dense side found."""
    held = max((word_share(chunks[cid], words) for cid, _ in bm25[:WORDS_TOP] if cid in chunks), default=0.0)
    return min(1.0, max(0.0, (held - WORDS_NONE) / (WORDS_FULL - WORDS_NONE)))


def _keyword_trust(bm25: dict[int, float], pool_size: int) -> float:
    """How much an uncut BM25 list (every match in a small pool) says: its
    best score against what a word found in only one chunk of the pool,
    once, in a chunk of average length, scores (its IDF). A lone weak stem
    match ("fixed" in a long passage, for "fixing") then does not outvote a
    passage that clearly means what was asked."""
    if not bm25:
        return 1.0
    one_rare_word = math.log(max(2.0, (pool_size - 0.5) / 1.5))
    return min(1.0, max(bm25.values()) / one_rare_word)


def _context(scores: dict[int, float], chunks: Mapping[int, Chunk], w: Weights) -> dict[int, float]:
    floor = min(scores.values())
    lifted = {c: s - floor for c, s in scores.items()}  # non-negative, so borrowing never hurts
    place = {(ch.meeting_id, ch.seq): cid for cid, ch in chunks.items() if cid in lifted}
    out = dict(lifted)
    if w.neighbour:
        for cid, score in lifted.items():
            chunk = chunks.get(cid)
            if chunk is None:
                continue
            near = [place.get((chunk.meeting_id, chunk.seq + d)) for d in (-1, 1)]
            out[cid] = score + w.neighbour * max((lifted[n] for n in near if n is not None), default=0.0)
    if w.meeting:
        top = sorted(out.items(), key=lambda item: -item[1])[: w.meeting_pool]
        best = top[0][1]
        share: dict[int, float] = {}
        for cid, score in top:
            if cid in chunks:
                meeting = chunks[cid].meeting_id
                share[meeting] = share.get(meeting, 0.0) + math.exp(score - best)
        total = sum(share.values()) or 1.0
        for cid in out:
            chunk = chunks.get(cid)
            if chunk is not None:
                out[cid] += w.meeting * best * share.get(chunk.meeting_id, 0.0) / total
    return out


def _fold(
    ranking: list[tuple[int, float]], chunks: Mapping[int, Chunk], span: int, keep: int | None = None
) -> list[tuple[int, float]]:
    """Drop a chunk when a better one already listed is (a) by the same
    speaker within ``span`` places of the same meeting, one stretch of one
    person's talk, or (b) the same words anywhere: a statement read out at
    every meeting, or a transcript that repeats itself. The reader needs
    only the better of each."""
    kept: list[tuple[int, float]] = []
    taken: dict[tuple[int, int], str | None] = {}
    seen = _Repeats()
    for cid, score in ranking:
        if keep is not None and len(kept) >= keep:
            break
        chunk = chunks.get(cid)
        if chunk is not None:
            near = [(chunk.meeting_id, chunk.seq + d) for d in range(-span, span + 1)]
            # Unknown speakers (no diarization) are not known to be one person.
            same_talk = chunk.speaker is not None
            if same_talk and any(place in taken and taken[place] == chunk.speaker for place in near):
                continue
            if seen.repeats(chunk.text):
                continue
            taken[(chunk.meeting_id, chunk.seq)] = chunk.speaker
        kept.append((cid, score))
    return kept


# Share of a chunk's word triples that repeat an earlier one. Real talk stays
# under 0.46 on qmsum-committee and the Boston and Oakland captions (99th
# percentile 0.11; the top is a clerk reading out a docket list); a Whisper
# loop ("I'm going to go ahead and I'm going to go ahead and …") is far above.
LOOP_SHARE = 0.5


def loop_share(text: str) -> float:
    words = WORDS.findall(text.lower())
    if len(words) < 3:
        return 0.0
    return 1 - len(set(zip(words, words[1:], words[2:], strict=False))) / (len(words) - 2)


def _demote_loops(
    ranking: list[tuple[int, float]], chunks: Mapping[int, Chunk], keep: int | None = None
) -> list[tuple[int, float]]:
    """Repetition loops of machine transcripts go below every other
    candidate: BM25 rewards their repeated words, and a reader never wants
    one in the first page. They stay in the list, in order, should nothing
    else match. With ``keep``, only the top is checked, as far as a page of
    that many needs even after folding drops most of what it reads."""
    clean: list[tuple[int, float]] = []
    loops: list[int] = []
    for i, (cid, score) in enumerate(ranking):
        if keep is not None and len(clean) >= 3 * keep + 10:
            clean.extend(ranking[i:])
            break
        if cid in chunks and loop_share(chunks[cid].text) >= LOOP_SHARE:
            loops.append(cid)
        else:
            clean.append((cid, score))
    if not loops:
        return ranking
    floor = min((score for _, score in clean), default=0.0)
    return clean + [(cid, floor - 1.0 - i / len(loops)) for i, cid in enumerate(loops)]


SHINGLE = 4  # words
REPEAT_SHARE = 0.8


class _Repeats:
    """Texts already listed, as sets of word shingles. A text repeats one
    when most of the shorter one's shingles are in both, so a passage read
    again with a word changed, or inside a longer chunk, still folds."""

    def __init__(self) -> None:
        self.holders: dict[tuple[str, ...], list[int]] = {}
        self.sizes: list[int] = []
        # The same words again (a statement read at every meeting) are
        # known without counting shingles, which costs most of a fold.
        self.texts: set[str] = set()

    def repeats(self, text: str) -> bool:
        """Whether ``text`` repeats one seen before; if not, remember it."""
        same = " ".join(text.lower().split())
        if same in self.texts:
            return True
        words = WORDS.findall(same)
        shingles = set(zip(*(words[i:] for i in range(SHINGLE)), strict=False)) or {tuple(words)}
        shared: dict[int, int] = {}
        for shingle in shingles:
            for other in self.holders.get(shingle, ()):
                shared[other] = shared.get(other, 0) + 1
        for other, count in shared.items():
            if count >= REPEAT_SHARE * min(len(shingles), self.sizes[other]):
                return True
        me = len(self.sizes)
        self.texts.add(same)
        self.sizes.append(len(shingles))
        for shingle in shingles:
            self.holders.setdefault(shingle, []).append(me)
        return False
