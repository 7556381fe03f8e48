"""The spellings half of ``PgStore`` (search/pg_store.py): its table of
the variants codes and names take in transcripts, one per model, written
as meetings are indexed and read as ``variants.spellings`` asks
(search/variants.py holds the rules), on the store's connection."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from catalog.pg import translate_outages
from search import variants
from search.pg_words import TsQuery
from search.storage import POSTING_BUDGET, Reporter

if TYPE_CHECKING:
    import psycopg

SPELLINGS_RECHECK_S = 1.0


class PgVariants(variants.VariantTable):
    """The ``term_variants`` table, for ``PgStore`` to inherit."""

    conn: psycopg.Connection
    model: int
    _spelled: variants.Remembered
    _spelled_at: int
    _spelled_checked: float

    if TYPE_CHECKING:  # the store's, and the keyword half's

        def generation(self) -> int: ...
        def vector_count(self) -> int: ...
        def _bump(self) -> None: ...
        def _frequencies(self, tsq: TsQuery) -> list[int]: ...

    def _add_variants(self, texts: list[str], roster: list[str]) -> None:
        """File the texts' codes (as written: PostgreSQL's parser splits them
        its own way) and names under their keys; in key order, so that
        concurrent writers never deadlock."""
        rows = variants.table_rows(texts, roster, as_written=True)
        self.conn.execute(
            "INSERT INTO term_variants (model_id, key, variant, roster)"
            " SELECT %s, k, v, r FROM unnest(%s::text[], %s::text[], %s::bool[]) AS t(k, v, r) ORDER BY k, v"
            " ON CONFLICT (model_id, key, variant)"
            " DO UPDATE SET roster = term_variants.roster OR excluded.roster",
            (self.model, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
        )

    def _fill_variants(self, progress: Reporter | None = None) -> None:
        """Read in the variants of meetings indexed before the table existed,
        one meeting per transaction (so an interrupted upgrade resumes);
        stores migrating at once share the work."""
        row = self.conn.execute(
            "SELECT count(*) FROM term_variants_todo WHERE model_id = %s", (self.model,)
        ).fetchone()
        total, done = (row[0] if row else 0), 0
        while True:
            with self.conn.transaction():
                todo = self.conn.execute(
                    "SELECT meeting_id FROM term_variants_todo WHERE model_id = %s"
                    " LIMIT 1 FOR UPDATE SKIP LOCKED",
                    (self.model,),
                ).fetchone()
                if todo is None:
                    return
                rows = self.conn.execute(
                    "SELECT text, speaker FROM chunks WHERE model_id = %s AND meeting_id = %s",
                    (self.model, todo[0]),
                ).fetchall()
                self._add_variants([r[0] for r in rows], [r[1] or "" for r in rows])
                self.conn.execute(
                    "DELETE FROM term_variants_todo WHERE model_id = %s AND meeting_id = %s",
                    (self.model, todo[0]),
                )
                self._bump()
            done += 1
            if progress:
                progress(min(done, total), total)

    @translate_outages
    def spellings(self, item: str) -> list[str]:
        """As on SQLite (search/variants.py), remembered until the index
        changes; whether it has is asked at most once a second (a search
        asks for each of its words twice, and a round trip each time cost a
        tenth of a search at a million chunks)."""
        now = time.monotonic()
        if now - self._spelled_checked > SPELLINGS_RECHECK_S:
            generation = self.generation()
            self._spelled_checked = now
            if generation != self._spelled_at:
                self._spelled.clear()
                self._spelled_at = generation
        return self._spelled.spellings(item, self)

    # -- the variants table, as variants.spellings asks it -----------------
    def variants_of(self, key: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT variant FROM term_variants WHERE model_id = %s AND key = %s", (self.model, key)
        )
        return [r[0] for r in rows]

    def codes_of_length(self, length: int) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT key, variant FROM term_variants WHERE model_id = %s"
            " AND key > '#' AND key < '$' AND length(key) = %s",
            (self.model, length),
        )
        return [(r[0], r[1]) for r in rows]

    def in_roster(self, key: str, word: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM term_variants WHERE model_id = %s AND key = %s AND variant = %s AND roster",
            (self.model, key, word),
        ).fetchone()
        return row is not None

    def keyed_under(self, prefix: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT variant FROM term_variants WHERE model_id = %s AND key >= %s AND key < %s",
            (self.model, prefix, prefix + "\uffff"),
        )
        return [r[0] for r in rows]

    def passages(self, term: str) -> int:
        return min(sum(self._frequencies(TsQuery(term))), POSTING_BUDGET + 1)

    def size(self) -> int:
        return self.vector_count()
