"""Per-client token buckets: searches embed the query and scan the index,
and admin tokens must not be guessable by trying, so one client must not be
able to starve the others or try without end.

Kept here rather than taken from Flask-Limiter: its in-memory storage
forgets a client only when its window expires, so a flood of new addresses
grows it without a bound, and its proxy handling trusts a count of hops
rather than named proxies. This is a bounded LRU of buckets, keyed as
``client_key`` says.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Buckets kept at most: about 100 bytes each. A flood of new addresses only
# pushes out the longest-idle clients, who then start again with a full bucket.
MAX_CLIENTS = 20_000


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None, max_clients: int = MAX_CLIENTS) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst or max(1, per_minute // 4))
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, client: str, now: float) -> float:
        tokens, stamp = self._buckets.get(client, (self.capacity, now))
        return min(self.capacity, tokens + (now - stamp) * self.rate)

    def wait(self, client: str) -> float:
        """Seconds until this client may go ahead (0: now), spending nothing."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            tokens = self._tokens(client, time.monotonic())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def allow(self, client: str) -> float:
        """Spend one token: 0 when the request may go ahead, else seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(client, now)
            spent = tokens >= 1
            self._buckets[client] = (tokens - 1 if spent else tokens, now)
            self._buckets.move_to_end(client)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return 0.0 if spent else (1 - tokens) / self.rate


def parse_networks(setting: str) -> list[Network]:
    """``trusted_proxies`` as networks; a bare address is a network of one."""
    networks = []
    for item in setting.replace(";", ",").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {item.strip()!r} is not an address or network; "
                    "use e.g. 127.0.0.1, 10.0.0.0/8 or ::1"
                ) from None
    return networks


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: list[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in proxies)


def client_key(remote_addr: str | None, forwarded_for: str | None, proxies: list[Network]) -> str:
    """Who a request counts as. X-Forwarded-For is read only when the peer is
    a trusted proxy, from the right: the first address that is not itself a
    trusted proxy is the client (anything left of it was written by the
    client). An IPv6 client counts as its /64, which one subscriber holds."""
    ip = _address(remote_addr or "")
    if ip is not None and forwarded_for and _trusted(ip, proxies):
        for hop in reversed(forwarded_for.split(",")[-20:]):
            candidate = _address(hop)
            if candidate is None:
                break  # garbage: stop at the last proxy we trust
            ip = candidate
            if not _trusted(candidate, proxies):
                break
    if ip is None:
        return (remote_addr or "?")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)
