"""Webhook targets are requests a stranger could aim from our network:
public addresses only (unless allowed), the checked address is the one
connected to, no redirects, timeouts, verified TLS, and secrets in the path
never reach an error message or a report."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

import search.notify as notify
from tests.conftest import run
from tests.outbox import alert_rows, queue_alerts
from tests.receivers import RawServer, Receiver, closed_port, self_signed


def _allow_private(home: Path) -> None:
    (home / "settings.toml").write_text("allow_private_webhooks = 1\n")


@pytest.mark.parametrize(
    "host, kind",
    [
        ("127.0.0.1", "loopback"),
        ("localhost", "loopback"),
        ("[::1]", "loopback"),
        ("2130706433", "loopback"),  # 127.0.0.1 written as one number
        ("[::ffff:127.0.0.1]", "loopback"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("[fc00::1]", "private"),  # unique-local
        ("[fe80::1]", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "not public"),  # carrier-grade NAT
    ],
)
def test_webhooks_to_non_public_addresses_are_refused(home: Path, host: str, kind: str) -> None:
    with Receiver() as hook:
        port = hook.port
        target = f"webhook:http://{host}:{port}/hook"
        added = run(home, "alerts", "add", "roll", "--notify", target)
        assert added.exit_code == 1 and f"a {kind} address" in added.output, added.output
        assert "allow_private_webhooks" in added.output

        # One saved before the check existed is refused when it is sent.
        queue_alerts(home, [target])
        started = time.monotonic()
        result = run(home, "alerts", "check")
        assert result.exit_code == 5 and f"a {kind} address" in result.output
        assert time.monotonic() - started < 5  # refused before any connection is tried
        assert hook.received == []


def test_a_private_address_is_allowed_when_the_setting_says_so(home: Path) -> None:
    _allow_private(home)
    with Receiver() as hook:
        assert run(home, "alerts", "add", "roll", "--notify", f"webhook:{hook.url()}").exit_code == 0
        queue_alerts(home, [f"webhook:{hook.url(host='localhost')}"])
        assert run(home, "alerts", "check").exit_code == 0
        assert len(hook.received) == 1
        assert hook.received[0]["headers"]["Host"] == f"localhost:{hook.port}"  # type: ignore[index]


def test_the_address_checked_is_the_address_connected_to(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name answers one address for the check and another
    right after. A DNS server that changes its answer cannot run here without
    port 53, so the resolver is replaced for that one name."""
    _allow_private(home)
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"] + ["127.0.0.2"] * 10)  # nothing listens on 127.0.0.2
    asked: list[str] = []

    def rebinding(host: str, port: object, *args: object, **kwargs: object) -> list:  # noqa: ANN401
        if host != "rebinding.test":
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        asked.append(host)
        return real(next(answers), port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with Receiver() as hook:
        queue_alerts(home, [f"webhook:http://rebinding.test:{hook.port}/hook"])
        result = run(home, "alerts", "check")
        assert result.exit_code == 0, result.output
        assert len(hook.received) == 1 and asked == ["rebinding.test"]
        assert hook.received[0]["headers"]["Host"] == f"rebinding.test:{hook.port}"  # type: ignore[index]


def test_redirects_are_not_followed(home: Path) -> None:
    _allow_private(home)
    with Receiver() as elsewhere, Receiver(status=302) as redirecting:
        redirecting.location = elsewhere.url("/latest/meta-data/")
        queue_alerts(home, [f"webhook:{redirecting.url()}"])
        result = run(home, "alerts", "check")
        assert result.exit_code == 5 and "answered 302, a redirect" in result.output
        assert len(redirecting.received) == 1 and elsewhere.received == []


def test_a_receiver_that_never_answers_times_out(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _allow_private(home)
    monkeypatch.setattr(notify, "TIMEOUT", 1)
    with RawServer(None) as silent, Receiver() as fine:
        queue_alerts(home, [f"webhook:{silent.url()}", f"webhook:{fine.url()}"])
        started = time.monotonic()
        result = run(home, "alerts", "check")
        assert time.monotonic() - started < 10
        assert result.exit_code == 5 and "timed out" in result.output.lower()
        assert silent.connections == 1 and len(fine.received) == 1


def test_tls_certificates_are_verified_for_the_host_name(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("openssl") is None:
        message = "openssl makes the test certificate: apt-get install openssl (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    _allow_private(home)
    cert, key = self_signed(tmp_path, "localhost")
    with Receiver(tls=(cert, key)) as hook:
        queue_alerts(home, [f"webhook:{hook.url(host='localhost')}"])
        refused = run(home, "alerts", "check")
        assert refused.exit_code == 5 and "CERTIFICATE_VERIFY_FAILED" in refused.output
        assert hook.received == []

        # Trusted, and named as the certificate says: delivered, though the
        # connection goes to the checked address rather than the name.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        assert run(home, "alerts", "check").exit_code == 0
        assert len(hook.received) == 1
        # Trusted, but reached by another name than the certificate's.
        queue_alerts(home, [f"webhook:{hook.url(host='127.0.0.1')}"])
        wrong_name = run(home, "alerts", "check")
        assert wrong_name.exit_code == 5 and "127.0.0.1" in wrong_name.output
        assert len(hook.received) == 1


def test_webhook_paths_and_queries_never_reach_errors_or_reports(home: Path, tmp_path: Path) -> None:
    _allow_private(home)
    secret = f"http://127.0.0.1:{closed_port()}/services/T0123/B0456/SECRETTOKEN?sig=abc123"
    queue_alerts(home, [f"webhook:{secret}"])
    checked = run(home, "alerts", "check")
    assert checked.exit_code == 5 and "could not be reached" in checked.output
    assert "http://127.0.0.1:" in checked.output
    config = tmp_path / "sources.toml"
    config.write_text(f'[[bodies]]\nname = "X"\nsources = ["http://127.0.0.1:{closed_port()}/feed.xml"]\n')
    config.write_text("[run]\nretries = 0\n" + config.read_text())
    nightly = run(home, "run", "--config", str(config), "--json")
    reports = "".join(p.read_text() for p in (home / "runs").glob("*.json"))
    for text in (checked.output, str(alert_rows(home)), nightly.output, reports):
        assert "SECRETTOKEN" not in text and "sig=" not in text and "T0123" not in text
    [report] = [json.loads(p.read_text()) for p in (home / "runs").glob("*.json")]
    [failure] = report["alert_failures"]
    assert failure["target"] == f"webhook:{secret.split('/services')[0]}/…"
