"""The Flask app factory."""

from __future__ import annotations

import hmac
import threading
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from catalog import Catalog, OnRecordError, Settings, load_settings
from web.ratelimit import RateLimiter

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class Services:
    """What the views share: one catalog connection and one search index,
    whose embedding model loads once per process. A lock keeps the shared
    SQLite connection to one thread at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.db_path)
        self.lock = threading.RLock()
        self.limiter = RateLimiter(settings.search_rate_limit)
        self._index: Any = None

    @property
    def index(self) -> Any:
        if self._index is None:
            from search import SearchIndex

            self._index = SearchIndex(self.catalog, self.settings.embed_model, self.settings.base_url)
        return self._index

    def meeting_with_segments(self, meeting_id: int) -> tuple[Any, list[Any]]:
        """A meeting and its transcript, or a 404."""
        with self.lock:
            meeting = self.catalog.meeting(meeting_id)
            if meeting is None:
                abort(404)
            return meeting, self.catalog.segments(meeting_id)

    def throttle(self) -> None:
        """Refuse a search when this client has used up its rate."""
        wait = self.limiter.allow(request.remote_addr or "?")
        if wait:
            response = jsonify({"error": f"Too many searches; try again in {wait:.0f} s"})
            response.status_code = 429
            response.headers["Retry-After"] = str(max(1, round(wait)))
            abort(response)

    def require_admin(self) -> None:
        """Writes need the admin token; without one configured, the app is read-only."""
        token = self.settings.admin_token
        if not token:
            abort(
                403,
                "This OnRecord is read-only; set admin_token in settings.toml"
                " (or ONRECORD_ADMIN_TOKEN) to allow changes",
            )
        # Only the Bearer scheme counts: a bare token in the header is refused
        # rather than guessed at. Forms carry it in their own body instead.
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else ""
        given = given or request.form.get("token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            abort(403, "A valid admin token is needed for this; check the token and try again")


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.endswith((".json", ".atom"))


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["ONRECORD"] = settings
    app.extensions["onrecord"] = Services(settings)

    from web.admin import admin
    from web.api import api
    from web.pages import pages
    from web.votes import votes

    app.register_blueprint(pages)
    app.register_blueprint(votes)
    app.register_blueprint(api)
    app.register_blueprint(admin)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.errorhandler(OnRecordError)
    def user_error(exc: OnRecordError) -> tuple[Any, int]:
        if _wants_json():
            return jsonify({"error": str(exc)}), 400
        return render_template("error.html", message=str(exc), code=400), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.response is not None:
            return exc.response
        code = exc.code or 500
        message = "Not found" if code == 404 else (exc.description or exc.name)
        if _wants_json():
            return jsonify({"error": message}), code
        return render_template("error.html", message=message, code=code), code

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> tuple[Any, int]:
        app.logger.exception("unhandled error")
        message = "Something went wrong on our side; the error was logged."
        if _wants_json():
            return jsonify({"error": message}), 500
        return render_template("error.html", message=message, code=500), 500

    return app
