"""The foundation: settings, domain types and the catalog database."""

from catalog.db import Catalog
from catalog.errors import MediaError, ModelError, OnRecordError, QueryError, SourceError
from catalog.settings import Settings, load_settings
from catalog.types import Body, Chunk, Hit, Meeting, Segment, Speaker, Word, parse_date

__all__ = [
    "Body",
    "Catalog",
    "Chunk",
    "Hit",
    "MediaError",
    "Meeting",
    "ModelError",
    "OnRecordError",
    "QueryError",
    "Segment",
    "Settings",
    "SourceError",
    "Speaker",
    "Word",
    "load_settings",
    "parse_date",
]
