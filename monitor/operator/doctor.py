"""`trial-monitor doctor`: one line per part of an installation (config, database, registry,
PubMed, delivery, schedule, ping), each ok, warning or failed with what to do; for an operator
after deploying, and again when something seems wrong.

It changes nothing and sends nothing: the database is read, never created or migrated; the
registry gets one GET /version; PubMed one search; the mail server a greeting and a login,
never a message; the ping URL a connection, never a request. Each check catches its own
expected failures, so one failing never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import assert_never
from urllib.parse import urlsplit

import aiosmtplib
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from monitor.core.errors import ConfigError, PubmedError, RegistryError, first_line
from monitor.delivery.email.transport import let_go
from monitor.operator.logs import FORMAT_ENV, LEVEL_ENV, redact, setup_logging
from monitor.run.schedule import make_trigger
from monitor.settings.config import (
    CONFIG_ENV,
    DATABASE_PASSWORD_ENV,
    DATABASE_URL_ENV,
    NCBI_API_KEY_ENV,
    PASSWORD_ENV,
    Config,
    EmailConfig,
    RegistryTransport,
    Security,
)
from monitor.settings.configfile import load_config
from monitor.sources.ctgov.client import RegistryClient, RegistryRefused, make_http_client
from monitor.sources.http import network_failure, tls_context
from monitor.store.db import REVISIONS, schema_revision
from monitor.store.dberrors import database_error

log = logging.getLogger(__name__)

NAMES = ("config", "database", "registry", "pubmed", "delivery", "schedule", "ping")
# The variables that choose the config file or add to it; only their names are ever shown.
OVERRIDES = (
    *(DATABASE_URL_ENV, DATABASE_PASSWORD_ENV, DATABASE_PASSWORD_ENV + "_FILE"),
    *(PASSWORD_ENV, PASSWORD_ENV + "_FILE", LEVEL_ENV, FORMAT_ENV),
    *(NCBI_API_KEY_ENV, NCBI_API_KEY_ENV + "_FILE"),
)
PROXY_ENV = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
RUNS_SHOWN = 5
DATABASE_CONNECT_SECONDS = 10
# What to do about a registry that could not be reached, by the kind of failure its message
# names (monitor.sources.http.network_failure words them).
REGISTRY_TIPS = {
    "DNS lookup failed": "check registry.base_url and this machine's DNS",
    "connection refused": "check registry.base_url: nothing listens there",
    "TLS certificate not trusted": "a proxy that intercepts TLS needs its CA in the system store",
    "the proxy failed": "check the proxy the environment names",
    "timed out": "check the firewall between this machine and the registry",
    "no whole answer": "check the firewall between this machine and the registry",
    "HTTP 5": "the registry is having trouble: run doctor again later",
}

# The same for the mail server.
SMTP_TIPS = {
    "TLS certificate not trusted": "give the CA that signs its certificate in email.ca_file",
    "connection refused": "check email.host and email.port: nothing listens there",
    "timed out": "check email.host, port and security (a TLS port is silent to plain SMTP)",
    "network error": "check email.host, email.port and email.security",
}


class State(StrEnum):
    """How one check went."""

    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"  # could not run: the config did not load


@dataclass(frozen=True)
class Check:
    name: str
    state: State
    message: str  # what was found; for a warning or a failure, what to do about it

    def __str__(self) -> str:
        return f"{self.state:<9}{self.name:<10}{self.message}"


# What one check found; diagnose() names it.
Finding = tuple[State, str]


@dataclass(frozen=True)
class Diagnosis:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not any(_fails(check.state) for check in self.checks)

    @property
    def text(self) -> str:
        counts = Counter(check.state for check in self.checks)
        tally = ", ".join(f"{counts[state]} {state}" for state in State if counts[state])
        verdict = "nothing failed" if self.ok else "fix the failed lines, then run doctor again"
        return "\n".join([*map(str, self.checks), f"{len(self.checks)} checks: {tally}; {verdict}"])


def _fails(state: State) -> bool:
    match state:
        case State.OK | State.WARNING:
            return False
        case State.FAILED:
            return True
        case State.SKIPPED:
            return False  # only ever beside the config's failed line
        case _:
            assert_never(state)


async def diagnose(path: Path, environ: Mapping[str, str], now: datetime) -> Diagnosis:
    try:
        config = load_config(path, environ)
    except ConfigError as exc:
        failed = Check("config", State.FAILED, f"{exc}: fix it, then run doctor again")
        skipped = [
            Check(name, State.SKIPPED, "not checked: the config did not load") for name in NAMES[1:]
        ]
        return Diagnosis((failed, *skipped))
    # As main() does for the other commands: whatever is logged has the secrets blanked out.
    setup_logging(environ, secrets=config.secrets)
    email = config.email
    # At once, so that one server that never answers does not add its timeout to the others'.
    findings = await asyncio.gather(
        _guarded(asyncio.to_thread(_database, config)),
        _guarded(_registry(config, environ)),
        _guarded(_pubmed(config)),
        _guarded(_mail_server(email) if email else asyncio.to_thread(_outbox, config.outbox_dir)),
        _guarded(asyncio.to_thread(_schedule, config, now)),
        _guarded(_ping(config)),
    )
    first: Finding = (State.OK, _config_line(path, environ))
    # No check quotes a secret; blanking them out again costs nothing.
    return Diagnosis(
        tuple(
            Check(name, state, redact(message))
            for name, (state, message) in zip(NAMES, (first, *findings), strict=True)
        )
    )


async def _guarded(check: Awaitable[Finding]) -> Finding:
    """A check that breaks (a bug) is its own failed line: the other checks still run."""
    try:
        return await check
    except Exception as exc:
        log.exception("doctor: a check broke")
        return State.FAILED, f"the check broke ({first_line(exc)}): a bug, please report it"


def _config_line(path: Path, environ: Mapping[str, str]) -> str:
    named = " (named by TRIAL_MONITOR_CONFIG)" if Path(environ.get(CONFIG_ENV, "")) == path else ""
    given = [name for name in OVERRIDES if environ.get(name)]
    added = f"set in the environment: {', '.join(given)}" if given else "no variable adds to it"
    return f"{path.absolute()}{named} loaded; {added}"


def _blocker(path: Path) -> Path | None:
    """What stops `path` being made, folders above it and all: its nearest existing ancestor
    when that is not a folder the monitor's user can write (a file in the way, a read-only
    folder), else None. Only looked at, never made: the first cycle makes what it needs."""
    parent = path.parent
    while not parent.exists() and parent.parent != parent:
        parent = parent.parent
    return None if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK) else parent


# -- database ----------------------------------------------------------------------------------


def _database(config: Config) -> Finding:
    """Reachable, and at this version's schema revision. Read-only: the first `check` makes a
    missing SQLite file and migrates; doctor must not do either behind the operator's back."""
    url, auto_migrate = config.database.url, config.database.auto_migrate
    where = make_url(url)
    if where.get_backend_name() != "sqlite":
        name = f"PostgreSQL {where.database} on {where.host or 'the local socket'}"
        # Bounded: an address that drops packets would otherwise hold doctor for minutes.
        settings = {"connect_timeout": DATABASE_CONNECT_SECONDS}
        return _schema(name, url, lambda: create_engine(url, connect_args=settings), auto_migrate)
    if not where.database or where.database.startswith(":"):
        return State.WARNING, "in memory: nothing is kept between commands; set database.url"
    file = Path(where.database).absolute()
    if not file.exists():
        if blocker := _blocker(file):
            fix = f"create {file.parent} for the monitor's user, or change database.url"
            return State.FAILED, f"{file} cannot be created: {blocker} is in the way; {fix}"
        first = "the first `trial-monitor check` creates it (or `trial-monitor migrate`, now)"
        return State.WARNING, f"{file} does not exist yet: {first}"
    if not os.access(file, os.R_OK | os.W_OK) or not os.access(file.parent, os.W_OK | os.X_OK):
        # SQLite keeps its journal beside the file: a read-only folder fails a writable file.
        return State.FAILED, f"{file} or its folder is read-only: let the monitor's user write both"
    return _schema(f"SQLite {file}", url, lambda: _read_only_sqlite(file), auto_migrate)


def _read_only_sqlite(file: Path) -> Engine:
    # mode=ro never writes the file. The monitor keeps it in WAL mode, where even a reader
    # leaves -wal and -shm files behind; with no -wal file nothing is pending in one, so the
    # file is read as immutable, which makes neither (a cycle starting meanwhile writes its
    # -wal, not the file).
    pending = file.with_name(file.name + "-wal").exists()
    uri = file.as_uri() + ("?mode=ro" if pending else "?mode=ro&immutable=1")
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=5))


def _schema(name: str, url: str, connect: Callable[[], Engine], auto_migrate: bool) -> Finding:
    engine: Engine | None = None
    try:
        engine = connect()
        current, head = schema_revision(engine)
    except ImportError as exc:
        return State.FAILED, f"{name}: its driver is missing ({exc}): pip install '.[postgres]'"
    except SQLAlchemyError as exc:
        error = str(database_error(exc, url))
        if error.startswith("database error"):  # one database_error knows no remedy for
            error += f": check database.url (or {DATABASE_URL_ENV}) and that the server runs"
        return State.FAILED, f"{name}: {error}"
    finally:
        if engine is not None:
            engine.dispose()
    at = f"{name} is at schema revision {current or 'none'}"
    if current == head:
        return State.OK, f"{at}, this version's"
    if current is not None and current not in REVISIONS:  # stamped by a newer monitor
        fix = "run the newer trial-monitor, or restore a backup"
        return State.FAILED, f"{at}, newer than this version's {head}: {fix}"
    # check and run migrate themselves: behind is only a failure when they are told not to.
    state = State.WARNING if auto_migrate else State.FAILED
    run = "run `trial-monitor migrate` (check and run do it themselves unless"
    return state, f"{at}, this version's is {head}: {run} database.auto_migrate = false)"


# -- registry ----------------------------------------------------------------------------------


async def _registry(config: Config, environ: Mapping[str, str]) -> Finding:
    # One try, and no minutes-long wait after a 403: doctor answers now.
    settings = replace(config.registry, max_attempts=1, refused_retries=0)
    url = settings.base_url + "/version"
    started = time.monotonic()
    try:
        async with make_http_client(settings) as http:
            stamp = await RegistryClient(settings, http).data_timestamp()
    except RegistryRefused:
        return State.FAILED, _refusal(url, settings.transport)
    except RegistryError as exc:
        tip = next((t for kind, t in REGISTRY_TIPS.items() if kind in str(exc)), None)
        what = tip or "check registry.base_url and the network"
        return State.FAILED, f"{exc}{_proxy(settings.transport, environ)}: {what}"
    took = time.monotonic() - started
    data = f"data as of {stamp}" if stamp else "it gave no data timestamp"
    return State.OK, f"{url} answered in {took:.2f} s ({data})"


# -- PubMed ------------------------------------------------------------------------------------


async def _pubmed(config: Config) -> Finding:
    """One ESearch, as a cycle's first would ask it, when the literature side is on."""
    settings = config.pubmed
    if settings is None:
        return State.OK, "off: no PMID and no literature search is watched (see watch.pmids)"
    from monitor.sources.pubmed.client import PubmedClient, make_http_client

    # What a cycle asks first: a cited trial's papers, else a literature search, else a paper.
    terms = [
        *(f"{t}[si]" for t in config.cited_trials),
        *(s.term for s in config.watch.literature),
        *(f"{p}[uid]" for p in config.cited_pmids),
    ]
    term = terms[0]
    settings = replace(settings, max_attempts=1)
    url = f"{settings.base_url}/esearch.fcgi"
    started = time.monotonic()
    try:
        async with make_http_client(settings) as http:
            found = await PubmedClient(settings, http).search(term)
    except PubmedError as exc:
        return State.FAILED, f"{exc}: check pubmed.base_url and the network"
    took = time.monotonic() - started
    said = f"{url} answered in {took:.2f} s ({found.count} papers for {term})"
    if settings.email is None:
        return State.WARNING, f"{said}; set pubmed.email: NCBI asks every client for a contact"
    return State.OK, said


def _refusal(url: str, transport: RegistryTransport) -> str:
    refused = f"{url} answered 403: the registry's edge refuses this client, not the request"
    match transport:
        case RegistryTransport.HTTPX:
            todo = 'set registry.transport = "stdlib" and run doctor again'
        case RegistryTransport.STDLIB:
            todo = "it refuses urllib too: check this machine's address and proxy"
        case _:
            assert_never(transport)
    return f"{refused}; {todo} (see README, Troubleshooting)"


def _proxy(transport: RegistryTransport, environ: Mapping[str, str]) -> str:
    """The proxy variables, which requests go through (both transports read them). A dead
    proxy shows as the registry's own failure ("connection refused" at its URL), hence the
    names."""
    names = [name for name in PROXY_ENV if environ.get(name)]
    if not names:
        return ""
    return f" (through the proxy in {', '.join(names)}: check it too)"


# -- delivery ----------------------------------------------------------------------------------


async def _mail_server(email: EmailConfig) -> Finding:
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
    # The TLS settings deliver.py gives aiosmtplib.send: what passes here passes there.
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
                fix = 'set email.security to what it speaks ("tls", or "none")'
                return State.FAILED, f"{where} does not offer STARTTLS: {fix}"
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
    return f"{where}: {what}: {SMTP_TIPS.get(failure.kind, SMTP_TIPS['network error'])}"


def _outbox(folder: Path) -> Finding:
    """With no [email] section digests are .eml files in the outbox: it must take a file."""
    folder = folder.absolute()
    if not folder.is_dir():
        if folder.exists() or (blocker := _blocker(folder)):
            fix = "make it a folder the monitor's user can write, or change outbox.path"
            return (
                State.FAILED,
                f"outbox {folder} cannot be created: {blocker or folder} is in the way; {fix}",
            )
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


# -- schedule and ping -------------------------------------------------------------------------


def _schedule(config: Config, now: datetime) -> Finding:
    schedule = config.schedule
    # Without the jitter: it is random, so the times it would shift are not the schedule.
    trigger = make_trigger(schedule, jitter=False)  # load_config has checked it
    runs: list[datetime] = []
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    while fire is not None and len(runs) < RUNS_SHOWN:
        runs.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    if not runs:
        return State.FAILED, f"schedule.cron = {schedule.cron!r} never runs: fix it"
    shape = "%a %Y-%m-%d %H:%M" + (":%S" if any(run.second for run in runs) else "")
    times = ", ".join(run.strftime(shape) for run in runs)
    jitter = schedule.jitter_seconds
    line = f"`run` starts cycles in {schedule.timezone} at {times}"
    line += f", each plus up to {jitter} s of jitter" if jitter else ""
    if len(runs) < RUNS_SHOWN:
        return State.WARNING, f"{line}, then never again: check schedule.cron"
    return State.OK, line


async def _ping(config: Config) -> Finding:
    url = config.alerts.ping_url
    if url is None:
        return State.OK, "not configured (optional: a dead man's switch, see alerts.ping_url)"
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    try:
        host, port = parts.hostname or "", parts.port or (443 if secure else 80)
    except ValueError:
        return State.FAILED, "alerts.ping_url has no valid port: fix it"
    # Scheme, host and port only: a ping URL's path is its key, and whoever holds it can ping.
    shown = f"{parts.scheme}://{host}:{port}"
    # DNS, TCP and the TLS handshake, but no HTTP request: to healthchecks.io and its peers
    # any request to the ping URL *is* the signal "a cycle succeeded", so one sent from here
    # would report a success that never happened.
    try:
        async with asyncio.timeout(config.alerts.ping_timeout_seconds):
            _, writer = await asyncio.open_connection(
                host, port, ssl=tls_context() if secure else None
            )
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        failure = network_failure(exc)
        return State.FAILED, f"{shown} is not reachable: {failure}: check alerts.ping_url"
    # Reached: dropped at once, since a TLS goodbye waits on the server and proves nothing.
    await let_go(writer.transport)
    verified = ", certificate verified" if secure else ""
    return (
        State.OK,
        f"{shown} reachable{verified} (connected only: a request would count as a ping)",
    )
