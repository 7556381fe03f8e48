"""The spellings half of ``SQLiteStore`` (search/store.py): its table of
the variants codes and names take in transcripts, written as meetings are
indexed and read as ``variants.spellings`` asks (search/variants.py holds
the rules), on the store's connection."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from catalog.connection import transaction
from search import variants
from search.storage import Reporter


class SQLiteVariants(variants.VariantTable):
    """The ``term_variants`` table, for ``SQLiteStore`` to inherit."""

    conn: sqlite3.Connection
    _has_variants: bool  # the database has the table (migration 3)
    _spelled: variants.Remembered

    if TYPE_CHECKING:  # the store's, and the keyword half's

        def _refresh(self) -> None: ...
        def _passages_with(self, term: str) -> int: ...
        def vector_count(self) -> int: ...

    def _add_variants(self, texts: list[str], roster: list[str]) -> None:
        if not self._has_variants:
            return
        self.conn.executemany(
            "INSERT INTO term_variants (key, variant, roster) VALUES (?, ?, ?)"
            " ON CONFLICT (key, variant) DO UPDATE SET roster = max(roster, excluded.roster)",
            variants.table_rows(texts, roster),
        )

    def _fill_variants(self, progress: Reporter | None = None) -> None:
        """Read in the variants of meetings indexed before the table existed,
        one meeting per transaction, so an interrupted upgrade resumes. A
        read-only connection leaves the work to the next writer."""
        todo = [r[0] for r in self.conn.execute("SELECT meeting_id FROM term_variants_todo")]
        for done, meeting_id in enumerate(todo, 1):
            try:
                with transaction(self.conn):
                    rows = self.conn.execute(
                        "SELECT text, speaker FROM chunks WHERE meeting_id = ?", (meeting_id,)
                    ).fetchall()
                    self._add_variants([r[0] for r in rows], [r[1] or "" for r in rows])
                    self.conn.execute("DELETE FROM term_variants_todo WHERE meeting_id = ?", (meeting_id,))
            except sqlite3.OperationalError as exc:
                if "readonly" in str(exc):
                    return
                raise
            if progress:
                progress(done, len(todo))

    def spellings(self, item: str) -> list[str]:
        """Other FTS5 items for a query's word or compound: the written forms
        of its code, and rare words that sound like a rare or known name.
        Remembered until the index changes."""
        self._refresh()
        return self._spelled.spellings(item, self) if self._has_variants else []

    # -- the variants table, as variants.spellings asks it -----------------
    def variants_of(self, key: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT variant FROM term_variants WHERE key = ?", (key,))]

    def codes_of_length(self, length: int) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT key, variant FROM term_variants WHERE key > '#' AND key < '$' AND length(key) = ?",
            (length,),
        )
        return [(r[0], r[1]) for r in rows]

    def in_roster(self, key: str, word: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM term_variants WHERE key = ? AND variant = ? AND roster = 1", (key, word)
        ).fetchone()
        return row is not None

    def keyed_under(self, prefix: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT variant FROM term_variants WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff")
        )
        return [r[0] for r in rows]

    def passages(self, term: str) -> int:
        return self._passages_with(term)

    def size(self) -> int:
        return self.vector_count()
