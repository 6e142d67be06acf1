"""`trial-monitor doctor`: one line per part of an installation (config, database, each source,
each channel, schedule, ping), each ok, warning or failed with what to do; for an operator
after deploying, and again when something seems wrong.

It changes nothing and sends nothing: the database is read, never created or migrated; each
source and channel checks itself (sources/<name>/check.py, delivery/<name>/check.py) as its
protocol asks: a request or a greeting, never a change and never a message; the ping URL a
connection, never a request. Each check catches its own expected failures, so one failing
never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import assert_never
from urllib.parse import urlsplit

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from monitor.core.checkup import Checked, State, blocker
from monitor.core.errors import ConfigError, first_line
from monitor.delivery.channel import ChannelKind
from monitor.operator.logs import FORMAT_ENV, LEVEL_ENV, redact, setup_logging
from monitor.settings.config import CONFIG_ENV, DATABASE_PASSWORD_ENV, DATABASE_URL_ENV, Config
from monitor.settings.configfile import load_config
from monitor.settings.schedule import make_trigger
from monitor.sources.base import Source
from monitor.sources.http import let_go, network_failure, tls_context
from monitor.store.db import REVISIONS, schema_revision
from monitor.store.dberrors import database_error

log = logging.getLogger(__name__)

# The variables that choose the config file or add to it, besides each wing's own; only their
# names are ever shown.
DATABASE_ENV = (DATABASE_URL_ENV, DATABASE_PASSWORD_ENV, DATABASE_PASSWORD_ENV + "_FILE")
LOG_ENV = (LEVEL_ENV, FORMAT_ENV)
RUNS_SHOWN = 5
DATABASE_CONNECT_SECONDS = 10


@dataclass(frozen=True)
class Check:
    name: str
    state: State
    message: str  # what was found; for a warning or a failure, what to do about it

    def __str__(self) -> str:
        return f"{self.state:<9}{self.name:<10}{self.message}"


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


async def diagnose(
    path: Path,
    environ: Mapping[str, str],
    now: datetime,
    sources: Sequence[Source],
    channels: Sequence[ChannelKind],
) -> Diagnosis:
    names = [
        "config",
        "database",
        *(s.check_name for s in sources),
        *(c.check_name for c in channels),
        "schedule",
        "ping",
    ]
    try:
        config = load_config(path, environ, [*sources, *channels])
    except ConfigError as exc:
        failed = Check("config", State.FAILED, f"{exc}: fix it, then run doctor again")
        skipped = [
            Check(name, State.SKIPPED, "not checked: the config did not load") for name in names[1:]
        ]
        return Diagnosis((failed, *skipped))
    # As main() does for the other commands: whatever is logged has the secrets blanked out.
    setup_logging(environ, secrets=config.secrets)
    # At once, so that one server that never answers does not add its timeout to the others'.
    findings = await asyncio.gather(
        _guarded(asyncio.to_thread(_database, config)),
        *(_guarded(source.check(config, environ)) for source in sources),
        *(_guarded(channel.check(config, environ)) for channel in channels),
        _guarded(asyncio.to_thread(_schedule, config, now)),
        _guarded(_ping(config)),
    )
    overrides = [
        *DATABASE_ENV,
        *(name for channel in channels for name in channel.environment),
        *LOG_ENV,
        *(name for source in sources for name in source.environment),
    ]
    first: Checked = (State.OK, _config_line(path, environ, overrides))
    # No check quotes a secret; blanking them out again costs nothing.
    return Diagnosis(
        tuple(
            Check(name, state, redact(message))
            for name, (state, message) in zip(names, (first, *findings), strict=True)
        )
    )


async def _guarded(check: Awaitable[Checked]) -> Checked:
    """A check that breaks (a bug) is its own failed line: the other checks still run."""
    try:
        return await check
    except Exception as exc:
        log.exception("doctor: a check broke")
        return State.FAILED, f"the check broke ({first_line(exc)}): a bug, please report it"


def _config_line(path: Path, environ: Mapping[str, str], overrides: Sequence[str]) -> str:
    named = " (named by TRIAL_MONITOR_CONFIG)" if Path(environ.get(CONFIG_ENV, "")) == path else ""
    given = [name for name in overrides if environ.get(name)]
    added = f"set in the environment: {', '.join(given)}" if given else "no variable adds to it"
    return f"{path.absolute()}{named} loaded; {added}"


# -- database ----------------------------------------------------------------------------------


def _database(config: Config) -> Checked:
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
        if in_way := blocker(file):
            fix = f"create {file.parent} for the monitor's user, or change database.url"
            return State.FAILED, f"{file} cannot be created: {in_way}; {fix}"
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


def _schema(name: str, url: str, connect: Callable[[], Engine], auto_migrate: bool) -> Checked:
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


# -- schedule and ping -------------------------------------------------------------------------


def _schedule(config: Config, now: datetime) -> Checked:
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


async def _ping(config: Config) -> Checked:
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
