"""Words on PostgreSQL: the FTS5 expression that ``search.query`` builds,
translated into a tsquery, and the score that stands in for BM25.

The tsquery is built from ``fts_expression``'s output, never from what the
user typed: every term there is already quoted, so both stores read one
parse of the query. ``ts_rank`` has no IDF, so each term's rank is weighted
by BM25's IDF, from the store's counts of chunks holding each lexeme.
"""

from __future__ import annotations

import math
import re

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
