"""The `trial-monitor` command: the composition root.

Config, engine, HTTP client, transport and templates are built here and handed to the cycle;
nothing happens at import time. Exit codes are a public interface: 0 the cycle completed (changed
or not), 1 the registry, the mail server or the database failed (changes are kept), 2 a usage or
configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from monitor import __version__
from monitor.config import Config, config_path, load_config
from monitor.cycle import CycleDeps, CycleResult, Mailing, run_cycle
from monitor.db import make_engine, migrate
from monitor.deliver import OUTBOX_SENDER, OutboxTransport, SmtpTransport
from monitor.errors import ConfigError, MonitorError
from monitor.registry import RegistryClient, make_http_client
from monitor.render import make_environment
from monitor.store import Store

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("monitor")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging()
    try:
        config = load_config(config_path(args.config, os.environ))
        command: Callable[[Config, argparse.Namespace], int] = args.run
        return command(config, args)
    except ConfigError as exc:
        _fail(f"configuration error: {exc}")
        return EXIT_USAGE
    except MonitorError as exc:
        _fail(str(exc))
        return EXIT_FAILED
    except SQLAlchemyError as exc:
        _fail(f"database error: {_first_line(exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    check = commands.add_parser("check", help="run one monitoring cycle now")
    check.set_defaults(run=check_command)
    return parser


def check_command(config: Config, _args: argparse.Namespace) -> int:
    engine = make_engine(config.database_url)
    try:
        migrate(engine)
        result = asyncio.run(_check(config, Store(engine)))
    finally:
        engine.dispose()
    print(_describe(result, config))
    return EXIT_OK if result.ok else EXIT_FAILED


async def _check(config: Config, store: Store) -> CycleResult:
    async with make_http_client(config.registry) as http:
        deps = CycleDeps(
            config=config,
            store=store,
            registry=RegistryClient(config.registry, http),
            mailing=_mailing(config),
            templates=make_environment(),
        )
        return await run_cycle(deps, clock=lambda: datetime.now(UTC))


def _mailing(config: Config) -> Mailing:
    if config.email is None:
        return Mailing(OutboxTransport(config.outbox_dir), OUTBOX_SENDER, ())
    email = config.email
    return Mailing(SmtpTransport(email), email.sender, email.recipients)


def _describe(result: CycleResult, config: Config) -> str:
    figures = result.figures
    count = figures.changes_found
    parts = [
        f"checked {figures.trials_checked} trial records in {figures.requests} requests",
        f"{count} new change{'s' if count != 1 else ''}",
    ]
    if result.delivered_to and config.email is None:
        parts.append(f"digest written to {result.delivered_to} (no [email] section: outbox)")
    elif result.delivered_to:
        parts.append(f"digest sent to {', '.join(config.email.recipients if config.email else ())}")
    elif result.ok:
        parts.append("nothing to send")
    if result.error:
        parts.append(f"FAILED: {result.error}; unsent changes are kept for the next cycle")
    return "check: " + "; ".join(parts)


def _setup_logging() -> None:
    level = os.environ.get("TRIAL_MONITOR_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else "WARNING",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request at INFO; the cycle's own figures say more in one line.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _fail(message: str) -> None:
    print(f"trial-monitor: {message}", file=sys.stderr)


def _first_line(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
