"""Words on PostgreSQL: the FTS5 expression that ``search.query`` builds,
translated into a tsquery, the score that stands in for BM25, and the
keyword half of ``PgStore`` (search/pg_store.py) that runs them.

The tsquery is built from ``fts_expression``'s output, never from what the
user typed: every term there is already quoted, so both stores read one
parse of the query. ``ts_rank`` has no IDF, so each term's rank is weighted
by BM25's IDF, from the store's counts of chunks holding each lexeme
(``term_stats``, which ``PgWords`` keeps as meetings come and go).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from catalog.pg import translate_outages
from search.pg_filters import _filters
from search.query import SearchQuery, all_words_expression, fts_expression, or_terms
from search.storage import CANDIDATES, POSTING_BUDGET, affordable

if TYPE_CHECKING:
    import psycopg

TEXT_SEARCH = "english"
# ts_rank weights for {D, C, B, A}: the text is A, the speaker's name C, so
# a name in the query favours that speaker without outweighing what was said.
RANK_WEIGHTS = "{0.1, 0.5, 0.4, 1.0}"
# ts_rank normalisation: 1 divides by 1 + log(length), BM25's gentle
# preference for the shorter of two passages with the same words.
RANK_NORMALISATION = 1
ITEM = re.compile(r'"([^"]*)"(\*?)|(AND|OR|NOT)|([()])')
WORD = re.compile(r"^[^\W_]+$")

Term = tuple[str, list[object]]  # SQL of a tsquery, and its parameters


class TsQuery:
    """A tsquery SQL expression and its parameters, built from the FTS5
    expression ``fts_expression`` makes (quoted terms, ``*`` prefixes and
    AND / OR / NOT, NOT binding tightest, then AND, then OR, as in FTS5; a
    bracketed OR of a word's spellings counts as one term)."""

    def __init__(self, expression: str) -> None:
        self.params: list[object] = []
        self.terms: list[Term] = []  # each positive term alone
        self.spellings: list[list[Term]] = []  # and the spellings it stands for
        items = [m.groups() for m in ITEM.finditer(expression)]
        groups: list[list[list[str]]] = [[[]]]  # OR of AND of [term, NOT term…]
        op = "AND"
        i = 0
        while i < len(items):
            words, star, operator, bracket = items[i]
            i += 1
            if operator:
                op = operator
                continue
            if bracket == ")":
                continue
            if bracket == "(":
                alternatives = []
                while i < len(items) and items[i][3] != ")":
                    if items[i][2] is None and items[i][3] is None:
                        alternatives.append(self._term(items[i][0], bool(items[i][1])))
                    i += 1
                if not alternatives:
                    continue
                term: Term = (
                    "(" + " || ".join(sql for sql, _ in alternatives) + ")",
                    [p for _, params in alternatives for p in params],
                )
            else:
                alternatives = [self._term(words, bool(star))]
                term = alternatives[0]
            if op == "OR":
                groups.append([[]])
            elif op == "AND" and groups[-1][-1]:
                groups[-1].append([])
            chain = groups[-1][-1]
            if op == "NOT" and chain:
                chain.append(f"!!{term[0]}")
            else:
                chain.append(term[0])
                self.terms.append(term)
                self.spellings.append(alternatives)
            self.params += term[1]
            op = "AND"
        ands = ["(" + " && ".join(f"({' && '.join(chain)})" for chain in g if chain) + ")" for g in groups]
        self.sql = "(" + " || ".join(a for a in ands if a != "()") + ")"

    @staticmethod
    def _term(words: str, prefix: bool) -> Term:
        if prefix and WORD.match(words):
            return f"to_tsquery('{TEXT_SEARCH}', %s)", [f"{words}:*"]
        return f"phraseto_tsquery('{TEXT_SEARCH}', %s)", [words]


def score(tsq: TsQuery, counts: list[int], total: int) -> tuple[str, list[object]]:
    """Each positive term's ts_rank weighted by its IDF (BM25's), summed."""
    parts, params = [], []
    for (sql, term_params), df in zip(tsq.terms, counts, strict=True):
        idf = math.log(1 + (total - df + 0.5) / (df + 0.5))
        parts.append(f"{idf:.6f} * ts_rank('{RANK_WEIGHTS}', words, {sql}, {RANK_NORMALISATION})")
        params += term_params
    return " + ".join(parts), params


class PgWords:
    """The tsvector's answers and the term statistics, for ``PgStore`` to inherit."""

    conn: psycopg.Connection
    model: int

    if TYPE_CHECKING:  # the store's, and the spellings table's

        def vector_count(self) -> int: ...
        def spellings(self, item: str) -> list[str]: ...

    def _count_terms(self, meeting_id: int, sign: int) -> None:
        """Add (or take away) a meeting's lexemes to the document counts,
        in lexeme order so that concurrent writers never deadlock."""
        inner = (
            f"SELECT words FROM chunks WHERE model_id = {int(self.model)} AND meeting_id = {int(meeting_id)}"
        )
        self.conn.execute(
            "INSERT INTO term_stats (model_id, lexeme, chunks)"
            " SELECT %s, word, %s * ndoc FROM ts_stat(%s) ORDER BY word"
            " ON CONFLICT (model_id, lexeme) DO UPDATE SET chunks = term_stats.chunks + excluded.chunks",
            (self.model, sign, inner),
        )
        if sign < 0:
            self.conn.execute("DELETE FROM term_stats WHERE model_id = %s AND chunks <= 0", (self.model,))

    @translate_outages
    def term_counts(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        """The number of passages, and about how many match each FTS5
        expression (``"word"``, ``"word" OR "words"``), no further than the
        posting budget, as on SQLite. Read from the term statistics, not by
        matching: counting the matches of a common word at a million chunks
        took 100-300 ms a word. An OR counts its terms' passages together
        and a phrase its rarest word's, so a count may overstate, never
        understate, how many passages match."""
        counts = {}
        for term in terms:
            found = self._frequencies(TsQuery(term))
            counts[term] = min(sum(found), POSTING_BUDGET + 1)
        return self.vector_count(), counts

    def _words(self, q: SearchQuery, depth: int = CANDIDATES) -> list[tuple[int, float]]:
        expression = fts_expression(q.text, self.spellings)
        if expression is None:
            return []
        total = max(1, self.vector_count())
        tsq = TsQuery(expression)
        counts = self._frequencies(tsq)
        newest_only = False
        if total > POSTING_BUDGET and sum(counts) > POSTING_BUDGET:
            # As on SQLite: a natural-language query keeps its rarest words
            # while their passages fit the budget; past that, the newest
            # passages are the ones scored.
            terms = or_terms(q.text, self.spellings)
            if terms and len(terms) == len(counts) > 1:
                kept = affordable(counts, POSTING_BUDGET)
                tsq = TsQuery(" OR ".join(terms[i] for i in kept))
                counts = [counts[i] for i in kept]
            newest_only = sum(counts) > POSTING_BUDGET
        if not tsq.terms:
            return []
        rank, rank_params = score(tsq, counts, total)
        where, params = _filters(q)
        matches = f"SELECT id, words FROM chunks WHERE model_id = %s AND words @@ {tsq.sql}{where}"
        if newest_only:
            matches += f" ORDER BY id DESC LIMIT {POSTING_BUDGET}"
        rows = self.conn.execute(
            f"SELECT id, {rank} AS score FROM ({matches}) m ORDER BY score DESC, id DESC LIMIT %s",
            [*rank_params, self.model, *tsq.params, *params, depth],
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    @translate_outages
    def matching_chunks(self, q: SearchQuery) -> dict[int, set[int]]:
        """Every chunk holding all the query's words, by meeting, unranked
        (the timeline counts them; GIN answers without scoring)."""
        expression = all_words_expression(q.text)
        if expression is None:
            return {}
        tsq = TsQuery(expression)
        if not tsq.terms:
            return {}
        where, params = _filters(q)
        rows = self.conn.execute(
            f"SELECT meeting_id, id FROM chunks WHERE model_id = %s AND words @@ {tsq.sql}{where}",
            [self.model, *tsq.params, *params],
        )
        found: dict[int, set[int]] = {}
        for meeting_id, chunk_id in rows:
            found.setdefault(int(meeting_id), set()).add(int(chunk_id))
        return found

    def _frequencies(self, tsq: TsQuery) -> list[int]:
        """How many of this model's chunks hold each positive term: a
        phrase as many as its rarest word, a prefix all its words together,
        a word's spellings all of theirs."""
        return [sum(self._frequency(sql, params) for sql, params in term) for term in tsq.spellings]

    def _frequency(self, sql: str, params: list[object]) -> int:
        row = None
        if sql.startswith("to_tsquery"):
            tree = self.conn.execute(f"SELECT querytree({sql})", params).fetchone()
            stem = re.findall(r"'([^']*)'", tree[0] if tree else "")
            if stem:
                row = self.conn.execute(
                    "SELECT coalesce(sum(chunks), 0) FROM term_stats"
                    " WHERE model_id = %s AND lexeme >= %s AND lexeme < %s",
                    (self.model, stem[0], stem[0] + "\uffff"),
                ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT coalesce(min(chunks), 0) FROM term_stats WHERE model_id = %s"
                f" AND lexeme = ANY(tsvector_to_array(to_tsvector('{TEXT_SEARCH}', %s)))",
                [self.model, *params],
            ).fetchone()
        return int(row[0]) if row else 0
