"""Chunking, embedding, the index and hybrid ranking."""

from search.fusion import fuse
from search.index import SearchIndex
from search.query import SearchQuery

__all__ = ["SearchIndex", "SearchQuery", "fuse"]
