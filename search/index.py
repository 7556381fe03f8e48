"""Chunk, embed, index and search: the search stage's one entry point."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from catalog.db import Catalog
from catalog.errors import QueryError
from catalog.types import Chunk, Hit, Meeting, Segment
from search.chunking import chunk_segments
from search.embed import BUNDLED, Embedder, get_embedder
from search.fusion import Ranked, fuse
from search.links import deep_link
from search.match import STRONG, QueryWord, query_words, strengths
from search.query import SearchQuery, content_items, is_strict, reported_remark
from search.quotes import Quote, chunk_sentences, pick_quote
from search.storage import CANDIDATES, SECTION_DEPTH, Reporter, Store
from search.store import SQLiteStore

# Bump when chunking changes, so ``onrecord reindex`` redoes every meeting.
CHUNKER_VERSION = "chunks-2"
# Date order sorts only the most relevant passages, not every weak match.
DATE_ORDER_POOL = 50
SENTENCE_CACHE = 20_000  # vectors of 384 floats: about 30 MB


@dataclass
class Ranking:
    """One query's fused ranking and what it was fused from."""

    fused: list[tuple[int, float]]
    chunks: dict[int, Chunk]
    ranked: Ranked
    words: list[QueryWord]


def embed_model_id(name: str) -> str:
    return "all-MiniLM-L6-v2" if name in BUNDLED else name


class SearchIndex:
    """Indexes meetings' transcripts and answers queries over them."""

    def __init__(
        self,
        catalog: Catalog,
        embed_model: str,
        base_url: str,
        embedder: Embedder | None = None,
        vectors_dir: Path | None = None,
        store: Store | None = None,
    ) -> None:
        self.catalog = catalog
        self.embed_model = embed_model
        self.base_url = base_url
        self._embedder = embedder
        self.model_id = embed_model_id(embed_model)
        # Handed in by search.backends.open_index (PostgreSQL), else SQLite's.
        self.store: Store = store or SQLiteStore.beside(catalog, self.model_id, vectors_dir)
        # Sentence vectors for quoting hits found by meaning. The same
        # passages come back for many queries; embedding their sentences
        # again cost most of a search on a small archive.
        self._sentence_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._comment_key: object = None
        self._comment_chunks: frozenset[int] = frozenset()
        self.timings: dict[str, float] = {}

    def close(self) -> None:
        """Close the store's own connection, where it has one (PostgreSQL's)."""
        self.store.close()

    @property
    def embedder(self) -> Embedder:
        # Loading the model takes seconds; only pay for it when needed.
        if self._embedder is None:
            self._embedder = get_embedder(self.embed_model)
        return self._embedder

    @property
    def version(self) -> str:
        return f"{CHUNKER_VERSION}+{self.model_id}"

    def index_meeting(
        self,
        meeting_id: int,
        segments: list[Segment],
        progress: Reporter | None = None,
        fence: Callable[[Any], None] | None = None,
        vocabulary: Sequence[str] = (),
    ) -> int:
        """``fence`` (a worker's claim, PostgreSQL only) runs inside the
        publishing transaction and refuses it when the claim was lost.
        ``vocabulary`` (a source's configured words) joins the body's roster
        of people: Whisper's misspellings of both are matched."""
        clock = time.perf_counter()
        chunks = chunk_segments(meeting_id, segments)
        clock = self._took("chunking", clock)
        vectors = self.embedder.embed([c.text for c in chunks], progress=progress)
        clock = self._took("embedding", clock)
        meeting = self.catalog.meeting(meeting_id)
        assert meeting is not None
        people = self.catalog.persons.roster(meeting.body)
        roster = [*vocabulary, *(name for p in people for name in (p.name, *p.aliases))]
        self.store.index_meeting(
            meeting_id,
            chunks,
            vectors,
            self.version,
            body=meeting.body,
            date=meeting.date,
            fence=fence,
            roster=roster,
        )
        self._took("storing", clock)
        return len(chunks)

    def _took(self, step: str, since: float) -> float:
        """Add the seconds since ``since`` to ``step`` (benchmarks read them)."""
        now = time.perf_counter()
        self.timings[step] = self.timings.get(step, 0.0) + now - since
        return now

    def name_speaker(self, meeting_id: int, label: str, name: str) -> str:
        """Name a meeting's speaker: the catalog keeps the name and the voice;
        the passages the index holds under the old display name take the new
        one, so that a search for the name finds them. Returns the old
        display name. On SQLite both land in one transaction. On PostgreSQL
        the passages are relabelled (and committed) before the catalog
        commits; should the catalog's commit fail, the same command run again
        finds no passage under the old name and commits the name: it heals."""
        return self.catalog.speakers.name(meeting_id, label, name, relabel=self.store.rename_speaker)

    def stale_meetings(self) -> list[int]:
        """Meetings whose index was built by another model or chunker, or never."""
        done = self.store.indexed_versions()
        return [
            m.id
            for m in self.catalog.meetings()
            if m.id is not None and m.status in ("indexed", "indexing") and done.get(m.id) != self.version
        ]

    def reindex(self, rebuild: bool = False, progress: Reporter | None = None) -> int:
        """Bring the index up to date with the current model and chunker;
        ``rebuild`` starts from an empty vector file (reclaiming the space of
        replaced meetings). Resumable: each meeting is committed on its own."""
        if rebuild:
            self.store.start_rebuild()
        todo = self.stale_meetings()
        for done, meeting_id in enumerate(todo, 1):
            self.index_meeting(meeting_id, self.catalog.segments(meeting_id))
            if progress:
                progress(done, len(todo))
        return len(todo)

    def check(self, query: SearchQuery) -> None:
        """Filters naming things that do not exist are mistakes, not empty results."""
        if query.body and self.catalog.body(query.body) is None:
            known = ", ".join(b.name for b in self.catalog.bodies()) or "none yet"
            raise QueryError(f"No body named {query.body!r}; known bodies: {known}")
        if query.speaker and not self.store.has_speaker(query.speaker):
            raise QueryError(
                f"No speaker named {query.speaker!r} in the index; "
                "list a meeting's speakers with: onrecord speakers MEETING"
            )

    def rank(self, query: SearchQuery, vector: np.ndarray | None = None, keep: int | None = None) -> Ranking:
        """The fused ranking of chunk ids, best first (the first ``keep`` of
        it, if given), with the candidates' records (the fusion reads their
        meeting, place, speaker and text), each retriever's list and the
        query's weighted words."""
        if vector is None:
            vector = self.query_vector(query.text)
        if query.section is None:
            ranked = self.store.search(query, vector)
        else:
            # Each list is drawn deeper and cut to the section, so a page
            # still fills when most of the archive is the other kind of talk.
            inside = self.public_comment_chunks()
            wanted = query.section == "public_comment"
            ranked = {
                name: [(cid, score) for cid, score in found if (cid in inside) == wanted][:CANDIDATES]
                for name, found in self.store.search(query, vector, depth=SECTION_DEPTH).items()
            }
        chunks = self.store.chunks(list(dict.fromkeys(cid for found in ranked.values() for cid, _ in found)))
        words = self.query_words(query.text)
        fused = fuse(ranked, chunks, keyword_only=is_strict(query.text), keep=keep, words=words)
        return Ranking(fused, chunks, ranked, words)

    def public_comment_chunks(self) -> frozenset[int]:
        """The chunks said during a public-comment period (by the meetings'
        chapters), kept until the chapters or the index change."""
        spans = self.catalog.chapters.public_comment()
        key = (self.store.generation(), tuple((m, tuple(p)) for m, p in sorted(spans.items())))
        if self._comment_key != key:
            self._comment_chunks = self.store.chunks_within(spans)
            self._comment_key = key
        return self._comment_chunks

    def query_words(self, text: str) -> list[QueryWord]:
        """The query's content terms with their spellings, weighed by rarity."""
        groups = {item: [item, *self.store.spellings(item)] for item in content_items(text)}
        either = {item: " OR ".join(g) for item, g in groups.items()}
        passages, counts = self.store.term_counts(list(dict.fromkeys(either.values())))
        if not passages:
            return []
        return query_words(groups, passages, {item: counts[e] for item, e in either.items()})

    def query_vector(self, text: str) -> np.ndarray:
        """The query's meaning for the dense side. A remark described as
        "<someone> said <remark>" is the mean of the whole query and the
        remark alone: the reporting clause says who spoke, which the passage
        rarely repeats, and pulls the vector towards talk about speakers (on
        the judged set's tune half, dense hit@10 on paraphrased remarks 0.500
        with the whole query, 0.526 with the mean and a higher MRR)."""
        remark = reported_remark(text)
        if remark is None:
            return self.embedder.embed_batch([text])[0]
        both = self.embedder.embed_batch([text, remark]).sum(axis=0)
        return (both / np.linalg.norm(both)).astype(np.float32)

    def search(self, query: SearchQuery) -> list[Hit]:
        self.check(query)
        vector = self.query_vector(query.text)
        needed = DATE_ORDER_POOL if query.order == "date" else query.offset + query.limit
        ranking = self.rank(query, vector, keep=needed)
        fused, chunks = ranking.fused, ranking.chunks
        if query.order == "date":
            fused = self._by_date(fused[:DATE_ORDER_POOL], chunks)
        page = fused[query.offset : query.offset + query.limit]
        # A chunk deleted since the ranking was read (a reindex) is left out.
        found = [(chunks[cid], round(score, 6)) for cid, score in page if cid in chunks]
        match = strengths(
            [c.id for c, _ in found if c.id is not None], dict(ranking.ranked["dense"]), chunks, ranking.words
        )
        return self._hits(found, query.text, vector, match)

    def _hits(
        self,
        found: list[tuple[Chunk, float]],
        text: str,
        vector: np.ndarray | None,
        match: dict[int, str] | None = None,
    ) -> list[Hit]:
        """Hits for ranked chunks: each quotes the sentences that answer
        ``text`` and keeps its whole chunk as context."""
        quotes = self.quotes([chunk for chunk, _ in found], text, vector)
        comment = self.public_comment_chunks()
        meetings: dict[int, Meeting | None] = {}
        hits = []
        for (chunk, score), quote in zip(found, quotes, strict=True):
            if chunk.meeting_id not in meetings:
                meetings[chunk.meeting_id] = self.catalog.meeting(chunk.meeting_id)
            meeting = meetings[chunk.meeting_id]
            if meeting is None:
                continue  # deleted since the ranking was read
            hits.append(
                Hit(
                    meeting_id=chunk.meeting_id,
                    meeting_title=meeting.title,
                    meeting_date=meeting.date,
                    body=meeting.body,
                    start=quote.start,
                    end=quote.end,
                    speaker=chunk.speaker,
                    text=quote.text,
                    score=score,
                    url=deep_link(meeting.source_url, quote.start, meeting.id, self.base_url),
                    context=chunk.text,
                    context_start=chunk.start,
                    context_end=chunk.end,
                    match=(match or {}).get(chunk.id or 0, STRONG),
                    public_comment=chunk.id in comment,
                )
            )
        return hits

    def quotes(self, chunks: list[Chunk], text: str, vector: np.ndarray | None) -> list[Quote]:
        """The quote inside each chunk. Chunks whose sentences share no word
        with the query (found by meaning) are quoted by meaning, with all
        their sentences embedded in one batch."""
        found = [chunk_sentences(c, self.catalog.segments(c.meeting_id, c.start, c.end)) for c in chunks]
        picks = [pick_quote(sentences, text) for sentences in found]
        unmatched = [i for i, pick in enumerate(picks) if pick is not None and pick.score <= 0]
        if unmatched and vector is not None:
            known = self._embed_sentences([s.text for i in unmatched for s in found[i]])

            def embed(batch: list[str]) -> np.ndarray:
                return np.vstack([known[t] for t in batch])

            for i in unmatched:
                picks[i] = pick_quote(found[i], text, vector, embed)
        # A transcript edited since indexing may no longer hold the chunk's
        # sentences; the whole chunk is then the quote.
        return [
            pick or Quote(start=c.start, end=c.end, text=c.text, score=0.0)
            for c, pick in zip(chunks, picks, strict=True)
        ]

    def _embed_sentences(self, texts: list[str]) -> dict[str, np.ndarray]:
        cache = self._sentence_vectors
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, self.embedder.embed_batch(missing), strict=True))
        known = {t: cache[t] for t in texts}
        for t in known:
            cache.move_to_end(t)
        while len(cache) > SENTENCE_CACHE:
            cache.popitem(last=False)
        return known

    def _by_date(self, fused: list[tuple[int, float]], chunks: dict[int, Chunk]) -> list[tuple[int, float]]:
        """Newest meetings first, among the relevant passages; within a
        meeting, in the order they were said."""
        dates = {m.id: m.date or "" for m in self.catalog.meetings()}

        def key(item: tuple[int, float]) -> tuple[str, int, float]:
            chunk = chunks.get(item[0])
            if chunk is None:
                return ("", 0, 0.0)
            return (dates.get(chunk.meeting_id, ""), chunk.meeting_id, -chunk.start)

        return sorted(fused, key=key, reverse=True)

    def alert_matches(
        self,
        text: str,
        meeting_id: int,
        min_score: float,
        body: str | None = None,
        speaker: str | None = None,
    ) -> list[Hit]:
        """Passages of one meeting that a saved search should fire on: those
        holding every word of the query (words may run on: "agent" matches
        "agents"), and those whose meaning is at least ``min_score`` close.
        Weak semantic matches never fire."""
        query = SearchQuery(text, body=body, speaker=speaker, meeting_id=meeting_id, limit=100)
        meeting = self.catalog.meeting(meeting_id)
        if meeting is None or (body and meeting.body.lower() != body.lower()):
            return []
        vector = self.embedder.embed_batch([text])[0]
        ranked = self.store.search(query, vector)
        wanted = [w.lower() for w in WORD.findall(text) if w.upper() not in ("AND", "OR", "NOT")]
        scores: dict[int, float] = {cid: score for cid, score in ranked["dense"] if score >= min_score}
        keyword_ids = [cid for cid, _ in ranked["bm25"]]
        chunks = self.store.chunks(list(dict.fromkeys(keyword_ids + list(scores))))
        for cid in keyword_ids:
            chunk = chunks.get(cid)
            if chunk and _holds_all(chunk.text, wanted):
                scores[cid] = max(scores.get(cid, 0.0), 1.0)
        best = sorted(scores.items(), key=lambda item: -item[1])
        return self._hits(
            [(chunks[cid], round(score, 4)) for cid, score in best if cid in chunks], text, vector
        )


WORD = re.compile(r"\w+")


def _holds_all(text: str, wanted: list[str]) -> bool:
    words = [w.lower() for w in WORD.findall(text)]
    return all(any(w.startswith(token) for w in words) for token in wanted)
