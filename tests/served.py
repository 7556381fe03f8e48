"""The real app served by waitress on loopback, for tests that need a real
HTTP client; stopped cleanly from inside its own loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

from web import make_server


@contextmanager
def serving(app: Flask, threads: int = 4) -> Iterator[str]:
    """Yield the base URL of ``app`` served as ``onrecord serve`` serves it."""
    server = make_server(app, port=0, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Closing the sockets from here would race the loop's select(); the
        # trigger runs the close in the loop's own thread, and the loop ends.
        server.trigger.pull_trigger(lambda: server.asyncore.close_all(server._map))
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
