"""Load on loopback: p50 and p95 of /api/search at 1, 10 and 50 concurrent
clients, against `onrecord serve` (waitress) over the Seattle meeting.

The server runs in its own process; the clients are threads here, each
sending its requests back to back. Every level is bounded in requests and
time, and the server is stopped at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

from benchmarks.common import ROOT, percentile, shared, write_results

HOME = ROOT / ".cache" / "load-home"
LEVELS = [1, 10, 50]
REQUESTS_PER_LEVEL = 300
TIME_LIMIT = 120.0
QUERIES = [
    "call the roll",
    "executive session",
    "adopt the agenda",
    "vacancy in position eight",
    "email the council",
    "legal monitor",
    "special meeting tomorrow",
    "qualification of candidates",
]


def _ingest_demo() -> None:
    if (HOME / "onrecord.db").exists():
        return
    video = shared("meetings/seattle-council-special-2017-10-05.mp4")
    shutil.rmtree(HOME, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "onrecord",
            "--data-dir",
            str(HOME),
            "ingest",
            str(video),
            "--body",
            "Seattle City Council",
        ],
        check=True,
    )


def _serve(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ONRECORD_HOME": str(HOME), "ONRECORD_SEARCH_RATE_LIMIT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "onrecord", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=warm+up", timeout=30).read()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not start")


def _level(port: int, clients: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_client = max(1, REQUESTS_PER_LEVEL // clients)
    stop_at = time.monotonic() + TIME_LIMIT

    def client(n: int) -> None:
        nonlocal errors
        for i in range(per_client):
            if time.monotonic() > stop_at:
                return
            q = urllib.parse.quote(QUERIES[(n + i) % len(QUERIES)])
            t = time.perf_counter()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q={q}", timeout=60).read()
                with lock:
                    latencies.append(time.perf_counter() - t)
            except OSError:
                with lock:
                    errors += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "p50 ms": round(percentile(latencies, 50) * 1000, 1),
        "p95 ms": round(percentile(latencies, 95) * 1000, 1),
        "requests/s": round(len(latencies) / wall, 1),
    }


def main() -> None:
    _ingest_demo()
    port = 18000 + os.getpid() % 1000
    server = _serve(port)
    try:
        rows = [_level(port, clients) for clients in LEVELS]
    finally:
        server.terminate()
        server.wait(timeout=30)
    write_results(
        "load",
        "Load: /api/search on loopback (waitress, Seattle meeting)",
        rows,
        [
            f"{REQUESTS_PER_LEVEL} requests per level (at most {TIME_LIMIT:.0f} s),"
            f" {len(QUERIES)} queries in turn",
            "each request embeds its query with MiniLM and runs both retrievers; the server has 8 threads",
            "searches share one SQLite connection under a lock, so at 2 cores latency grows with queueing",
            f"{os.cpu_count()} cores; the clients run on the same machine",
        ],
    )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
