"""Delivery of a rendered digest: by SMTP (aiosmtplib), or as an .eml file into an outbox folder.

A transport either returns where the message went or raises DeliveryError, translated here from
aiosmtplib's and the file system's exceptions. `permanent` tells the caller whether the same
message could get through on a later try (it is kept for the next cycle either way).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol, assert_never

import aiosmtplib

from monitor.config import EmailConfig, Security
from monitor.errors import DeliveryError
from monitor.models import RenderedMessage

log = logging.getLogger(__name__)

OUTBOX_SENDER = "trial-monitor <trial-monitor@localhost>"


@dataclass(frozen=True)
class Refusal:
    """A recipient the mail server would not take (its answer to RCPT TO)."""

    recipient: str
    code: int
    message: str

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    def __str__(self) -> str:
        return f"{self.recipient}: {self.code} {self.message}"


@dataclass(frozen=True)
class Delivered:
    """Where a message went, and which recipients the server refused while it took it for the
    others (their copies are not delivered)."""

    where: str
    refused: tuple[Refusal, ...] = ()


class Transport(Protocol):
    name: str

    async def deliver(self, message: EmailMessage) -> Delivered:
        """Deliver the message; say where it went (server answer, or file path)."""
        ...


def digest_message_id(change_ids: Sequence[int], recipients: Sequence[str]) -> str:
    """The same changes to the same people always make the same Message-ID, so that a digest
    re-sent after a crash can be recognised as a duplicate by the receiving systems."""
    key = ",".join(str(i) for i in sorted(change_ids)) + "|" + ",".join(sorted(recipients))
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}.digest@trial-monitor>"


def build_message(
    rendered: RenderedMessage,
    sender: str,
    recipients: Sequence[str],
    message_id: str,
    now: datetime,
    list_id: str | None = None,
    change_ids: Sequence[int] = (),
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients) if recipients else "undisclosed-recipients:;"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    if list_id:
        message["List-Id"] = list_id
    if change_ids:
        # Which stored changes this digest carries: for support, and for the crash tests.
        message["X-Trial-Monitor-Changes"] = ",".join(str(i) for i in sorted(change_ids))
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


class OutboxTransport:
    """Writes each message as an .eml file: the default when no mail server is configured."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def deliver(self, message: EmailMessage) -> Delivered:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        digest = str(message["Message-ID"]).strip("<>").split(".", 1)[0][:12]
        path = self.folder / f"digest-{stamp}-{digest}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".eml.partial")
            partial.write_bytes(message.as_bytes())
            # A reader of the folder never sees half a message.
            os.replace(partial, path)
        except OSError as exc:
            raise DeliveryError(f"cannot write to outbox {self.folder}: {exc.strerror}") from None
        return Delivered(str(path))


class SmtpTransport:
    name = "smtp"

    def __init__(
        self,
        config: EmailConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._config = config
        self._sleep = sleep
        if config.security is Security.NONE and not _is_loopback(config.host):
            log.warning(
                "email.security = 'none': mail to %s travels unencrypted%s",
                config.host,
                ", and so does the login" if config.username else "",
            )

    async def deliver(self, message: EmailMessage) -> Delivered:
        config = self._config
        for attempt in range(1, config.max_attempts + 1):
            try:
                return await self._send_once(message)
            except DeliveryError as exc:
                if exc.permanent or attempt == config.max_attempts:
                    raise
                wait = config.backoff_seconds * 2 ** (attempt - 1)
                log.warning("%s; retrying in %.0f s", exc, wait)
                await self._sleep(wait)
        raise AssertionError("unreachable: max_attempts >= 1")

    async def _send_once(self, message: EmailMessage) -> Delivered:
        config = self._config
        where = f"{config.host}:{config.port}"
        use_tls, start_tls = _tls(config.security)
        try:
            errors, answer = await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=use_tls,
                start_tls=start_tls,
                cert_bundle=config.ca_file,
                timeout=config.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise DeliveryError(
                f"mail server {where} refused every recipient: {detail}",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"mail server {where} answered {exc.code} {exc.message}", permanent=exc.code >= 500
            ) from None
        except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise DeliveryError(f"mail server {where}: {_describe(exc)}") from None
        refused = tuple(
            Refusal(recipient, reply.code, reply.message) for recipient, reply in errors.items()
        )
        for refusal in refused:
            # The others took it; the caller keeps this recipient's copy for later (or reports
            # it, when the refusal is permanent), never sends the others a second one.
            log.warning("mail server %s refused %s", where, refusal)
        return Delivered(f"{where}: {answer}", refused)


def _tls(security: Security) -> tuple[bool, bool]:
    """aiosmtplib's (use_tls, start_tls). False, never None, for start_tls: None would let
    aiosmtplib upgrade or not as it sees fit."""
    match security:
        case Security.NONE:
            return False, False
        case Security.STARTTLS:
            return False, True
        case Security.TLS:
            return True, False
        case _:
            assert_never(security)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
