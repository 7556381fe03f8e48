"""The Flask app factory, and the server it runs in."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, RequestURITooLarge
from werkzeug.routing import IntegerConverter

from catalog import OnRecordError, Settings, load_settings
from web.services import MAX_BODY, Services

__all__ = ["Services", "create_app", "make_server"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# A query string this long is no search anyone typed (queries stop at 500
# characters); refusing it first keeps every later step's work bounded.
MAX_QUERY_STRING = 8 * 1024
# Everything waitress reads before the app sees a request.
MAX_HEADERS = 32 * 1024


class Id(IntegerConverter):
    """Ids in paths: at most 18 ASCII digits, so every one fits SQLite's
    64-bit integers; a longer one matches no route (a 404, not a 500)."""

    regex = r"[0-9]{1,18}"


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.endswith((".json", ".atom"))


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["ONRECORD"] = settings
    # Flask refuses a larger body from its Content-Length, before reading it.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.url_map.converters["int"] = Id
    services = Services(settings)
    app.extensions["onrecord"] = services
    if services.token_problem:
        logging.getLogger("onrecord").warning("%s", services.token_problem)

    from web.admin import admin
    from web.api import api
    from web.pages import pages
    from web.votes import votes

    app.register_blueprint(pages)
    app.register_blueprint(votes)
    app.register_blueprint(api)
    app.register_blueprint(admin)

    @app.before_request
    def bounded_request() -> None:
        if len(request.query_string) > MAX_QUERY_STRING:
            raise RequestURITooLarge(
                f"The address is longer than {MAX_QUERY_STRING // 1024} KB; searches stop at 500 characters"
            )
        if (request.content_length or 0) > MAX_BODY:
            raise RequestEntityTooLarge(f"Requests carry at most {MAX_BODY // 1024} KB")

    @app.teardown_request
    def release(_exc: BaseException | None) -> None:
        services.release()

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.errorhandler(OnRecordError)
    def user_error(exc: OnRecordError) -> tuple[Any, int]:
        code = getattr(exc, "http_status", 400)  # 503 while the database restarts
        if _wants_json():
            return jsonify({"error": str(exc)}), code
        return render_template("error.html", message=str(exc), code=code), code

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.response is not None:
            return exc.response
        code = exc.code or 500
        message = "Not found" if code == 404 else (exc.description or exc.name)
        if _wants_json():
            response = jsonify({"error": message})
        else:
            response = Response(
                render_template("error.html", message=message, code=code), mimetype="text/html"
            )
        response.status_code = code
        # Allow on a 405, WWW-Authenticate on a 401: HTTP says they must be there.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> tuple[Any, int]:
        app.logger.exception("unhandled error")
        message = "Something went wrong on our side; the error was logged."
        if _wants_json():
            return jsonify({"error": message}), 500
        return render_template("error.html", message=message, code=500), 500

    return app


def make_server(app: Flask, host: str = "127.0.0.1", port: int = 8000, threads: int = 8) -> Any:
    """A waitress server with the app's limits: a request with a larger body
    or longer headers is refused as it arrives, before it is read."""
    from waitress import create_server

    return create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="onrecord",
        max_request_body_size=MAX_BODY,
        max_request_header_size=MAX_HEADERS,
    )
