"""`[email]` and `[outbox]`: the mail server digests and notices go through, or, without an
`[email]` section, the folder they are written to as .eml files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from monitor.core.errors import ConfigError
from monitor.settings.sections import check_address, default_of, read_settings, secret, setting
from monitor.settings.tomltable import Table

PASSWORD_ENV = "TRIAL_MONITOR_SMTP_PASSWORD"  # noqa: S105 (a variable name, not a secret)


class Security(StrEnum):
    """How the mail server is spoken to: `email.security`."""

    NONE = "none"
    STARTTLS = "starttls"  # required: never silently skipped
    TLS = "tls"  # implicit TLS


DEFAULT_PORTS = {Security.NONE: 25, Security.STARTTLS: 587, Security.TLS: 465}


@dataclass(frozen=True)
class EmailConfig:
    host: str
    sender: str
    recipients: tuple[str, ...]
    security: Security = setting(Security.STARTTLS)
    # The security mode's standard port unless given.
    port: int = setting(DEFAULT_PORTS[Security.STARTTLS], minimum=1, maximum=65535)
    ops_recipients: tuple[str, ...] = ()
    username: str | None = setting(None)
    password: str | None = field(default=None, repr=False)  # only from the environment
    ca_file: str | None = setting(None)
    timeout_seconds: float = setting(30.0, minimum=0.1)
    max_attempts: int = setting(3, minimum=1, maximum=20)
    backoff_seconds: float = setting(5.0, minimum=0)


@dataclass(frozen=True)
class EmailSettings:
    """The email channel's settings: the mail server, or None for the outbox folder."""

    outbox_dir: Path  # [outbox] path; its default follows the database (see default_outbox)
    email: EmailConfig | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.email.password,) if self.email and self.email.password else ()


def read_email_settings(
    root: Table, environ: Mapping[str, str], database_url: str
) -> EmailSettings:
    outbox = root.table("outbox")
    outbox_dir = Path(outbox.string("path", default_outbox(database_url)))
    outbox.done()
    return EmailSettings(outbox_dir, _email(root.optional_table("email"), environ))


def default_outbox(database_url: str) -> str:
    """Beside the SQLite file when there is one: the operator already keeps that folder.
    Otherwise data/outbox, the same folder the default SQLite file lives in (/data in the image)."""
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:///:"):
        return str(Path(database_url.removeprefix("sqlite:///")).parent / "outbox")
    return "data/outbox"


def _email(table: Table | None, environ: Mapping[str, str]) -> EmailConfig | None:
    if table is None:
        return None
    if "password" in table:
        raise ConfigError(
            "email.password is set in the config file: a password there is read by anyone who"
            f" can read the file; give it in {PASSWORD_ENV} or {PASSWORD_ENV}_FILE instead"
            " (its value not shown)"
        )
    host = table.string("host")
    if not host.strip() or any(c.isspace() for c in host):
        raise ConfigError(f"email.host = {host!r} is not a host name")
    security = table.choice("security", Security, default_of(EmailConfig, "security"))
    recipients = tuple(
        check_address(f"email.recipients[{i}]", value)
        for i, value in enumerate(table.array("recipients"))
    )
    if not recipients:
        raise ConfigError("email.recipients is empty: name at least one address")
    ops_recipients = tuple(
        check_address(f"email.ops_recipients[{i}]", value)
        for i, value in enumerate(table.array("ops_recipients", []))
    )
    config = read_settings(
        table,
        EmailConfig,
        given={
            "host": host,
            "security": security,
            "sender": check_address("email.sender", table.string("sender")),
            "recipients": recipients,
            "ops_recipients": ops_recipients,
        },
        defaults={"port": DEFAULT_PORTS[security]},
    )
    if config.ca_file is not None and not Path(config.ca_file).is_file():
        raise ConfigError(f"email.ca_file = {config.ca_file!r} is not a readable file")
    return replace(config, password=_password(environ, config.username))


def _password(environ: Mapping[str, str], username: str | None) -> str | None:
    file_env = PASSWORD_ENV + "_FILE"
    password = secret(environ, PASSWORD_ENV)
    if username and not password:
        raise ConfigError(f"email.username is set but neither {PASSWORD_ENV} nor {file_env} is")
    if password and not username:
        raise ConfigError(f"{PASSWORD_ENV} is set but email.username is not")
    return password or None
