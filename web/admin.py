"""The app's write actions: naming speakers and managing saved searches.

Every write is a POST (or DELETE) that carries the admin token, either as
``Authorization: Bearer`` or as the form's ``token`` field. The token is the
secret a cross-site form cannot know, so it is also the CSRF defence; no
cookie grants anything. Without a configured token every write is a 403 and
the pages show no forms. Saved searches are private too (a query says what a
newsroom is chasing, a feed address is the feed's key): the list is shown
only to a request that carries the token.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from catalog import OnRecordError
from catalog.speakers import SpeakerInfo
from catalog.text import clean_text
from search import SearchQuery
from search.alerts import DEFAULT_MIN_SCORE, SavedSearch, alerts_book, check_notify
from search.notify import check_target
from web import Services
from web.pages import feed_url
from web.services import MAX_NAME, MAX_SAVED_QUERY

admin = Blueprint("admin", __name__)


def services() -> Services:
    return current_app.extensions["onrecord"]


def meeting_speakers(meeting_id: int) -> list[SpeakerInfo]:
    """A meeting's speakers, or a 404 when there is no such meeting."""
    reader = services().reader()
    if reader.catalog.meeting(meeting_id) is None:
        abort(404)
    return reader.catalog.speakers.speakers(meeting_id)


def clean_name(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise OnRecordError("The name is empty; give the speaker's name, e.g. Jason Lando")
    # Counted as sent, as the API's description counts it.
    if len(raw) > MAX_NAME:
        raise OnRecordError(f"The name is longer than {MAX_NAME} characters; give just the person's name")
    # Control characters (a pasted line break, a bidi override) are refused, as everywhere.
    return clean_text(raw, "The name", MAX_NAME)


def name_speaker(meeting_id: int, label: str, raw_name: object) -> SpeakerInfo:
    """Name a speaker as ``onrecord speakers --name`` does: the speaker book
    remembers the voice, and the index relabels the passages so a search by
    the new name finds them."""
    s = services()
    s.require_admin()
    if label not in {sp.label for sp in meeting_speakers(meeting_id)}:
        abort(404)
    name = clean_name(raw_name)
    from search.backends import open_index

    with s.writer() as catalog:
        index = open_index(s.settings, catalog, s.embedder)
        try:
            index.name_speaker(meeting_id, label, name)
        finally:
            index.close()
        return next(sp for sp in catalog.speakers.speakers(meeting_id) if sp.label == label)


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise OnRecordError(
            'Send a JSON object, e.g. {"name": "Jason Lando"}, with Content-Type: application/json'
        )
    return data


@admin.post("/meetings/<int:meeting_id>/speakers/<label>")
def name_speaker_form(meeting_id: int, label: str) -> Response:
    # "Confirm" submits the proposed name; "Name" the typed one.
    name_speaker(meeting_id, label, request.form.get("confirm") or request.form.get("name"))
    target = url_for("web.meeting_page", meeting_id=meeting_id, named=label, _anchor="speakers")
    return redirect(target, code=303)


@admin.get("/api/meetings/<int:meeting_id>/speakers")
def api_speakers(meeting_id: int) -> Response:
    found = meeting_speakers(meeting_id)
    return jsonify({"meeting_id": meeting_id, "speakers": [sp.summary() for sp in found]})


@admin.post("/api/meetings/<int:meeting_id>/speakers/<label>")
def api_name_speaker(meeting_id: int, label: str) -> Response:
    services().require_admin()
    named = name_speaker(meeting_id, label, _json_body().get("name"))
    return jsonify({"meeting_id": meeting_id, "speaker": named.summary()})


# -- saved searches ---------------------------------------------------------


def _text(data: Any, key: str) -> str | None:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise OnRecordError(f"{key} must be text")
    return value.strip()


def add_saved_search(data: Any) -> SavedSearch:
    """Save a search from a form or a JSON body, checked as the CLI checks it."""
    s = services()
    raw_query = data.get("query")
    # Counted as sent, spaces and all, as the API's description counts it.
    if isinstance(raw_query, str) and len(raw_query) > MAX_SAVED_QUERY:
        raise OnRecordError(
            f"The search is longer than {MAX_SAVED_QUERY} characters; keep the words to watch for"
        )
    query = _text(data, "query") or ""
    if not query:
        raise OnRecordError("The saved search is empty; give the words to watch for, e.g. 287(g)")
    SearchQuery(query)  # the checks every search gets (terms, prefixes), now rather than each night
    body = _text(data, "body")
    notify = _text(data, "notify") or "atom"
    try:
        check_notify(notify)
    except OnRecordError:
        # The library's message names the CLI option; say it in the form's words.
        raise OnRecordError(
            f"notify {notify!r} is not understood; use atom, webhook:https://… or email:name@example.org"
        ) from None
    check_target(notify, s.settings)  # no webhooks into the private network
    # A form sends text; JSON must send what the API description says.
    form = not request.is_json
    raw_score = data.get("min_score")
    wrong_score = OnRecordError("min_score must be a number between 0 and 1, e.g. 0.55")
    if isinstance(raw_score, bool) or (isinstance(raw_score, str) and not form):
        raise wrong_score
    try:
        min_score = DEFAULT_MIN_SCORE if raw_score in (None, "") else float(raw_score)
    except (TypeError, ValueError):
        raise wrong_score from None
    if not 0 <= min_score <= 1:
        raise wrong_score
    backfill = data.get("backfill")
    if isinstance(backfill, str) and form:
        backfill = backfill in ("1", "on", "true")
    elif backfill is not None and not isinstance(backfill, bool):
        raise OnRecordError("backfill must be true or false")
    with s.writer() as catalog:
        if body and body not in {b.name for b in catalog.bodies()}:
            raise OnRecordError(f"No body named {body!r}; pick one from the meetings list")
        return alerts_book(catalog).add(
            query,
            notify,
            body,
            _text(data, "speaker"),
            min_score,
            bool(backfill),
        )


def remove_saved_search(saved_id: int) -> None:
    with services().writer() as catalog:
        if not alerts_book(catalog).remove(saved_id):
            abort(404)


def _saved_row(saved: SavedSearch) -> dict[str, Any]:
    return {**asdict(saved), "feed": feed_url(saved.feed_token)}


def _alerts_page(notice: str = "", added: SavedSearch | None = None, listed: bool = False) -> str:
    """The saved-searches page. Only a request that proved the token
    (``listed``) sees the searches and their feed addresses."""
    s = services()
    reader = s.reader()
    return render_template(
        "alerts.html",
        saved=alerts_book(reader.catalog).all() if listed else [],
        listed=listed,
        bodies=reader.catalog.bodies(),
        can_write=s.can_write,
        notice=notice,
        added=added,
        feed_url=feed_url,
        default_min_score=DEFAULT_MIN_SCORE,
    )


@admin.get("/alerts")
def alerts_page() -> str:
    return _alerts_page()


@admin.post("/alerts/list")
def list_alerts_form() -> str:
    services().require_admin()
    return _alerts_page(listed=True)


@admin.post("/alerts")
def add_alert_form() -> str:
    # Answered with the page rather than a redirect: the new feed's address
    # is a secret, and a redirect would put it in the browser's history.
    services().require_admin()
    saved = add_saved_search(request.form)
    return _alerts_page(f"Saved search {saved.id} added.", added=saved, listed=True)


@admin.post("/alerts/<int:saved_id>/delete")
def remove_alert_form(saved_id: int) -> str:
    services().require_admin()
    remove_saved_search(saved_id)
    return _alerts_page(f"Saved search {saved_id} removed.", listed=True)


@admin.get("/api/alerts")
def api_alerts() -> Response:
    # Webhook addresses often embed their own secret, so listing them is admin-only.
    s = services()
    s.require_admin()
    saved = alerts_book(s.reader().catalog).all()
    return jsonify({"saved_searches": [_saved_row(x) for x in saved]})


@admin.post("/api/alerts")
def api_add_alert() -> tuple[Response, int]:
    services().require_admin()
    saved = add_saved_search(_json_body())
    return jsonify({"saved_search": _saved_row(saved)}), 201


@admin.delete("/api/alerts/<int:saved_id>")
def api_remove_alert(saved_id: int) -> Response:
    services().require_admin()
    remove_saved_search(saved_id)
    return jsonify({"removed": saved_id})
