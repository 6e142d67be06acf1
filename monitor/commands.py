"""What each command does, with the house the composition root (cli.py) hands it: the database
opened, each source's reader and each channel built from the config, the cycle, the reports."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import assert_never

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor import __version__
from monitor.core.counted import counted
from monitor.core.errors import ConfigError
from monitor.core.models import Outcome
from monitor.delivery.deliveries import Deliveries
from monitor.delivery.sending import Outgoing, compose_digest, deliver_pending
from monitor.house import House
from monitor.operator.logs import redact
from monitor.operator.reports import health, status_json, status_text
from monitor.run.alerts import Alerts
from monitor.run.cycle import CycleDeps, CycleResult, run_cycle
from monitor.run.lock import cycle_lock
from monitor.run.ping import ping
from monitor.run.service import Service
from monitor.run.summary import describe, digests, log_cycle
from monitor.settings.config import Config, config_path
from monitor.settings.schedule import make_trigger
from monitor.store.db import ensure_schema, make_engine, migrate, open_existing, schema_revision
from monitor.store.dberrors import database_error
from monitor.store.journal import Journal

# The exit codes, a public interface (docs/operating.md, "Exit codes"): 3 is `verify`'s "could
# not check" (run/verify.Verdict), 4 `check`'s "done, but a source could not be read".
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREAD = 0, 1, 2, 4

log = logging.getLogger("monitor")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class App:
    """What every command is given: the configuration, the house it was read with, and the
    clock it goes by (the wall clock's UTC; scripts/samples sets one, for samples that hold)."""

    config: Config
    house: House
    clock: Callable[[], datetime] = _now


Command = Callable[[App, argparse.Namespace], int]


def check_command(app: App, args: argparse.Namespace) -> int:
    if getattr(args, "literature_now", False):
        app = replace(app, config=replace(app.config, eager=True))
    with open_database(app.config) as engine:
        result = asyncio.run(_one_cycle(app, engine))
    if result is None:
        print("check: skipped, another cycle is running against this database")
        return EXIT_OK
    print(describe(result))
    match result.outcome:
        case Outcome.OK:
            return EXIT_OK
        case Outcome.SOURCE_UNREAD:
            return EXIT_UNREAD
        case Outcome.REGISTRY_FAILED | Outcome.DELIVERY_FAILED | Outcome.INTERRUPTED:
            return EXIT_FAILED
        case unknown:
            assert_never(unknown)


def run_command(app: App, _args: argparse.Namespace) -> int:
    schedule = app.config.schedule
    with open_database(app.config) as engine:
        Journal(engine).record_service_start(app.clock(), socket.gethostname(), os.getpid())
        service = Service(
            lambda: _one_cycle(app, engine),
            make_trigger(schedule),
            schedule.shutdown_grace_seconds,
        )

        async def serve() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            # SIGHUP (a closed terminal, a supervisor's reload) stops it as SIGTERM does: the
            # config is read at start, so a restart is how a new one takes effect.
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.add_signal_handler(signum, stop.set)
            await service.serve(stop)

        log.info(
            "trial-monitor %s running: cron %r in %s",
            __version__,
            schedule.cron,
            schedule.timezone,
        )
        asyncio.run(serve())
    log.info("trial-monitor stopped")
    return EXIT_OK


def migrate_command(app: App, _args: argparse.Namespace) -> int:
    with open_database(app.config, schema=False) as engine:
        before, head = schema_revision(engine)
        migrate(engine)
    print(f"migrate: database schema at revision {head} (was {before or 'empty'})")
    return EXIT_OK


def status_command(app: App, args: argparse.Namespace) -> int:
    config, sources = app.config, app.house.sources
    with open_database(config, existing=True) as engine:
        shown = status_json if args.json else status_text
        print(shown(engine, config, sources))
    return EXIT_OK


def preview_command(app: App, args: argparse.Namespace) -> int:
    with open_database(app.config, existing=True) as engine:
        out = outgoing(app, engine)
        pending = out.deliveries.pending(include_held=True)
        for hold in out.deliveries.holds():
            print(
                f"preview: includes {counted(hold.changes, 'change')} held in cycle"
                f" {hold.cycle_id}:"
                f" {hold.reason}"
            )
        if not pending:
            if out.journal.last_cycle_id() is None:
                print("preview: no cycle has run yet, so nothing is waiting to be sent")
                return EXIT_OK
            print(
                "preview: no unsent changes; the next cycle would send nothing unless it finds some"
            )
            return EXIT_OK
        letter = compose_digest(out, pending, out.journal.last_data_timestamp())
        # As the first channel (e-mail) words it.
        rendered = out.channels[0].render(letter)
    print(f"Subject: {rendered.subject}\n\n{rendered.text}", end="")
    if args.html:
        try:
            Path(args.html).write_text(rendered.html, encoding="utf-8")
        except OSError as exc:
            fail(f"preview: cannot write the HTML to {args.html}: {exc.strerror or exc}")
            return EXIT_USAGE
        print(f"\npreview: HTML version written to {args.html}")
    return EXIT_OK


def send_test_command(app: App, _args: argparse.Namespace) -> int:
    now = app.clock()
    results = [
        result
        for kind in app.house.channels
        if kind.on(app.config)
        and (result := asyncio.run(kind.send_test(app.config, now))) is not None
    ]
    if not results:
        raise ConfigError(
            "send-test needs an [email] section (without one, digests go to the outbox)"
        )
    for result in results:
        print("\n".join(result.lines))
        for line in result.refused:
            fail(line)
    return EXIT_FAILED if any(r.refused for r in results) else EXIT_OK


def history_command(app: App, args: argparse.Namespace) -> int:
    subject = args.nct_id.strip().upper()
    keepers = [s for s in app.house.sources if s.history_example]
    source = next((s for s in keepers if s.knows(subject)), None)
    if source is None:
        kinds = " or ".join(s.history_example or "" for s in keepers)
        fail(f"history: {args.nct_id!r} is not {kinds}")
        return EXIT_USAGE
    with open_database(app.config, existing=True) as engine:
        text = source.history(engine, subject, Deliveries(engine).sent())
        ran = Journal(engine).last_cycle_id() is not None
    if text is None and not ran:
        print(f"history: no cycle has run yet, so nothing is stored for {subject}")
        return EXIT_OK
    if text is None:
        fail(f"history: nothing stored for {subject}; is it watched?")
        return EXIT_FAILED
    print(text)
    return EXIT_OK


def health_command(app: App, _args: argparse.Namespace) -> int:
    with open_database(app.config, existing=True) as engine:
        verdict = health(engine, app.config, app.house.on(app.config), app.clock())
    print(f"health: {verdict.message}")
    return EXIT_OK if verdict.ok else EXIT_FAILED


def doctor_command(args: argparse.Namespace, house: House) -> int:
    from monitor.operator.doctor import diagnose  # only this command needs it

    path = config_path(args.config, os.environ)
    diagnosis = asyncio.run(diagnose(path, os.environ, _now(), house.sources, house.channels))
    print(diagnosis.text)
    return EXIT_OK if diagnosis.ok else EXIT_FAILED


def cite_command(args: argparse.Namespace) -> int:
    # An editor's tool: its patterns take longer to compile than a no-op cycle should start.
    from monitor.editorial.cite import config_block, read_article

    source = "standard input" if args.file == "-" else args.file
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        fail(f"cite: cannot read {source}: {exc.strerror or exc}")
        return EXIT_USAGE
    except UnicodeDecodeError as exc:
        fail(f"cite: {source} is not UTF-8 text (byte {exc.start}): save it as UTF-8")
        return EXIT_USAGE
    draft = read_article(text)
    print(config_block(draft), end="")
    if not draft.trials and not draft.pmids:
        fail(f"cite: found no NCT id and no PubMed id in {source}")
        return EXIT_FAILED
    return EXIT_OK


def release_command(app: App, args: argparse.Namespace) -> int:
    with open_database(app.config) as engine:
        out = outgoing(app, engine)
        released = out.deliveries.release_holds(app.clock(), discard=args.discard)
        if not released:
            print("release: nothing is held")
            return EXIT_OK
        count = sum(h.changes for h in released)
        if args.discard:
            print(f"release: {counted(count, 'held change')} discarded; they will never be sent")
            return EXIT_OK
        stamp = out.journal.last_data_timestamp()
        sent = asyncio.run(deliver_pending(out, None, stamp))
    print(f"release: {counted(count, 'held change')} released; {digests(sent.delivered)} sent")
    for failure in sent.failures:
        fail(f"{failure}; the changes are kept for the next cycle")
    return EXIT_FAILED if sent.failures else EXIT_OK


# -- the pieces the commands share ---------------------------------------------------------


@contextmanager
def open_database(
    config: Config, *, schema: bool = True, existing: bool = False
) -> Iterator[Engine]:
    """The engine, with the schema made or brought up to date (or checked, when
    database.auto_migrate is off); its connections are closed when the command is done.
    `existing`: a read-only command's, which never makes a database (store/db.open_existing)."""
    url = config.database.url
    try:
        engine = open_existing(url) if existing else make_engine(url)
    except SQLAlchemyError as exc:
        raise database_error(exc, url) from exc
    try:
        if schema:
            ensure_schema(engine, auto_migrate=config.database.auto_migrate)
        yield engine
    except SQLAlchemyError as exc:
        # Every command that opens the database passes here: one line saying what to do.
        raise database_error(exc, config.database.url) from exc
    finally:
        engine.dispose()


async def _one_cycle(app: App, engine: Engine) -> CycleResult | None:
    """One locked cycle and the messages it calls for; None when another one runs."""
    with cycle_lock(engine) as held:
        if not held:
            log.warning("another cycle is running against this database; this one is skipped")
            return None
        started = time.monotonic()
        out = outgoing(app, engine)
        async with app.house.readers(app.config) as readers:
            result = await run_cycle(CycleDeps(**vars(out), readers=readers))
        await Alerts(out, result).send_all()
    log_cycle(result, time.monotonic() - started)
    alerts = app.config.alerts
    if alerts.ping_url:
        await ping(alerts.ping_url, result.ok, describe(result), alerts.ping_timeout_seconds)
    return result


def outgoing(app: App, engine: Engine) -> Outgoing:
    journal = Journal(engine)
    house, config = app.house, app.config
    return Outgoing(
        config=config,
        engine=engine,
        sources=house.on(config),
        channels=house.open_channels(config, journal.installation_id(app.clock())),
        deliveries=Deliveries(engine, house.keys_of),
        journal=journal,
        clock=app.clock,
    )


def fail(message: str) -> None:
    print(redact(f"trial-monitor: {message}"), file=sys.stderr)
