"""The Flask app factory."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, Response

from catalog import Catalog, Settings, load_settings

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
        self._index: Any = None

    @property
    def index(self) -> Any:
        if self._index is None:
            from search import SearchIndex

            self._index = SearchIndex(self.catalog, self.settings.embed_model, self.settings.base_url)
        return self._index


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["ONRECORD"] = settings
    app.extensions["onrecord"] = Services(settings)

    from web.views import bp

    app.register_blueprint(bp)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app
