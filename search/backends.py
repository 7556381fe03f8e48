"""The one place that opens a search index, for the pipeline, the CLI, the
workers and the web alike: SQLite's store (FTS5 + memory-mapped vectors)
beside the catalog by default, PostgreSQL's (tsvector + pgvector) when the
settings name a ``database_url``. Fusion, folding and quoting sit above
both in ``SearchIndex``; only the retrievers differ."""

from __future__ import annotations

from collections.abc import Callable

from catalog import Catalog, Settings
from search.embed import Embedder
from search.index import SearchIndex, embed_model_id
from search.storage import Reporter, Store


def _sqlite(
    settings: Settings,
    catalog: Catalog,
    model_id: str,
    dim: Callable[[], int],
    upgrade: bool,
    progress: Reporter | None,
) -> Store:
    from search.store import SQLiteStore

    return SQLiteStore.beside(catalog, model_id, progress=progress)


def _postgres(
    settings: Settings,
    catalog: Catalog,
    model_id: str,
    dim: Callable[[], int],
    upgrade: bool,
    progress: Reporter | None,
) -> Store:
    from search.pg_store import PgStore

    return PgStore(settings.database_url, model_id, dim=dim, migrate=upgrade, progress=progress)


# Stores by name; ``store_name`` picks one from the settings.
STORES: dict[str, Callable[[Settings, Catalog, str, Callable[[], int], bool, Reporter | None], Store]] = {
    "sqlite": _sqlite,
    "postgresql": _postgres,
}


def store_name(settings: Settings) -> str:
    return "postgresql" if settings.database_url else "sqlite"


def open_index(
    settings: Settings,
    catalog: Catalog,
    embedder: Embedder | None = None,
    upgrade: bool = False,
    progress: Reporter | None = None,
) -> SearchIndex:
    """The search index over ``catalog``'s meetings, in the store the
    settings name. ``upgrade`` (``onrecord db upgrade``) may create or
    migrate PostgreSQL's tables; without it an old schema is refused.
    ``progress`` hears how an upgrade's reading-in of spellings goes."""
    loaded = embedder

    def dim() -> int:
        # Only for a model with no vectors in the store yet: loading it takes seconds.
        nonlocal loaded
        if loaded is None:
            from search.embed import get_embedder

            loaded = get_embedder(settings.embed_model)
        return loaded.dim

    model_id = embed_model_id(settings.embed_model)
    store = STORES[store_name(settings)](settings, catalog, model_id, dim, upgrade, progress)
    return SearchIndex(catalog, settings.embed_model, settings.base_url, embedder=loaded, store=store)
