"""A query's filters on PostgreSQL, as SQL: column tests on the chunk row,
which carries its meeting's body and date, so a filter needs no join. Part
of ``PgStore`` (search/pg_store.py)."""

from __future__ import annotations

from search.query import SearchQuery


def _filters(q: SearchQuery) -> tuple[str, list[object]]:
    """The query's filters as SQL on the chunk row, only those it has."""
    sql, params = [], []
    if q.body:
        sql.append("lower(body) = lower(%s)")
        params.append(q.body)
    if q.since:
        sql.append("meeting_date >= %s")
        params.append(q.since)
    if q.until:
        sql.append("meeting_date <= %s")
        params.append(q.until)
    if q.speaker:
        sql.append("lower(speaker) IN (lower(%s), 'probably ' || lower(%s))")
        params += [q.speaker, q.speaker]
    if q.meeting_id is not None:
        sql.append("meeting_id = %s")
        params.append(q.meeting_id)
    return "".join(f" AND {s}" for s in sql), params
