"""Merging the keyword and the dense rankings into one."""

from __future__ import annotations

RRF_K = 60

Ranked = dict[str, list[tuple[int, float]]]


def fuse(ranked: Ranked, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of each retriever's ranking, best first."""
    scores: dict[int, float] = {}
    for results in ranked.values():
        for rank, (chunk_id, _score) in enumerate(results):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda item: -item[1])
