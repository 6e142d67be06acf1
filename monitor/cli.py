"""The `trial-monitor` command: the composition root.

Config, engine, HTTP client, transport and templates are built here and handed to the cycle;
nothing happens at import time. Exit codes are a public interface: 0 the command did its job
(for `check`: the cycle completed, changed or not), 1 the registry, the mail server or the
database failed (changes are kept), 2 a usage or configuration error; `verify` says 1 when an
article disagrees with the registry and 3 when it could not check (verify.Verdict).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor import __version__
from monitor.core.errors import ConfigError, MonitorError, first_line
from monitor.core.routing import Route, Router
from monitor.delivery.deliveries import OUTBOX, Deliveries
from monitor.delivery.email.transport import (
    OUTBOX_SENDER,
    OutboxTransport,
    Sender,
    SmtpTransport,
    build_message,
)
from monitor.delivery.sending import Mailing, Outgoing, compose_digest, deliver_pending
from monitor.editorial.render import make_environment, render_message
from monitor.editorial.verify import Verdict, Verification, verification_text, verify
from monitor.operator.logs import redact, setup_logging
from monitor.operator.reports import health, history_text, status_json, status_text
from monitor.run.alerts import Alerts
from monitor.run.cycle import CycleDeps, CycleResult, run_cycle
from monitor.run.lock import cycle_lock
from monitor.run.ping import ping
from monitor.run.schedule import Service, make_trigger
from monitor.settings.config import NCT_ID, Config, config_path
from monitor.settings.configfile import load_config
from monitor.sources.ctgov.client import RegistryClient, make_http_client
from monitor.sources.ctgov.tables import Store
from monitor.sources.pubmed.tables import Library
from monitor.store.db import ensure_schema, make_engine, migrate, schema_revision
from monitor.store.dberrors import database_error
from monitor.store.journal import Journal

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

if TYPE_CHECKING:
    from monitor.sources.pubmed import client as pubmed_client

log = logging.getLogger("monitor")
Command = Callable[[Config, argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(os.environ)
    if args.command == "cite":
        return cite_command(args)  # an editor's tool: it needs no config, database or network
    if args.command == "doctor":
        return doctor_command(args)  # reports a config it cannot load as one of its checks
    try:
        config = load_config(config_path(args.config, os.environ))
        if config.secrets:
            setup_logging(os.environ, secrets=config.secrets)
        command: Command = args.run
        return command(config, args)
    except ConfigError as exc:
        _fail(f"configuration error: {exc}")
        return EXIT_USAGE
    except MonitorError as exc:
        _fail(str(exc))
        return EXIT_FAILED
    except SQLAlchemyError as exc:
        _fail(f"database error: {first_line(exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except Exception:
        # A bug: its traceback goes through the log handler, which blanks out the secrets.
        log.exception("unexpected error; please report it with the lines above")
        return EXIT_FAILED


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (not the usage block and a traceback-like
    message), with where to read more, and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"trial-monitor: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trial-monitor",
        description="Watch ClinicalTrials.gov records and email one digest of what changed.",
    )
    parser.add_argument("--version", action="version", version=f"trial-monitor {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the config file (default: $TRIAL_MONITOR_CONFIG, else ./config.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, run: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(run=run)
        return sub

    add("check", check_command, "run one monitoring cycle now")
    add("run", run_command, "run cycles on the configured schedule until stopped")
    add("migrate", migrate_command, "bring the database schema up to date")
    status = add("status", status_command, "show recent cycles, watched trials and unsent changes")
    status.add_argument("--json", action="store_true", help="the same, as one JSON object")
    preview = add("preview", preview_command, "show the pending digest without sending it")
    preview.add_argument("--html", metavar="FILE", help="also write the HTML version to FILE")
    add("send-test", send_test_command, "send a test message with the mail settings")
    history = add("history", history_command, "show the stored history of one trial")
    history.add_argument("nct_id", metavar="NCT_ID")
    add("health", health_command, "exit 0 if the last scheduled cycle succeeded in time, else 1")
    add(
        "verify",
        verify_command,
        "compare each article with the registry now: exit 0 all agree, 1 something disagrees,"
        " 3 could not check",
    )
    commands.add_parser(
        "doctor",
        help="check the config, database, registry, PubMed, mail server, outbox, schedule and ping",
        description="One line per check (ok, warning or failed, with what to do); exit 0 when"
        " nothing failed, else 1. Sends no message and changes nothing.",
    )
    cite = commands.add_parser(
        "cite",
        help="draft an [[articles]] block from an article's text",
        description="Read an article (plain text, Markdown or HTML), find the trials and papers"
        " it cites and what it says of each trial, and print an [[articles]] block to check and"
        " paste into config.toml. Needs no config.",
    )
    cite.add_argument("file", metavar="FILE", help="the article; - for standard input")
    release = add("release", release_command, "send the digest the sanity gate held")
    release.add_argument(
        "--discard", action="store_true", help="drop the held changes as false instead"
    )
    return parser


# -- commands ------------------------------------------------------------------------------


def check_command(config: Config, _args: argparse.Namespace) -> int:
    with _database(config) as engine:
        result = asyncio.run(_one_cycle(config, engine))
    if result is None:
        print("check: skipped, another cycle is running against this database")
        return EXIT_OK
    print(_describe(result, config))
    return EXIT_OK if result.ok else EXIT_FAILED


def run_command(config: Config, _args: argparse.Namespace) -> int:
    with _database(config) as engine:
        Journal(engine).record_service_start(_now(), socket.gethostname(), os.getpid())
        service = Service(
            lambda: _one_cycle(config, engine),
            make_trigger(config.schedule),
            config.schedule.shutdown_grace_seconds,
        )

        async def serve() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            # SIGHUP (a closed terminal, a supervisor's reload) stops it as SIGTERM does: the
            # config is read at start, so a restart is how a new one takes effect.
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.add_signal_handler(signum, stop.set)
            await service.serve(stop)

        log.info("trial-monitor %s running: cron %r in %s", __version__, *_schedule(config))
        asyncio.run(serve())
    log.info("trial-monitor stopped")
    return EXIT_OK


def migrate_command(config: Config, _args: argparse.Namespace) -> int:
    with _database(config, schema=False) as engine:
        before, head = schema_revision(engine)
        migrate(engine)
    print(f"migrate: database schema at revision {head} (was {before or 'empty'})")
    return EXIT_OK


def status_command(config: Config, args: argparse.Namespace) -> int:
    with _database(config) as engine:
        print(status_json(engine, config) if args.json else status_text(engine, config))
    return EXIT_OK


def preview_command(config: Config, args: argparse.Namespace) -> int:
    with _database(config) as engine:
        out = _outgoing(config, engine)
        pending = out.deliveries.pending(include_held=True)
        for hold in out.deliveries.holds():
            print(
                f"preview: includes {hold.changes} changes held in cycle {hold.cycle_id}:"
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
        _, rendered = compose_digest(out, pending, out.journal.last_data_timestamp())
    print(f"Subject: {rendered.subject}\n\n{rendered.text}", end="")
    if args.html:
        try:
            Path(args.html).write_text(rendered.html, encoding="utf-8")
        except OSError as exc:
            _fail(f"preview: cannot write the HTML to {args.html}: {exc.strerror or exc}")
            return EXIT_USAGE
        print(f"\npreview: HTML version written to {args.html}")
    return EXIT_OK


def send_test_command(config: Config, _args: argparse.Namespace) -> int:
    email = config.email
    if email is None:
        raise ConfigError(
            "send-test needs an [email] section (without one, digests go to the outbox)"
        )
    now = _now()
    rendered = render_message(
        make_environment(),
        "test",
        {
            "prefix": config.digest.subject_prefix,
            "sender": email.sender,
            "recipients": ", ".join(email.recipients),
            "server": f"{email.host}:{email.port}",
            "security": email.security,
            "when": now.strftime("%Y-%m-%d %H:%M UTC"),
        },
    )
    message_id = Sender(email.sender, "send-test").message_id("test", now.timestamp())
    message = build_message(rendered, email.sender, email.recipients, message_id, now)
    # One attempt: the operator wants the server's own answer now, not after the back-off.
    sent = asyncio.run(SmtpTransport(replace(email, max_attempts=1)).deliver(message))
    refused = {r.recipient for r in sent.refused}
    taken = [r for r in email.recipients if r not in refused]
    print(f"send-test: accepted for {', '.join(taken)}; server answered {sent.where}")
    for refusal in sent.refused:
        _fail(f"send-test: the mail server refused {refusal}")
    return EXIT_FAILED if refused else EXIT_OK


def history_command(config: Config, args: argparse.Namespace) -> int:
    nct_id = args.nct_id.strip().upper()
    if not NCT_ID.fullmatch(nct_id):
        _fail(f"history: {args.nct_id!r} is not an NCT id like NCT04270877")
        return EXIT_USAGE
    with _database(config) as engine:
        text = history_text(engine, nct_id)
        ran = Journal(engine).last_cycle_id() is not None
    if text is None and not ran:
        print(f"history: no cycle has run yet, so nothing is stored for {nct_id}")
        return EXIT_OK
    if text is None:
        _fail(f"history: nothing stored for {nct_id}; is it watched?")
        return EXIT_FAILED
    print(text)
    return EXIT_OK


def health_command(config: Config, _args: argparse.Namespace) -> int:
    with _database(config) as engine:
        verdict = health(engine, config.schedule, _now())
    print(f"health: {verdict.message}")
    return EXIT_OK if verdict.ok else EXIT_FAILED


def verify_command(config: Config, _args: argparse.Namespace) -> int:
    if not config.articles:
        print("verify: the config names no article ([[articles]], or watch.trials)")
        return EXIT_OK

    async def run() -> Verification:
        async with make_http_client(config.registry) as http, _pubmed(config) as pubmed:
            return await verify(config.articles, RegistryClient(config.registry, http), pubmed)

    try:
        verification = asyncio.run(run())
    except MonitorError as exc:
        _fail(f"verify: could not check: {exc}")
        return Verdict.UNCHECKED
    print(verification_text(verification, config.digest.subject_prefix, make_environment(), _now()))
    return verification.verdict


def doctor_command(args: argparse.Namespace) -> int:
    from monitor.operator.doctor import diagnose  # only this command needs it

    path = config_path(args.config, os.environ)
    diagnosis = asyncio.run(diagnose(path, os.environ, _now()))
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
        _fail(f"cite: cannot read {source}: {exc.strerror or exc}")
        return EXIT_USAGE
    except UnicodeDecodeError as exc:
        _fail(f"cite: {source} is not UTF-8 text (byte {exc.start}): save it as UTF-8")
        return EXIT_USAGE
    draft = read_article(text)
    print(config_block(draft), end="")
    if not draft.trials and not draft.pmids:
        _fail(f"cite: found no NCT id and no PubMed id in {source}")
        return EXIT_FAILED
    return EXIT_OK


def release_command(config: Config, args: argparse.Namespace) -> int:
    with _database(config) as engine:
        out = _outgoing(config, engine)
        released = out.deliveries.release_holds(_now(), discard=args.discard)
        if not released:
            print("release: nothing is held")
            return EXIT_OK
        count = sum(h.changes for h in released)
        if args.discard:
            print(f"release: {count} held changes discarded; they will never be sent")
            return EXIT_OK
        stamp = out.journal.last_data_timestamp()
        sent = asyncio.run(deliver_pending(out, None, stamp))
    print(f"release: {count} held changes released; {_digests(sent.delivered)} sent")
    for failure in sent.failures:
        _fail(f"{failure}; the changes are kept for the next cycle")
    return EXIT_FAILED if sent.failures else EXIT_OK


# -- the pieces the commands share ---------------------------------------------------------


@contextmanager
def _database(config: Config, *, schema: bool = True) -> Iterator[Engine]:
    """The engine, with the schema made or brought up to date (or checked, when
    database.auto_migrate is off); its connections are closed when the command is done."""
    engine = make_engine(config.database.url)
    try:
        if schema:
            # Read-only commands too: on a fresh install `status` works and says no cycle ran.
            ensure_schema(engine, auto_migrate=config.database.auto_migrate)
        yield engine
    except SQLAlchemyError as exc:
        # Every command that opens the database passes here: one line saying what to do.
        raise database_error(exc, config.database.url) from exc
    finally:
        engine.dispose()


async def _one_cycle(config: Config, engine: Engine) -> CycleResult | None:
    """One locked cycle and the messages it calls for; None when another one runs."""
    with cycle_lock(engine) as held:
        if not held:
            log.warning("another cycle is running against this database; this one is skipped")
            return None
        started = time.monotonic()
        out = _outgoing(config, engine)
        async with make_http_client(config.registry) as http, _pubmed(config) as pubmed:
            registry = RegistryClient(config.registry, http)
            result = await run_cycle(CycleDeps(**vars(out), registry=registry, pubmed=pubmed))
        await Alerts(out, result).send_all()
    _log_cycle(result, time.monotonic() - started)
    alerts = config.alerts
    if alerts.ping_url:
        await ping(
            alerts.ping_url, result.ok, _describe(result, config), alerts.ping_timeout_seconds
        )
    return result


@asynccontextmanager
async def _pubmed(config: Config) -> AsyncIterator[pubmed_client.PubmedClient | None]:
    """PubMed's client when the literature side is on, else None."""
    if config.pubmed is None:
        yield None
        return
    from monitor.sources.pubmed import client  # only with the literature side on

    async with client.make_http_client(config.pubmed) as http:
        yield client.PubmedClient(config.pubmed, http)


def _outgoing(config: Config, engine: Engine) -> Outgoing:
    journal = Journal(engine)
    return Outgoing(
        config=config,
        store=Store(engine),
        library=Library(engine),
        deliveries=Deliveries(engine),
        journal=journal,
        mailing=_mailing(config, journal.installation_id(_now())),
        clock=_now,
    )


def _mailing(config: Config, installation: str) -> Mailing:
    # Each article's desk gets the changes of the trials and papers it cites, as a route's
    # desk does.
    desks = tuple(
        Route(
            f"the desk of {article.name}",
            article.recipients,
            frozenset(article.trials),
            pmids=frozenset([*article.pmids, *(p for ps in article.papers.values() for p in ps)]),
        )
        for article in config.articles
        if article.recipients
    )
    routes = (*config.routes, *desks)
    if config.email is None:
        sender = Sender(OUTBOX_SENDER, installation)
        return Mailing(OutboxTransport(config.outbox_dir), sender, Router((OUTBOX,), routes))
    email = config.email
    sender = Sender(email.sender, installation)
    return Mailing(SmtpTransport(email), sender, Router(email.recipients, routes))


def _log_cycle(result: CycleResult, seconds: float) -> None:
    figures = result.figures
    log.info(
        "cycle %d %s: %d trial records (%d rejected), %d requests, %.1f kB, %d new changes, %s,"
        " %.1f s%s",
        result.cycle_id,
        result.outcome,
        figures.trials_checked,
        figures.records_rejected,
        figures.requests,
        figures.bytes_received / 1000,
        figures.changes_found,
        _digests(result.delivered_to),
        seconds,
        f" — {result.error}" if result.error else "",
        extra={
            "cycle": result.cycle_id,
            "outcome": result.outcome,
            "trials_checked": figures.trials_checked,
            "records_rejected": figures.records_rejected,
            "requests": figures.requests,
            "bytes_received": figures.bytes_received,
            "changes_found": figures.changes_found,
            "delivered_to": result.delivered_to,
            "seconds": round(seconds, 3),
            "error": result.error,
        },
    )


def _describe(result: CycleResult, config: Config) -> str:
    figures = result.figures
    count = figures.changes_found
    parts = [
        f"checked {figures.trials_checked} trial records in {figures.requests} requests",
        f"{count} new change{'s' if count != 1 else ''}",
    ]
    if result.article_checks:
        count = len(result.article_checks)
        parts.append(f"{count} article check{'s' if count != 1 else ''} (a first look) sent")
    if result.delivered_to and config.email is None:
        places = ", ".join(result.delivered_to)
        parts.append(f"digest written to {places} (no [email] section: outbox)")
    elif result.delivered_to:
        parts.append(_digests(result.delivered_to) + " sent")
    elif result.ok:
        parts.append("nothing to send")
    if result.error:
        parts.append(f"FAILED: {result.error}; unsent changes are kept for the next cycle")
    if result.held:
        parts.append(f"HELD for a look: {result.held}; see `trial-monitor preview`, then `release`")
    parts.extend(f"REFUSED: {line}" for line in result.refused_searches)
    if result.stale:
        parts.append(f"NOT READ: {result.stale}")
    return "check: " + "; ".join(parts)


def _digests(places: Sequence[str]) -> str:
    if not places:
        return "no digest"
    return f"{len(places)} digest{'s' if len(places) != 1 else ''} ({'; '.join(places)})"


def _schedule(config: Config) -> tuple[str, str]:
    return config.schedule.cron, config.schedule.timezone


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(message: str) -> None:
    print(redact(f"trial-monitor: {message}"), file=sys.stderr)
