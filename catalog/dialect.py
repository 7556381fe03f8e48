"""The catalog's SQL on PostgreSQL: one connection adapter and one DDL
translation, so that every book (catalog, speakers, persons, votes,
chapters, saved searches) keeps its one set of inline SQL for both backends.

Why not SQLAlchemy Core + Alembic, the usual answer for one schema on two
databases: the books' SQL is already written, reviewed and tested as plain
parameterised SQL, and nearly all of it is the portable subset (joins,
CASE, COALESCE, ON CONFLICT … DO UPDATE, which SQLite has had since 3.24).
What differs is small and mechanical: placeholders, ``INSERT OR
IGNORE/REPLACE``, the row id of an insert, ``datetime('now')``, column
types and identity columns. A translation of a few rules here costs one
module; rewriting some 200 statements into Core expressions, plus Alembic's
second migration history beside the numbered lists that SQLite databases
in the field already record, would cost a large diff for the same
queries. The search index is different: its two retrievers (FTS5 + NumPy,
tsvector + HNSW) share no SQL, so they are two stores behind one interface.

On PostgreSQL, migrations are never applied behind a caller's back: a book
opened on a schema older than the code says to run ``onrecord db upgrade``,
which opens its connection with ``upgrade=True``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from catalog.errors import OnRecordError

if TYPE_CHECKING:
    import psycopg

# SQLite's datetime('now'): UTC, to the second, as text.
NOW = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
# INSERT OR REPLACE needs its conflict target spelled out on PostgreSQL.
REPLACE_KEYS = {
    "transcript_segments": ("transcript_key", "seq"),
    "diarizations": ("key",),
    "vote_detections": ("meeting_id",),
    "chapter_detections": ("meeting_id",),
}
_INSERT = re.compile(r"^\s*INSERT\s+(?:OR\s+(IGNORE|REPLACE)\s+)?INTO\s+(\w+)", re.I)
_IDENTITY_TABLE = re.compile(r"CREATE TABLE (\w+) \(\s*id INTEGER PRIMARY KEY", re.I)


class Row(tuple):  # type: ignore[type-arg]
    """A result row read by position or by column name, as sqlite3.Row is."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description or []
    names = {column.name: i for i, column in enumerate(description)}
    return lambda values: Row(values, names)


class Cursor:
    """What the books read of a cursor: rows, ``rowcount``, ``lastrowid``."""

    def __init__(self, cur: Any, lastrowid: int | None = None) -> None:
        self._cur = cur
        self.lastrowid = lastrowid
        self.rowcount = cur.rowcount

    def fetchone(self) -> Row | None:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Row]:
        return self._cur.fetchall() if self._cur.description else []

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class PgCatalogConnection:
    """A psycopg connection that takes the books' SQLite-flavoured SQL.
    Values are bound client-side (as sqlite3 does), so an untyped ``? IS
    NULL`` works as it does there. ``upgrade`` lets ``apply_migrations``
    create and migrate tables; otherwise it only checks they are current."""

    dialect = "postgresql"

    def __init__(self, url: str, upgrade: bool = False, read_only: bool = False) -> None:
        self.url = url
        self.upgrade = upgrade
        self.read_only = read_only
        # Tables whose inserts return their new id, read from the migrations
        # each book registers as it opens.
        self.identity: frozenset[str] = frozenset()
        self.raw: psycopg.Connection = self._open()

    def _open(self) -> psycopg.Connection:
        import psycopg

        from catalog.pg import connect

        raw = connect(self.url)
        raw.cursor_factory = psycopg.ClientCursor
        raw.row_factory = _row_factory
        if self.read_only:
            raw.execute("SET default_transaction_read_only = on")
        return raw

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Cursor:
        import psycopg

        from catalog.pg import unavailable

        query, returns_id = translate(sql, self.identity)
        if self.raw.broken or self.raw.closed:
            # The server went away since the last call (a restart): a new
            # connection, between statements, where no transaction is open.
            self.raw = self._open()
        try:
            cur = self.raw.execute(query, tuple(params))  # type: ignore[call-overload]
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if not self.raw.broken and not self.raw.closed:
                raise  # the statement's own failure (a lock timeout…), not an outage
            raise unavailable(self.url, exc) from None
        lastrowid = None
        if returns_id:
            row = cur.fetchone()
            lastrowid = int(row[0]) if row else None
        return Cursor(cur, lastrowid)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        query, _ = translate(sql, frozenset())
        with self.raw.cursor() as cur:
            cur.executemany(query, [tuple(r) for r in rows])

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        if self.raw.broken or self.raw.closed:
            return False  # nothing to roll back: the next call reconnects
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def close(self) -> None:
        self.raw.close()

    # -- migrations -------------------------------------------------------
    def migrate(
        self, component: str, migrations: list[tuple[int, str]], overrides: dict[int, str] | None
    ) -> None:
        from catalog.pg import apply_migrations, check_schema

        translated = pg_migrations(migrations, overrides or {})
        self.identity |= identity_tables(migrations)
        if self.upgrade:
            apply_migrations(self.raw, component, translated)
        else:
            check_schema(self.raw, component, translated)


@lru_cache(maxsize=1024)
def translate(sql: str, identity: frozenset[str]) -> tuple[str, bool]:
    """The statement in PostgreSQL's words, and whether it returns the new
    row's id (an insert into a table with an identity ``id``)."""
    stripped = sql.strip()
    if re.fullmatch(r"BEGIN(\s+IMMEDIATE)?", stripped, re.I):
        return "BEGIN", False
    # A NOCASE column is citext there, which compares ignoring case already.
    query = _placeholders(sql.replace("datetime('now')", NOW).replace(" COLLATE NOCASE", ""))
    insert = _INSERT.match(query)
    returns_id = False
    if insert:
        mode, table = (insert.group(1) or "").upper(), insert.group(2)
        query = _INSERT.sub(f"INSERT INTO {table}", query, count=1)
        if mode == "IGNORE":
            query += " ON CONFLICT DO NOTHING"
        elif mode == "REPLACE":
            query += _replace_clause(table, query)
        if table in identity and " RETURNING " not in query.upper():
            query += " RETURNING id"
            returns_id = True
    return query, returns_id


def _placeholders(sql: str) -> str:
    """``?`` → ``%s`` outside string literals; a literal ``%`` doubled."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    return "".join(
        part.replace("%", "%%") if i % 2 else part.replace("%", "%%").replace("?", "%s")
        for i, part in enumerate(parts)
    )


def _replace_clause(table: str, query: str) -> str:
    keys = REPLACE_KEYS.get(table)
    columns = re.search(rf"INTO {table}\s*\(([^)]*)\)", query)
    if keys is None or columns is None:
        raise OnRecordError(f"INSERT OR REPLACE into {table} has no conflict key on PostgreSQL")
    others = [c.strip() for c in columns.group(1).split(",") if c.strip() not in keys]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in others)
    return f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"


def identity_tables(migrations: list[tuple[int, str]]) -> frozenset[str]:
    """Tables whose ``id`` the database assigns, read from the migrations
    (a table rebuilt as ``name_new`` keeps its name)."""
    found = {t for _, sql in migrations for t in _IDENTITY_TABLE.findall(sql)}
    return frozenset(t.removesuffix("_new") for t in found)


def pg_ddl(sql: str) -> str:
    """SQLite DDL as PostgreSQL DDL: an ``id INTEGER PRIMARY KEY`` becomes an
    identity column (never reused, as AUTOINCREMENT promises), integers are
    64-bit, REAL double precision, BLOB bytea."""
    sql = sql.replace("datetime('now')", NOW)
    if "COLLATE NOCASE" in sql:
        # SQLite's NOCASE as citext (a trusted extension, PostgreSQL's own
        # contrib): lookups and the UNIQUE constraint ignore case as there.
        sql = "CREATE EXTENSION IF NOT EXISTS citext;\n" + re.sub(
            r"\bTEXT\b([^,\n]*?)\s*COLLATE NOCASE", r"CITEXT\1", sql
        )
    sql = re.sub(
        r"\bid INTEGER PRIMARY KEY( AUTOINCREMENT)?",
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        sql,
    )
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    return re.sub(r"\bBLOB\b", "BYTEA", sql)


def pg_migrations(migrations: list[tuple[int, str]], overrides: dict[int, str]) -> list[tuple[int, str]]:
    """A component's numbered migrations for PostgreSQL, same numbers:
    translated, or the component's own text where SQLite's would not run."""
    return [(version, overrides.get(version) or pg_ddl(sql)) for version, sql in migrations]
