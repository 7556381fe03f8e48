"""Delivering alerts: a JSON webhook that also reads well in Slack, email
over SMTP, and the Atom feed (which the web app serves from the outbox, so
it needs no sending)."""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage

from catalog.formats import clock
from catalog.settings import Settings
from search.alerts import Alert

TIMEOUT = 15


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


def payload(alert: Alert) -> dict[str, object]:
    hit = alert.hit
    return {
        # Slack's incoming webhooks show "text"; everyone else reads "alert".
        "text": f"*OnRecord alert* for “{alert.saved_search.query}”\n{summary(alert)}",
        "alert": {
            "id": alert.id,
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


def send_webhook(url: str, alert: Alert) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload(alert)).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": f"onrecord-alert-{alert.id}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            if response.status >= 300:
                raise DeliveryError(f"webhook answered {response.status}")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise DeliveryError(f"webhook {url} failed: {exc}") from None


def send_email(address: str, alert: Alert, settings: Settings) -> None:
    message = EmailMessage()
    message["Subject"] = f"OnRecord: “{alert.saved_search.query}” in {alert.hit.body}"
    message["From"] = settings.smtp_from
    message["To"] = address
    message["Message-ID"] = f"<onrecord-alert-{alert.id}@{settings.smtp_from.split('@')[-1]}>"
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
    kind, _, target = alert.saved_search.notify.partition(":")
    if kind == "webhook":
        send_webhook(target, alert)
    elif kind == "email":
        send_email(target, alert, settings)
    # "atom": the feed is read from the outbox; nothing to send.
