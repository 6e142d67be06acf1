"""The `trial-monitor` command: its arguments, and the composition root.

`main` reads the config with every section of the house's sources and channels (house.py) and
hands both to the command (commands.py), which builds the engine, the readers and the channels;
nothing happens at import time. Exit codes are a public interface (docs/operating.md): 0 the
command did its job (for `check`: the cycle completed and read every source, changed or not),
1 the registry, the mail server or the database failed (changes are kept), or a read-only
command found no database, 2 a usage or configuration error, 4 `check` done but a source could
not be read; `verify` says 1 when an article disagrees with the evidence and 3 when it could not
check (run/verify.Verdict). A closed pipe (`status --json | head -1`) ends quietly with 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NoReturn

from sqlalchemy.exc import SQLAlchemyError

from monitor import __version__
from monitor.commands import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    App,
    Command,
    check_command,
    cite_command,
    doctor_command,
    fail,
    health_command,
    history_command,
    migrate_command,
    preview_command,
    release_command,
    run_command,
    send_test_command,
    status_command,
)
from monitor.core.errors import ConfigError, MonitorError, first_line
from monitor.house import House
from monitor.operator.logs import setup_logging
from monitor.settings.config import config_path
from monitor.worklist import (
    dismiss_command,
    findings_command,
    handle_command,
    reopen_command,
    verify_command,
)

log = logging.getLogger("monitor")


def main(
    argv: Sequence[str] | None = None,
    house: House | None = None,
    clock: Callable[[], datetime] | None = None,
) -> int:
    """The command line; `house` the sources and channels to build with (the registered ones
    unless given: a test hands in one of its own); `clock` the time it goes by (the wall
    clock's unless given: the documentation's samples are made at a fixed moment)."""
    try:
        code = _command(argv, house, clock)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
        return code
    except BrokenPipeError:
        # The reader went away (`trial-monitor status --json | head -1`): it has what it
        # wanted. Nothing more can be said, and Python would complain once more when it
        # flushes at exit: stdout goes to /dev/null for the rest of the process.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _command(
    argv: Sequence[str] | None, house: House | None, clock: Callable[[], datetime] | None
) -> int:
    args = _parser().parse_args(argv)
    setup_logging(os.environ)
    house = house or House.registered()
    if args.command == "cite":
        return cite_command(args)  # an editor's tool: it needs no config, database or network
    if args.command == "doctor":
        return doctor_command(args, house)  # reports a config it cannot load as one of its checks
    try:
        config = house.load_config(config_path(args.config, os.environ))
        if config.secrets:
            setup_logging(os.environ, secrets=config.secrets)
        command: Command = args.run
        app = App(config, house) if clock is None else App(config, house, clock)
        return command(app, args)
    except ConfigError as exc:
        fail(f"configuration error: {exc}")
        return EXIT_USAGE
    except MonitorError as exc:
        fail(str(exc))
        return EXIT_FAILED
    except SQLAlchemyError as exc:
        fail(f"database error: {first_line(exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    except BrokenPipeError:
        raise  # not a bug: the reader of the output went away (main)
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

    check = add("check", check_command, "run one monitoring cycle now")
    check.add_argument(
        "--literature-now",
        action="store_true",
        help="read PubMed now, even if it was read less than pubmed.min_interval_hours ago",
    )
    add("run", run_command, "run cycles on the configured schedule until stopped")
    add("migrate", migrate_command, "bring the database schema up to date")
    status = add("status", status_command, "show recent cycles, watched trials and unsent changes")
    status.add_argument("--json", action="store_true", help="the same, as one JSON object")
    preview = add(
        "preview",
        preview_command,
        "show the changes recorded and not yet sent, as the digest would word them now (asks"
        " no source, so what the next cycle finds is not in it; sends nothing)",
    )
    preview.add_argument("--html", metavar="FILE", help="also write the HTML version to FILE")
    add("send-test", send_test_command, "send a test message with the mail settings")
    history = add("history", history_command, "show the stored history of one trial")
    history.add_argument("nct_id", metavar="NCT_ID")
    add("health", health_command, "exit 0 if the last scheduled cycle succeeded in time, else 1")
    verify = add(
        "verify",
        verify_command,
        "compare each article with the registry now: exit 0 all agree, 1 something disagrees,"
        " 3 could not check",
    )
    verify.add_argument(
        "--all", action="store_true", help="list every finding and trial, however many"
    )
    findings = add(
        "findings", findings_command, "list each article's open findings, with their ids"
    )
    findings.add_argument("--article", metavar="ID", help="only this article's (its id)")
    findings.add_argument(
        "--state",
        choices=["open", "handled", "dismissed", "all"],
        default="open",
        help="the findings in this state (default: open)",
    )
    findings.add_argument("--json", action="store_true", help="the same, as one JSON object")
    by = "who did it (default: the login name)"
    handle = add("handle", handle_command, "mark findings handled: never mailed again")
    handle.add_argument("finding", metavar="FINDING", nargs="+", help="a finding's id")
    handle.add_argument("--note", metavar="TEXT", help="what was done")
    handle.add_argument("--by", metavar="NAME", help=by)
    dismiss = add("dismiss", dismiss_command, "mark findings not relevant, saying why")
    dismiss.add_argument("finding", metavar="FINDING", nargs="+", help="a finding's id")
    dismiss.add_argument("--note", metavar="TEXT", required=True, help="why it is not relevant")
    dismiss.add_argument("--by", metavar="NAME", help=by)
    reopen = add("reopen", reopen_command, "open handled or dismissed findings again")
    reopen.add_argument("finding", metavar="FINDING", nargs="+", help="a finding's id")
    reopen.add_argument("--note", metavar="TEXT", help="why")
    reopen.add_argument("--by", metavar="NAME", help=by)
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
