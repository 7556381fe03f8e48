"""Chunking, embedding, the index and hybrid ranking."""

from search.index import SearchIndex, fuse
from search.query import SearchQuery

__all__ = ["SearchIndex", "SearchQuery", "fuse"]
