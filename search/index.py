"""Chunk, embed, index and search: the search stage's one entry point."""

from __future__ import annotations

from collections.abc import Callable

from catalog.db import Catalog
from catalog.errors import QueryError
from catalog.types import Hit, Segment
from search.chunking import chunk_segments
from search.embed import BUNDLED, Embedder, get_embedder
from search.fusion import fuse
from search.links import deep_link
from search.query import SearchQuery
from search.store import SQLiteStore


def embed_model_id(name: str) -> str:
    return "all-MiniLM-L6-v2" if name in BUNDLED else name


class SearchIndex:
    """Indexes meetings' transcripts and answers queries over them."""

    def __init__(
        self, catalog: Catalog, embed_model: str, base_url: str, embedder: Embedder | None = None
    ) -> None:
        self.catalog = catalog
        self.embed_model = embed_model
        self.base_url = base_url
        self._embedder = embedder
        self.store = SQLiteStore(catalog.conn, embed_model_id(embed_model))

    @property
    def embedder(self) -> Embedder:
        # Loading the model takes seconds; only pay for it when needed.
        if self._embedder is None:
            self._embedder = get_embedder(self.embed_model)
        return self._embedder

    def index_meeting(
        self, meeting_id: int, segments: list[Segment], progress: Callable[[int, int], None] | None = None
    ) -> int:
        chunks = chunk_segments(meeting_id, segments)
        vectors = self.embedder.embed([c.text for c in chunks], progress=progress)
        self.store.index_meeting(meeting_id, chunks, vectors)
        return len(chunks)

    def search(self, query: SearchQuery) -> list[Hit]:
        if query.body and self.catalog.body(query.body) is None:
            known = ", ".join(b.name for b in self.catalog.bodies()) or "none yet"
            raise QueryError(f"No body named {query.body!r}; known bodies: {known}")
        vector = self.embedder.embed_batch([query.text])[0]
        fused = fuse(self.store.search(query, vector))
        page = fused[query.offset : query.offset + query.limit]
        chunks = self.store.chunks([chunk_id for chunk_id, _ in page])
        hits = []
        for chunk_id, score in page:
            chunk = chunks[chunk_id]
            meeting = self.catalog.meeting(chunk.meeting_id)
            assert meeting is not None
            hits.append(
                Hit(
                    meeting_id=chunk.meeting_id,
                    meeting_title=meeting.title,
                    meeting_date=meeting.date,
                    body=meeting.body,
                    start=chunk.start,
                    end=chunk.end,
                    speaker=chunk.speaker,
                    text=chunk.text,
                    score=round(score, 6),
                    url=deep_link(meeting.source_url, chunk.start, meeting.id, self.base_url),
                )
            )
        return hits
