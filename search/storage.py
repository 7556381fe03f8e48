"""The interface every search store implements, and the figures both
share. Fusion, folding, match strength and quotes sit above it
(search/index.py): only the two retrievers, and how rows are kept, differ
between the SQLite store (search/store.py) and PostgreSQL's
(search/pg_store.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from catalog.types import Chunk
from search.fusion import Ranked
from search.query import SearchQuery

CANDIDATES = 200
# How deep each list is drawn when the index cuts it to a section (public
# comment, or members and staff), so a page still fills.
SECTION_DEPTH = 2_000
# BM25 scores every passage that holds any OR-ed word, about 14 µs each on
# this CPU: a million-chunk store has 137,000 passages with "says" in them.
# A natural-language query keeps its rarest words while their passages add
# up to this many, the rest are left to the dense side, which reads meaning
# anyway; if still more passages match, the newest this many are scored.
# Smaller stores never reach it, so their ranking is untouched.
POSTING_BUDGET = 12_000
# A long step's progress: hears (done, of), e.g. meetings or texts.
Reporter = Callable[[int, int], None]


def affordable(counts: list[int], budget: int) -> list[int]:
    """The rarest terms whose passages (``counts``, one a term) fit
    ``budget``, at least one, as indices in the order typed. The store
    passes its ``POSTING_BUDGET``, so that all its decisions about the
    budget read one figure."""
    kept: list[int] = []
    total = 0
    for i in sorted(range(len(counts)), key=counts.__getitem__):
        if kept and total + counts[i] > budget:
            break
        kept.append(i)
        total += counts[i]
    return sorted(kept)


class Store(ABC):
    """Where chunks are indexed and searched. ``search`` returns each
    retriever's ranking and ``chunks`` the candidates' records; fusion,
    folding and quotes happen above the store, so a PostgreSQL + pgvector
    store only has to answer these two questions (``ts_rank`` standing in
    for BM25, with the speaker as a lower-weighted part of the tsvector)."""

    @abstractmethod
    def search(self, query: SearchQuery, query_vector: np.ndarray | None, depth: int | None = None) -> Ranked:
        """Return ``{"bm25": [(chunk id, score), …best first], "dense": […]}``,
        each cut at ``depth`` (``CANDIDATES`` by default) and honouring the query's filters (all but its
        section, which the index applies to a deeper list); higher scores
        are better."""

    @abstractmethod
    def chunks(self, ids: list[int]) -> dict[int, Chunk]:
        """The records of these chunks, by id; ids no longer present are left out."""

    @abstractmethod
    def generation(self) -> int:
        """A number that changes whenever the indexed chunks change."""

    @abstractmethod
    def chunks_within(self, spans: dict[int, list[tuple[float, float]]]) -> frozenset[int]:
        """The ids of the chunks that start inside a meeting's spans (seconds)."""

    @abstractmethod
    def dense(
        self, query: SearchQuery, vector: np.ndarray, depth: int | None = None
    ) -> list[tuple[int, float]]:
        """The meaning retriever alone: (chunk id, cosine similarity), best
        first, cut at ``depth`` (``CANDIDATES``), honouring the filters."""

    @abstractmethod
    def matching_chunks(self, query: SearchQuery) -> dict[int, set[int]]:
        """Every chunk holding all the query's words
        (``all_words_expression``), by meeting, unranked: the timeline
        counts them. At least the speaker filter is applied; the others may
        be left to the caller."""

    def spellings(self, item: str) -> list[str]:
        """Other FTS5 items that stand for a query's word or compound in
        transcripts (search/variants.py); none where the store keeps none."""
        return []

    def term_counts(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        """The number of passages, and how many hold each FTS5 term (counts
        may stop at a cap); a store that cannot say returns ``(0, {})`` and
        match strength then rests on meaning alone."""
        return 0, {}

    # -- writing: the pipeline's and the CLI's ----------------------------
    @abstractmethod
    def index_meeting(
        self,
        meeting_id: int,
        chunks: list[Chunk],
        vectors: np.ndarray,
        version: str,
        *,
        body: str = "",
        date: str | None = None,
        fence: Callable[[Any], None] | None = None,
        roster: Sequence[str] = (),
    ) -> None:
        """Replace a meeting's chunks and vectors in one transaction; a
        crash leaves the old ones or the new ones, never a mixture. A store
        that keeps the filters' facets on its rows (PostgreSQL) takes the
        meeting's ``body`` and ``date``; ``fence`` (a worker's claim) runs
        inside the publishing transaction and refuses it when the claim was
        lost. ``roster`` names the body's people and vocabulary: their
        misspellings are matched like those of speakers' names
        (search/variants.py)."""

    @abstractmethod
    def indexed_versions(self) -> dict[int, str]:
        """Each indexed meeting's index version (model and chunker)."""

    @abstractmethod
    def start_rebuild(self) -> None:
        """Let a reindex write every meeting anew, reclaiming replaced rows."""

    @abstractmethod
    def rename_speaker(self, meeting_id: int, old: str, new: str) -> None:
        """Relabel a meeting's passages held under a speaker's old display
        name; their text, and so their vectors, stay as they were."""

    # -- reading, beside the retrievers -----------------------------------
    @abstractmethod
    def has_speaker(self, speaker: str) -> bool:
        """Whether any passage is held under this name (or "probably NAME")."""

    @abstractmethod
    def vector_count(self) -> int:
        """How many passages have a vector of this store's model."""

    @abstractmethod
    def close(self) -> None:
        """Let go of the store's own connection, where it has one."""
