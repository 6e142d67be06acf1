"""A real SMTP server (aiosmtpd) on loopback that keeps what it accepts, for delivery tests.

It can be told to answer the next messages with an error (`refuse_next("451 4.3.0 Try later")`),
to speak STARTTLS or TLS with a certificate from a test CA (trustme), and to require a login.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Accepted:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class Recorder:
    """The aiosmtpd handler: refuses while it has refusals queued, then keeps messages."""

    accepted: list[Accepted] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    # Every message to one of these recipients is answered with the reply given.
    refuse_mail_to: dict[str, str] = field(default_factory=dict)
    # RCPT TO for one of these is answered with the reply given (452 mailbox full, 550 no such
    # user); the message goes on to the other recipients.
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)
    # Hooks for the crash tests: called with the message in hand before it is accepted, and
    # once it is accepted (queued), before the server's "250" goes out.
    before_accept: Callable[[], None] | None = None
    after_accept: Callable[[], None] | None = None
    # The next `late` messages are queued, then answered only after `late_seconds`: a server
    # that takes a message and answers after the client has stopped waiting.
    late: int = 0
    late_seconds: float = 0.0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusals:
            return self.refusals.pop(0)
        for recipient in envelope.rcpt_tos:
            if recipient in self.refuse_mail_to:
                return self.refuse_mail_to[recipient]
        if self.before_accept is not None:
            self.before_accept()
            return "451 4.3.0 The sender went away"
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.accepted.append(Accepted(envelope.mail_from, list(envelope.rcpt_tos), message))
        if self.after_accept is not None:
            self.after_accept()  # the message is queued; the "250" has not gone out yet
        if self.late > 0:
            self.late -= 1
            await asyncio.sleep(self.late_seconds)
        return "250 2.0.0 OK: queued"


class SmtpServer:
    def __init__(
        self,
        *,
        security: str = "none",
        ca: trustme.CA | None = None,
        password: str | None = None,
    ) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        self.security = security
        self.password = password
        kwargs: dict[str, Any] = {}
        if security != "none":
            assert ca is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            if security == "tls":
                kwargs["ssl_context"] = context
            else:
                kwargs["tls_context"] = context
                kwargs["require_starttls"] = True
        if password is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
        self._kwargs = kwargs
        self.controller: Controller | None = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and auth_data.password.decode() == self.password:
            self.recorder.logins.append(auth_data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpServer:
        """Listen (again, after stop(): same port, same recorder)."""
        self.controller = Controller(
            self.recorder, hostname="127.0.0.1", port=self.port, **self._kwargs
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def refuse_next(self, *replies: str) -> None:
        self.recorder.refusals.extend(replies)

    @property
    def messages(self) -> list[EmailMessage]:
        return [a.message for a in self.recorder.accepted]
