"""A saved search's alerts as an Atom feed, built with feedgen (lxml), so
escaping and well-formedness are the library's job, not a template's."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# What XML 1.0 cannot carry at all, escaped or not: C0 controls other than
# tab, newline and carriage return, lone surrogates, U+FFFE and U+FFFF.
# Captions and transcripts can hold them, and one such character makes a
# strict feed reader drop the whole feed.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: object) -> str:
    return NOT_XML.sub("", "" if text is None else str(text))


def _when(sqlite_time: str) -> datetime:
    """SQLite's ``datetime('now')`` text, which is UTC."""
    return datetime.fromisoformat(sqlite_time).replace(tzinfo=UTC)


def atom_feed(saved: Any, alerts: list[Any], feed_url: str) -> bytes:
    """The feed of ``saved`` (a SavedSearch) with ``alerts`` newest first;
    ``feed_url`` is its id and self link."""
    from feedgen.feed import FeedGenerator

    from search.notify import summary

    feed = FeedGenerator()
    feed.id(feed_url)
    feed.title(xml_safe(f"OnRecord: “{saved.query}”"))
    feed.link(href=feed_url, rel="self")
    feed.author(name="OnRecord")
    feed.updated(_when(alerts[0].created_at if alerts else saved.created_at))
    for alert in alerts:
        hit = alert.hit
        title = f"{hit.body}, {hit.meeting_title} ({hit.meeting_date or 'undated'})"
        entry = feed.add_entry(order="append")
        entry.id(f"{feed_url}#alert-{alert.id}")
        entry.title(xml_safe(title + (f": {hit.speaker}" if hit.speaker else "")))
        entry.link(href=xml_safe(hit.url))
        entry.updated(_when(alert.created_at))
        entry.summary(xml_safe(summary(alert)))
    return feed.atom_str(pretty=True)
