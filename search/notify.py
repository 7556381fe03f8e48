"""Delivering alerts: a JSON webhook that also reads well in Slack, email
over SMTP, and the Atom feed (which the web app serves from the outbox, so
it needs no sending).

A saved search's webhook is an address someone typed, fetched by a server
with access to the newsroom's network, so it is checked like any request a
stranger could aim: every address its host resolves to must be public
(unless ``allow_private_webhooks`` says otherwise), the request goes to the
address that was checked (a second lookup could answer differently: DNS
rebinding), redirects are not followed, TLS certificates are verified, and
every step has a timeout. Webhook paths and queries are secrets (Slack's
carry the token), so errors show only the scheme and host.

urllib3 does this, not bare urllib: it connects to a given address while
sending the real Host header, SNI and certificate check for the name
(``server_hostname``, ``assert_hostname``), has separate connect and read
timeouts, and never follows a redirect unless asked. It is already installed
with requests; requests itself cannot pin the address without replacing its
transport adapter.
"""

from __future__ import annotations

import ipaddress
import json
import smtplib
import socket
from email.message import EmailMessage
from urllib.parse import urlsplit

from catalog.errors import OnRecordError
from catalog.formats import clock
from catalog.settings import Settings
from catalog.text import one_line
from search.alerts import Alert, check_notify

TIMEOUT = 15
CONNECT_TIMEOUT = 10


class DeliveryError(Exception):
    pass


def summary(alert: Alert) -> str:
    """One paragraph a person can read in Slack, email or a feed reader."""
    hit = alert.hit
    who = f"{hit.speaker}, " if hit.speaker else ""
    return (
        f"“{hit.text}”\n— {who}{hit.body}, {hit.meeting_title} ({hit.meeting_date or 'undated'}) "
        f"at {clock(hit.start)[:8]}\n{hit.url}"
    )


def idempotency_key(alert: Alert) -> str:
    return f"onrecord-alert-{alert.uid}"


def payload(alert: Alert) -> dict[str, object]:
    hit = alert.hit
    return {
        # Slack's incoming webhooks show "text"; everyone else reads "alert".
        "text": f"*OnRecord alert* for “{alert.saved_search.query}”\n{summary(alert)}",
        "alert": {
            "id": alert.id,
            "key": idempotency_key(alert),
            "saved_search": {"id": alert.saved_search.id, "query": alert.saved_search.query},
            "quote": hit.text,
            "speaker": hit.speaker,
            "body": hit.body,
            "meeting_id": hit.meeting_id,
            "meeting_title": hit.meeting_title,
            "meeting_date": hit.meeting_date,
            "start": hit.start,
            "end": hit.end,
            "url": hit.url,
            "score": hit.score,
        },
    }


def redact(url: str) -> str:
    """A webhook address safe to show: scheme and host, never path or query."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "(an unreadable address)"
    return f"{parts.scheme}://{host}/…" if host else "(an unreadable address)"


def _scrub(message: str, url: str) -> str:
    """``message`` without the secret parts of ``url``, whichever library wrote it."""
    parts = urlsplit(url)
    for secret in sorted({url, parts.path + ("?" + parts.query if parts.query else ""), parts.path}, key=len)[
        ::-1
    ]:
        if len(secret) > 1:
            message = message.replace(secret, "/…")
    return message


def _refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not public, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for what, flag in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return what
    return None if ip.is_global else "not public"


def _resolve(host: str, port: int) -> list[str]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DeliveryError(f"cannot resolve {host}: {exc}; check the address and the network") from None
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def _refuse_private(host: str, addresses: list[str]) -> None:
    for address in addresses:
        why = _refusal(ipaddress.ip_address(address.split("%")[0]))
        if why:
            raise DeliveryError(
                f"{host} resolves to {address}, a {why} address; webhooks go to public addresses"
                " only (set allow_private_webhooks = 1 to allow your own network)"
            )


def checked_addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """Every address ``host`` resolves to, once; refused unless all are public."""
    addresses = _resolve(host, port)
    if not allow_private:
        _refuse_private(host, addresses)
    return addresses


def check_target(notify: str, settings: Settings) -> None:
    """Refuse, when a search is saved, a webhook that delivery would refuse.
    A host that does not resolve now is let through (the laptop may be
    offline); delivery checks again every time."""
    kind, _, url = check_notify(notify).partition(":")
    if kind != "webhook" or settings.allow_private_webhooks:
        return
    parts = urlsplit(url)
    try:
        addresses = _resolve(parts.hostname or "", parts.port or 0)
    except DeliveryError:
        return
    try:
        _refuse_private(parts.hostname or "", addresses)
    except DeliveryError as exc:
        raise OnRecordError(f"--notify webhook {redact(url)}: {exc}") from None


def send_webhook(url: str, alert: Alert, settings: Settings) -> None:
    import urllib3

    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    shown = redact(url)
    if parts.scheme not in ("http", "https") or not host:
        raise DeliveryError(f"webhook {shown} is not an http(s) address")
    addresses = checked_addresses(host, port, bool(settings.allow_private_webhooks))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Host": parts.netloc.rpartition("@")[2],
        "Content-Type": "application/json",
        "Idempotency-Key": idempotency_key(alert),
        "User-Agent": "OnRecord alerts",
    }
    body = json.dumps(payload(alert)).encode()
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=TIMEOUT)
    unreachable = ""
    for address in addresses:
        if https:
            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                address,
                port,
                timeout=timeout,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                server_hostname=host,
                assert_hostname=host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        try:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                assert_same_host=False,
            )
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            # Nothing was sent: the next address of the host may answer.
            unreachable = _scrub(f"{type(exc).__name__}: {exc}", url)
            continue
        except Exception as exc:  # TLS, a hang-up, a malformed answer: whatever the server did
            raise DeliveryError(
                f"webhook {shown} failed: {_scrub(f'{type(exc).__name__}: {exc}', url)}"
            ) from None
        finally:
            pool.close()
        if 300 <= response.status < 400:
            raise DeliveryError(
                f"webhook {shown} answered {response.status}, a redirect; redirects are not followed,"
                " so give the address it points to"
            )
        if response.status >= 400 or response.status < 200:
            raise DeliveryError(f"webhook {shown} answered {response.status}")
        return
    raise DeliveryError(f"webhook {shown} could not be reached: {unreachable}")


def send_email(address: str, alert: Alert, settings: Settings) -> None:
    message = EmailMessage()
    # Stored text never reaches a header with a line break in it.
    message["Subject"] = one_line(f"OnRecord: “{alert.saved_search.query}” in {alert.hit.body}")
    message["From"] = settings.smtp_from
    message["To"] = address
    message["Message-ID"] = f"<onrecord-alert-{alert.uid}@{settings.smtp_from.split('@')[-1]}>"
    message.set_content(summary(alert) + "\n\nYou saved this search in OnRecord.")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"email to {address} failed: {exc}") from None


def deliver(alert: Alert, settings: Settings) -> None:
    """Send one alert, or raise DeliveryError saying why (never anything else
    for a failure of the target: what the receiver did is its own business)."""
    kind, _, target = alert.saved_search.notify.partition(":")
    try:
        if kind == "webhook":
            send_webhook(target, alert, settings)
        elif kind == "email":
            send_email(target, alert, settings)
        elif kind != "atom":  # "atom": the feed is read from the outbox; nothing to send.
            raise DeliveryError(f"unknown kind of target {kind!r}")
    except DeliveryError:
        raise
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise DeliveryError(_scrub(reason, target) if kind == "webhook" else reason) from None
