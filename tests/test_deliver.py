"""Delivery to a real SMTP server (aiosmtpd) on loopback: security modes, login, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from smtp import SmtpServer

from monitor.config import EmailConfig, Security
from monitor.deliver import Sender, SmtpTransport, build_message
from monitor.errors import DeliveryError
from monitor.models import RenderedMessage

SENDER = Sender("LDN monitor <monitor@example.org>", "0123456789abcdef")
NOW = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
RENDERED = RenderedMessage("[LDN monitor] 1 trial changed — x", "plain words\n", "<p>html</p>\n")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def servers() -> Iterator[list[SmtpServer]]:
    started: list[SmtpServer] = []
    yield started
    for server in started:
        server.stop()


def serve(servers: list[SmtpServer], **kwargs: object) -> SmtpServer:
    server = SmtpServer(**kwargs).start()  # type: ignore[arg-type]
    servers.append(server)
    return server


def send(server: SmtpServer, **settings: object) -> str:
    config = EmailConfig(
        host="127.0.0.1",
        port=server.port,
        sender="LDN monitor <monitor@example.org>",
        recipients=("editor@example.org",),
        max_attempts=1,
        timeout_seconds=5,
        **settings,  # type: ignore[arg-type]
    )
    message = build_message(
        RENDERED,
        config.sender,
        config.recipients,
        SENDER.digest_id([1, 2], config.recipients),
        NOW,
    )
    return asyncio.run(SmtpTransport(config).deliver(message)).where


def test_starttls_with_login_against_a_trusted_certificate(
    servers: list[SmtpServer], ca: trustme.CA, ca_file: str
) -> None:
    server = serve(servers, security="starttls", ca=ca, password="pw-123")
    answer = send(
        server, security="starttls", ca_file=ca_file, username="monitor", password="pw-123"
    )
    assert "OK: queued" in answer
    assert server.recorder.logins == ["monitor"]
    [message] = server.messages
    assert message["Subject"] == RENDERED.subject
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == SENDER.digest_id([2, 1], ("editor@example.org",))


def test_implicit_tls_against_a_trusted_certificate(
    servers: list[SmtpServer], ca: trustme.CA, ca_file: str
) -> None:
    server = serve(servers, security="tls", ca=ca)
    send(server, security="tls", ca_file=ca_file)
    assert len(server.messages) == 1


def test_an_untrusted_certificate_is_refused(servers: list[SmtpServer], ca: trustme.CA) -> None:
    server = serve(servers, security="starttls", ca=ca)
    with pytest.raises(DeliveryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        send(server, security="starttls")
    assert server.messages == []


def test_starttls_required_but_not_offered_is_an_error_not_a_downgrade(
    servers: list[SmtpServer],
) -> None:
    server = serve(servers)
    with pytest.raises(DeliveryError, match="STARTTLS"):
        send(server, security="starttls")
    assert server.messages == []


def test_a_wrong_password_is_a_permanent_error_that_does_not_show_the_password(
    servers: list[SmtpServer], ca: trustme.CA, ca_file: str
) -> None:
    server = serve(servers, security="starttls", ca=ca, password="right")
    with pytest.raises(DeliveryError) as caught:
        send(server, security="starttls", ca_file=ca_file, username="monitor", password="wrong-pw")
    assert caught.value.permanent
    assert "535" in str(caught.value)
    assert "wrong-pw" not in str(caught.value)


def test_the_message_id_is_the_same_for_the_same_changes_and_people() -> None:
    digest_id = SENDER.digest_id
    assert digest_id([1, 2, 3], ["a@x.org"]) == digest_id([3, 2, 1], ["a@x.org"])
    assert digest_id([1, 2, 3], ["a@x.org"]) != digest_id([1, 2], ["a@x.org"])
    assert digest_id([1], ["a@x.org"]) != digest_id([1], ["b@x.org"])


def test_the_message_id_is_this_monitors_own_under_the_senders_domain() -> None:
    other = Sender(SENDER.address, "another-installation")
    assert SENDER.digest_id([1], ["a@x.org"]) != other.digest_id([1], ["a@x.org"])
    assert SENDER.digest_id([1], ["a@x.org"]).endswith("@example.org>")
    assert Sender("trial-monitor <trial-monitor@localhost>", "x").domain == "localhost"


def test_plain_smtp_beyond_this_machine_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    def transport(host: str, username: str | None = None) -> None:
        config = EmailConfig(
            host,
            "a@example.org",
            ("b@example.org",),
            security=Security.NONE,
            port=25,
            username=username,
        )
        SmtpTransport(config)

    with caplog.at_level("WARNING", logger="monitor.deliver"):
        transport("127.0.0.1")
        transport("localhost")
        assert caplog.records == []
        transport("smtp.example.org", username="monitor")
    [record] = caplog.records
    assert record.getMessage() == (
        "email.security = 'none': mail to smtp.example.org travels unencrypted, and so does the login"
    )
