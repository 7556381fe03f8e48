"""A static file server on 127.0.0.1 for tests and benchmarks: yt-dlp
downloads from it as it would from a city's media server."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Self


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    # Bytes per second for each response; 0 is as fast as loopback goes.
    rate = 0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:
        if not self.rate:
            return super().copyfile(source, outputfile)
        # A slow city server: a download lasts long enough to be interrupted.
        block = max(self.rate // 20, 1024)
        while chunk := source.read(block):
            outputfile.write(chunk)
            time.sleep(len(chunk) / self.rate)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients (yt-dlp probing) hang up mid-file; that is not news


class Served:
    """An ``httpd`` serving from its own thread while the ``with`` lasts."""

    httpd: http.server.HTTPServer
    thread: threading.Thread

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class LoopbackServer(Served):
    """Serves ``root`` on a random loopback port while the ``with`` lasts,
    each response at ``rate`` bytes a second if given."""

    def __init__(self, root: Path, rate: int = 0) -> None:
        handler_class = type("_Handler", (_QuietHandler,), {"rate": rate})
        handler = functools.partial(handler_class, directory=str(root))
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.root = root
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"


@dataclass
class Channel:
    """A council's feed: items are (title, file name) in the served folder."""

    server: LoopbackServer
    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, title: str, source: Path) -> None:
        shutil.copy(source, self.server.root / source.name)
        self.items.append((title, source.name))
        self.write()

    def add_missing(self, title: str, name: str) -> None:
        self.items.append((title, name))
        self.write()

    def write(self) -> None:
        entries = "".join(
            f"<item><title>{title}</title><guid>{name}</guid>"
            f'<enclosure url="{self.server.url(name)}" type="audio/mpeg" length="1"/></item>'
            for title, name in self.items
        )
        (self.server.root / "feed.xml").write_text(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Springfield Council</title>'
            f"<link>{self.server.url('')}</link><description>Meetings</description>{entries}"
            "</channel></rss>"
        )
