"""doctor's delivery line: the mail server greeted, its TLS verified and the login tried, never a
message sent; or, without an [email] section, the outbox folder shown to take a file."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path
from typing import assert_never

import aiosmtplib

from monitor.core.checkup import Checked, State, blocker
from monitor.core.errors import first_line
from monitor.delivery.email.settings import PASSWORD_ENV, EmailConfig, Security
from monitor.delivery.email.transport import NO_STARTTLS, smtp_remedy
from monitor.sources.http import let_go, network_failure


async def check_mail_server(email: EmailConfig) -> Checked:
    """Connect, EHLO, TLS, login, QUIT: everything delivery does but send."""
    where = f"{email.host}:{email.port}"
    match email.security:
        case Security.NONE:
            how = "plain SMTP (not encrypted)"
        case Security.STARTTLS:
            how = "STARTTLS, certificate verified"
        case Security.TLS:
            how = "TLS, certificate verified"
        case _:
            assert_never(email.security)
    # The TLS settings transport.py gives aiosmtplib: what passes here passes there.
    protocol = None
    smtp = aiosmtplib.SMTP(
        hostname=email.host,
        port=email.port,
        use_tls=email.security is Security.TLS,
        start_tls=False,
        cert_bundle=email.ca_file,
        timeout=email.timeout_seconds,
    )
    try:
        await smtp.connect()
        protocol = smtp.protocol  # the same one after STARTTLS; close() lets go of it
        await smtp.ehlo()
        offers_starttls = smtp.supports_extension("starttls")
        if email.security is Security.STARTTLS:
            if not offers_starttls:
                return State.FAILED, f"{where}: {NO_STARTTLS}"
            await smtp.starttls()
            await smtp.ehlo()
        if email.username:
            await smtp.login(email.username, email.password or "")
        await smtp.quit()
    except aiosmtplib.SMTPAuthenticationError as exc:
        todo = f"check email.username and {PASSWORD_ENV} (or {PASSWORD_ENV}_FILE)"
        return (
            State.FAILED,
            f"{where} refused the login of {email.username} ({exc.code} {exc.message}): {todo}",
        )
    except aiosmtplib.SMTPResponseException as exc:
        return (
            State.FAILED,
            f"{where} answered {exc.code} {exc.message}: check email.host, port and security",
        )
    except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as exc:
        return State.FAILED, _smtp_failure(where, exc)
    finally:
        smtp.close()
        await let_go(protocol.transport if protocol is not None else None)
    login = f"logged in as {email.username}" if email.username else "no login configured"
    if email.security is Security.NONE and offers_starttls:
        return (
            State.WARNING,
            f'{where} {how}, {login}; it offers STARTTLS: set email.security = "starttls"',
        )
    return State.OK, f"{where} {how}, {login}; no message sent"


def _smtp_failure(where: str, exc: BaseException) -> str:
    failure = network_failure(exc)
    what = str(failure) if failure.kind != "network error" else first_line(exc)
    return f"{where}: {what}: {smtp_remedy(exc)}"


def check_outbox(folder: Path) -> Checked:
    """With no [email] section digests are .eml files in the outbox: it must take a file."""
    folder = folder.absolute()
    if not folder.is_dir():
        in_way = f"{folder} is a file, in the way" if folder.exists() else blocker(folder)
        if in_way:
            fix = "make it a folder the monitor's user can write, or change outbox.path"
            return State.FAILED, f"outbox {folder} cannot be created: {in_way}; {fix}"
        first = "the first digest creates it (or create it now, and run doctor again)"
        return State.WARNING, f"outbox {folder} does not exist yet: {first}"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass  # made and removed: the folder takes a file
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        return (
            State.FAILED,
            f"outbox {folder} is not writable ({reason}): let the monitor's user write it",
        )
    return State.OK, f"outbox {folder} is writable (no [email] section)"
