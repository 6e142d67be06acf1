"""How an e-mail travels: by SMTP (aiosmtplib), or as an .eml file into an outbox folder.

A transport either returns where the message went or raises DeliveryError, translated here from
aiosmtplib's and the file system's exceptions. `permanent` tells the caller whether the same
message could get through on a later try (it is kept for the next cycle either way).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol, assert_never

from monitor.core.errors import DeliveryError
from monitor.delivery.channel import Refusal
from monitor.delivery.email.settings import PASSWORD_ENV, EmailConfig, Security
from monitor.sources.http import let_go, network_failure

log = logging.getLogger(__name__)

OUTBOX_SENDER = "trial-monitor <trial-monitor@localhost>"


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


class OutboxTransport:
    """Writes each message as an .eml file: the default when no mail server is configured."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def deliver(self, message: EmailMessage) -> Delivered:
        # "<digest.3f2a…@example.org>" → digest-20261125-153000-3f2a….eml: the kind of message
        # first, and a name no other message shares (the same message keeps its name).
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        kind, _, rest = str(message["Message-ID"]).strip().strip("<>").partition(".")
        unique = re.sub(r"[^A-Za-z0-9]", "", rest.split("@")[0])[:16] or "message"
        path = self.folder / f"{re.sub(r'[^a-z-]', '', kind) or 'message'}-{stamp}-{unique}.eml"
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
                # A message the server may have taken is tried again next cycle, not now: at
                # most one more copy, under the same Message-ID.
                if exc.permanent or exc.unknown or attempt == config.max_attempts:
                    raise
                wait = config.backoff_seconds * 2 ** (attempt - 1)
                log.warning("%s; retrying in %.0f s", exc, wait)
                await self._sleep(wait)
        raise AssertionError("unreachable: max_attempts >= 1")

    async def _send_once(self, message: EmailMessage) -> Delivered:
        import aiosmtplib  # only a cycle that sends mail needs it: start-up stays quick

        config = self._config
        where = f"{config.host}:{config.port}"
        use_tls, start_tls = _tls(config.security)
        # aiosmtplib.send(), written out so that the connection is ours to close: the login
        # comes after connecting, inside `async with`, which says QUIT even after a failure.
        client = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=use_tls,
            start_tls=start_tls,
            cert_bundle=config.ca_file,
            timeout=config.timeout_seconds,
        )
        connection: asyncio.BaseTransport | None = None
        data = _Watched(client)
        try:
            async with client:
                connection = client.transport  # after STARTTLS, the TLS one
                if config.username is not None:
                    await client.login(config.username, config.password or "")
                errors, answer = await client.send_message(message)
        except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as exc:
            error = _delivery_error(exc, where)
            if data.started and not isinstance(exc, aiosmtplib.SMTPResponseException):
                # The connection failed (a timeout, a reset) during DATA: the whole message
                # may be in the server's queue; only its answer is missing.
                error = DeliveryError(
                    f"{error}, after the message was sent: the server may have taken it;"
                    " sent again next cycle, under the same Message-ID",
                    unknown=True,
                )
            raise error from None
        finally:
            await let_go(connection)
        refused = tuple(
            Refusal(recipient, f"{reply.code} {reply.message}", permanent=reply.code >= 500)
            for recipient, reply in errors.items()
        )
        for refusal in refused:
            # The others took it; the caller keeps this recipient's copy for later (or reports
            # it, when the refusal is permanent), never sends the others a second one.
            log.warning("mail server %s refused %s", where, refusal)
        return Delivered(f"{where}: {answer}", refused)


class _Watched:
    """Marks when a client's DATA begins (aiosmtplib's send_message calls `self.data`): a
    failure after that may come after the server queued the message."""

    def __init__(self, client: Any) -> None:
        self.started = False
        original = client.data

        async def data(*args: Any, **kwargs: Any) -> Any:
            self.started = True
            return await original(*args, **kwargs)

        client.data = data


def _delivery_error(exc: BaseException, where: str) -> DeliveryError:
    """aiosmtplib's and the network's exceptions, as one line that says whether trying again
    could help (a 4xx answer, a refused connection) or not (a 5xx answer)."""
    import aiosmtplib

    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(
            f"mail server {where} refused every recipient: {detail}",
            permanent=all(code >= 500 for code in codes),
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"mail server {where} refused the login: {exc.code} {exc.message}: {LOGIN_TIP}",
            permanent=True,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(
            f"mail server {where} answered {exc.code} {exc.message}", permanent=exc.code >= 500
        )
    return DeliveryError(f"mail server {where}: {_describe(exc)}: {smtp_remedy(exc)}")


# What to do about each way a mail server cannot be reached or spoken to: the error line names
# the setting to change, not only the exception (doctor's delivery line says the same).
SMTP_TIPS = {
    "TLS certificate not trusted": "give the CA that signs its certificate in email.ca_file",
    "connection refused": "check email.host and email.port: nothing listens there",
    "timed out": "check email.host, port and security (a TLS port is silent to plain SMTP)",
    "network error": "check email.host, email.port and email.security",
}
NO_STARTTLS = 'it does not offer STARTTLS: set email.security to what it speaks ("tls", or "none")'
NO_AUTH = "it offers no login (AUTH) here: leave out email.username, or speak TLS to it"
LOGIN_TIP = f"check email.username and the password ({PASSWORD_ENV})"


def smtp_remedy(exc: BaseException) -> str:
    """What the operator can change so that this failure does not happen again."""
    text = str(exc)
    if "STARTTLS extension not supported" in text:
        return NO_STARTTLS
    if "AUTH extension not supported" in text:
        return NO_AUTH
    failure = network_failure(exc)
    return SMTP_TIPS.get(failure.kind, SMTP_TIPS["network error"])


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
