"""The Legistar Web API: a body's events, their agenda items, the votes on
each item, and the people who cast them.

Requests page with ``$top``/``$skip`` (the API returns at most 1000 rows a
request) and retry with backoff when the network or the server fails. A
vote list that keeps failing is reported missing rather than stopping the
import. Everything is fetched before anything is written, so a failure
leaves nothing half-imported.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from catalog.errors import SourceError

DEFAULT_API = "https://webapi.legistar.com/v1"
PAGE = 1000
USER_AGENT = "OnRecord (+https://github.com/onrecord)"


@dataclass
class LegistarEvent:
    """One event with all that was fetched for it."""

    raw: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    votes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by EventItemId
    missing_votes: list[int] = field(default_factory=list)  # items whose vote list failed

    @property
    def id(self) -> int:
        return int(self.raw["EventId"])

    @property
    def date(self) -> str:
        return str(self.raw.get("EventDate") or "")[:10]

    @property
    def body(self) -> str:
        return str(self.raw.get("EventBodyName") or "")


class LegistarClient:
    def __init__(
        self,
        client: str,
        api: str = DEFAULT_API,
        retries: int = 3,
        backoff: float = 1.0,
        timeout: float = 30.0,
    ) -> None:
        if not client.strip() or "/" in client:
            raise SourceError(f"{client!r} is not a Legistar client name; use the city's, e.g. seattle")
        self.client = client.strip()
        self.api = api.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.page = PAGE

    def _url(self, path: str, params: dict[str, str] | None = None) -> str:
        query = urllib.parse.urlencode(params or {}, safe="$'", quote_via=urllib.parse.quote)
        return f"{self.api}/{self.client}/{path}" + (f"?{query}" if query else "")

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """One request's JSON, retried with backoff on network errors and
        server errors; a client error (an unknown client) fails at once."""
        url = self._url(path, params)
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(
                url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    body = response.read()
            except urllib.error.HTTPError as exc:
                detail = _message(exc.read())
                if exc.code < 500:
                    raise SourceError(
                        f"Legistar answered {exc.code} for client {self.client!r}{detail}; check the client"
                        " name (the city's name in its legistar.com address, e.g. seattle)"
                    ) from None
                last = f"HTTP {exc.code}{detail}"
                continue
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
                continue
            try:
                data = json.loads(body)
            except ValueError:
                raise SourceError(
                    f"Legistar sent something that is not JSON for {path} ({len(body)} bytes);"
                    " try again later"
                ) from None
            if isinstance(data, dict) and ("Message" in data or "ExceptionMessage" in data):
                raise SourceError(f"Legistar refused {path}:{_message(body)}; check the client name")
            return data
        raise SourceError(
            f"Legistar at {self.api} could not be reached after {self.retries + 1} tries ({last});"
            " check the address or try again later"
        )

    def rows(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every row of a listing, a page at a time."""
        out: list[dict[str, Any]] = []
        skip = 0
        while True:
            page = self.get(path, {**(params or {}), "$top": str(self.page), "$skip": str(skip)})
            if not isinstance(page, list) or not all(isinstance(r, dict) for r in page):
                raise SourceError(f"Legistar sent a malformed listing for {path}: expected a list of records")
            out += page
            if len(page) < self.page:
                return out
            skip += len(page)

    def events(self, since: str | None, until: str | None) -> list[dict[str, Any]]:
        terms = []
        if since:
            terms.append(f"EventDate ge datetime'{since}'")
        if until:
            terms.append(f"EventDate le datetime'{until}T23:59:59'")
        rows = self.rows("events", {"$filter": " and ".join(terms)} if terms else None)
        for row in rows:
            if "EventId" not in row or "EventDate" not in row:
                raise SourceError(
                    "Legistar sent events without EventId or EventDate; is this a Legistar API?"
                )
        return rows

    def fetch(self, event: dict[str, Any]) -> LegistarEvent:
        """An event's items and the votes of each item that was acted on."""
        found = LegistarEvent(event, self.rows(f"events/{event['EventId']}/EventItems"))
        for item in found.items:
            if "EventItemId" not in item:
                raise SourceError("Legistar sent event items without EventItemId; is this a Legistar API?")
            acted = item.get("EventItemPassedFlag") is not None or item.get("EventItemActionName")
            if not acted:
                continue
            try:
                votes = self.get(f"EventItems/{item['EventItemId']}/Votes")
            except SourceError:
                found.missing_votes.append(int(item["EventItemId"]))
                continue
            if isinstance(votes, list):
                found.votes[int(item["EventItemId"])] = [v for v in votes if isinstance(v, dict)]
            else:
                found.missing_votes.append(int(item["EventItemId"]))
        return found

    def person(self, person_id: int) -> dict[str, Any] | None:
        try:
            data = self.get(f"Persons/{person_id}")
        except SourceError:
            return None  # the vote's own name stands in
        return data if isinstance(data, dict) else None


def _message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict):
        text = data.get("Message") or data.get("ExceptionMessage") or ""
        return f" ({str(text)[:200]})" if text else ""
    return ""


VOTE_VALUES = {
    "in favor": "yes",
    "yes": "yes",
    "aye": "yes",
    "yea": "yes",
    "affirmative": "yes",
    "opposed": "no",
    "no": "no",
    "nay": "no",
    "negative": "no",
    "against": "no",
    "abstain": "abstain",
    "abstained": "abstain",
    "abstention": "abstain",
    "recused": "abstain",
    "recusal": "abstain",
    "absent": "absent",
    "excused": "absent",
    "not present": "absent",
}


def member_vote(value: str | None) -> str:
    return VOTE_VALUES.get((value or "").strip().lower(), "unclear")


def passed_flag(item: dict[str, Any]) -> str:
    name = str(item.get("EventItemPassedFlagName") or "").lower()
    if item.get("EventItemPassedFlag") == 1 or name.startswith("pass"):
        return "passed"
    if item.get("EventItemPassedFlag") == 0 or name.startswith("fail"):
        return "failed"
    return "unknown"
