"""Webhook receivers on loopback that misbehave the way real ones do: slow,
answering a redirect, a malformed status line, nothing at all, or over TLS.
Each counts what it got, raw and by Idempotency-Key."""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from tests.loopback import Served


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        receiver: Receiver = self.server.receiver  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        receiver.record(self.command, self.path, dict(self.headers), body)
        if receiver.delay:
            time.sleep(receiver.delay)
        if receiver.on_receipt is not None:
            receiver.on_receipt()
        self.send_response(receiver.status)
        if receiver.location:
            self.send_header("Location", receiver.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST  # noqa: N815  a client that follows a redirect may come back with a GET

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a deliverer killed mid-request hangs up; that is the point


class Receiver(Served):
    """A webhook endpoint: records each POST, waits ``delay``, then answers
    ``status`` (with ``location`` for a redirect). ``tls`` is a (cert, key)
    pair to serve HTTPS with."""

    def __init__(
        self,
        status: int = 204,
        delay: float = 0.0,
        location: str = "",
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.status, self.delay, self.location = status, delay, location
        self.on_receipt: object = None
        self.received: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.receiver = self  # type: ignore[attr-defined]
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.received.append({"method": method, "path": path, "headers": headers, "body": body})

    @property
    def keys(self) -> Counter[str]:
        """Deliveries by Idempotency-Key: a count above one is a repeat."""
        with self._lock:
            return Counter(str(r["headers"].get("Idempotency-Key")) for r in self.received)  # type: ignore[union-attr]


class RawServer:
    """A TCP listener on loopback that reads the request and then answers
    ``reply`` verbatim (b"" hangs up at once; None never answers)."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.connections = 0
        self._open: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            conn.settimeout(5)
            try:
                conn.recv(65536)
                if self.reply is not None:
                    conn.sendall(self.reply)
                    conn.close()
            except OSError:
                pass

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        for conn in self._open:
            conn.close()
        self.thread.join(timeout=5)


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_signed(folder: Path, host: str = "localhost") -> tuple[Path, Path]:
    """A certificate for ``host`` that is its own authority (openssl)."""
    cert, key = folder / f"{host}.pem", folder / f"{host}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}",
            "-addext", f"subjectAltName=DNS:{host}", "-addext", "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class Mailbox:
    """An aiosmtpd server on loopback that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[bytes] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        outer = self

        class Handler:
            async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
                outer.messages.append(envelope.content)  # type: ignore[attr-defined]
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> Mailbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
