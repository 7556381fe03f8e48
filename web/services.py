"""What the views share, and what each request gets of its own.

Each request reads through its own read-only catalog connection and search
index, taken from a pool and given back when the request ends, so a slow
search never holds up another request; SQLite's WAL lets them all read while
a job writes. Only the embedding model is shared (it loads once per
process, and takes seconds), behind a lock held for one batch of texts at a
time. Writes open their own connection for the request.
"""

from __future__ import annotations

import hmac
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from flask import abort, g, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import TooManyRequests, Unauthorized

from catalog import Catalog, Settings
from catalog.db import open_catalog
from search.embed import Embedder
from web.ratelimit import RateLimiter, client_key, parse_networks

# Request bodies: the largest write is a saved search of a few hundred bytes.
MAX_BODY = 64 * 1024
# Long enough for "Councilmember Teresa Mosqueda (District 8)", short enough
# that a paste accident does not become a speaker's name.
MAX_NAME = 120
MAX_SAVED_QUERY = 500
# Shorter tokens can be guessed; secrets.token_urlsafe(24) gives 32 characters.
MIN_TOKEN = 16
# Idle readers kept for the next requests; more are opened under a burst.
POOL_SIZE = 16
# Texts embedded in one forward pass at most (a search's quotes can bring dozens).
MAX_EMBED_BATCH = 64
# Wrong admin tokens a client may send a minute (after a burst of 5).
AUTH_FAILURES_PER_MINUTE = 10


class SharedEmbedder(Embedder):
    """The process's one embedding model, loaded on first use, shared by
    every request. Calls take turns (the tokenizer is not safe to call from
    two threads at once), and the turns batch: texts that arrive while the
    model is busy are embedded together in its next run, one forward pass
    for many requests, so that ten concurrent searches cost the CPU little
    more than a few single ones. Each caller gets back its own rows."""

    def __init__(self, model: str, max_batch: int = MAX_EMBED_BATCH) -> None:
        from search.index import embed_model_id

        self.model = model
        self.model_id = embed_model_id(model)
        self.max_batch = max_batch
        self._loaded: Embedder | None = None
        self._load_lock = threading.Lock()
        self._turn = threading.Condition()
        self._waiting: list[_Batch] = []
        self._busy = False

    def _embedder(self) -> Embedder:
        with self._load_lock:
            if self._loaded is None:
                from search.embed import get_embedder

                self._loaded = get_embedder(self.model)
            return self._loaded

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self._embedder().dim

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        mine = _Batch(texts)
        with self._turn:
            self._waiting.append(mine)
            while mine.vectors is None and mine.error is None and self._busy:
                self._turn.wait()
            if mine.vectors is not None or mine.error is not None:
                return mine.result()
            # This caller runs the model, for itself and those waiting.
            self._busy = True
            self._waiting.remove(mine)
            batches, size = [mine], len(texts)
            while self._waiting and size + len(self._waiting[0].texts) <= self.max_batch:
                batches.append(self._waiting.pop(0))
                size += len(batches[-1].texts)
        try:
            vectors = self._embedder().embed_batch([t for b in batches for t in b.texts])
            first = 0
            for batch in batches:
                batch.vectors = vectors[first : first + len(batch.texts)]
                first += len(batch.texts)
        except BaseException as exc:
            for batch in batches:
                batch.error = exc
        finally:
            with self._turn:
                self._busy = False
                self._turn.notify_all()
        return mine.result()


class _Batch:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None

    def result(self) -> np.ndarray:
        if self.error is not None:
            raise self.error
        assert self.vectors is not None
        return self.vectors


class Reader:
    """One request's view of the archive: a read-only catalog connection
    and, when the request searches, a search index on it."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.catalog = open_catalog(settings, read_only=True)
        self._index: Any = None

    @property
    def conn(self) -> Any:
        return self.catalog.conn

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
        self.catalog.close()

    @property
    def index(self) -> Any:
        if self._index is None:
            from search.backends import open_index

            self._index = open_index(self.settings, self.catalog, self.embedder)
        return self._index


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proxies = parse_networks(settings.trusted_proxies)
        self.limiter = RateLimiter(settings.search_rate_limit)
        self.auth_failures = RateLimiter(AUTH_FAILURES_PER_MINUTE, burst=5)
        self.embedder = SharedEmbedder(settings.embed_model)
        self._idle: queue.LifoQueue[Reader] = queue.LifoQueue(maxsize=POOL_SIZE)
        self._migrate()

    def _migrate(self) -> None:
        """Bring every store's schema up to date once, with a writable
        connection, so that the readers never need to write."""
        from search.alerts import alerts_book
        from search.backends import open_index

        with self.writer() as catalog:
            open_index(self.settings, catalog, self.embedder, upgrade=False).close()
            alerts_book(catalog)

    @property
    def token_problem(self) -> str | None:
        token = self.settings.admin_token
        if token and len(token) < MIN_TOKEN:
            return (
                f"admin_token is {len(token)} characters, too short to keep writes safe; the app stays"
                f" read-only until it has at least {MIN_TOKEN}. Make one with:"
                " python -c 'import secrets; print(secrets.token_urlsafe(24))'"
            )
        return None

    @property
    def can_write(self) -> bool:
        return bool(self.settings.admin_token) and self.token_problem is None

    # -- connections ------------------------------------------------------
    def reader(self) -> Reader:
        """This request's reader, taken from the pool on first use."""
        if "onrecord_reader" not in g:
            try:
                g.onrecord_reader = self._idle.get_nowait()
            except queue.Empty:
                g.onrecord_reader = Reader(self.settings, self.embedder)
        return g.onrecord_reader

    def release(self) -> None:
        reader = g.pop("onrecord_reader", None)
        if reader is None:
            return
        if reader.conn.in_transaction:
            reader.conn.rollback()
        try:
            self._idle.put_nowait(reader)
        except queue.Full:
            reader.close()

    @contextmanager
    def writer(self) -> Iterator[Catalog]:
        """A writable catalog for one write, closed after it."""
        catalog = open_catalog(self.settings)
        try:
            yield catalog
        finally:
            catalog.close()

    # -- who may do what ----------------------------------------------------
    def client(self) -> str:
        return client_key(request.remote_addr, request.headers.get("X-Forwarded-For"), self.proxies)

    def _too_many(self, wait: float, what: str) -> None:
        seconds = max(1, round(wait))
        raise TooManyRequests(f"Too many {what}; try again in {seconds} s", retry_after=seconds)

    def throttle(self) -> None:
        """Refuse a search when this client has used up its rate."""
        wait = self.limiter.allow(self.client())
        if wait:
            self._too_many(wait, "searches")

    def require_admin(self) -> None:
        """Writes need the admin token; without one configured, the app is
        read-only. No credentials at all is a 401 that names the scheme; a
        wrong token a 403, and a client that keeps guessing is refused
        before its guesses are even compared."""
        token = self.settings.admin_token
        if not token:
            abort(
                403,
                "This OnRecord is read-only; set admin_token in settings.toml"
                " (or ONRECORD_ADMIN_TOKEN) to allow changes",
            )
        if self.token_problem:
            abort(403, self.token_problem)
        # Only the Bearer scheme counts: a bare token in the header is refused
        # rather than guessed at. Forms carry it in their own body instead,
        # read only now, after the header, and capped at MAX_BODY.
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else ""
        if not header and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            given = request.form.get("token", "")
        if not header and not given:
            raise Unauthorized(
                "This needs the admin token: send it as Authorization: Bearer TOKEN",
                www_authenticate=WWWAuthenticate("Bearer", {"realm": "OnRecord"}),
            )
        client = self.client()
        wait = self.auth_failures.wait(client)
        if wait:
            self._too_many(wait, "wrong admin tokens")
        if not hmac.compare_digest(given.encode(), token.encode()):
            self.auth_failures.allow(client)
            abort(403, "A valid admin token is needed for this; check the token and try again")
