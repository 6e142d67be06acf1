"""What a probe of the whole command tries, end to end through `trial-monitor check`: random
kills anywhere in a process's life, and hostile records found by a saved search.

Random kills: a round is a world with two recipient groups (the `[email]` recipients and a desk
routed one trial), a baseline, then steps of 1–3 registry changes, a `check` process SIGKILLed
after a random delay over the whole life of a check, sometimes more news before the restart,
sometimes the restart killed too, then `check` until one completes. Counting is per change and
recipient (a row of `dispatches`): no copy is lost, copies with one Message-ID were re-sent in
the documented window, copies with several are duplicates beyond it.

Hostile records: each drawn record is put in the registry as a new trial the search finds, one
cycle runs in this process, and every digest it sends is read for what must never get through:
control characters in the Subject, NUL, bidi overrides and ESC in the text and the HTML, a
`<script` in the HTML, an extra header. Used by benchmarks/reliability.py; not a test module.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

from conftest import DANISH, FINAL, Run, World
from hostile import records
from hypothesis import HealthCheck, given, settings
from smtp import Accepted, SmtpServer
from sqlalchemy import select
from standin import StandinRegistry, ldn_studies, set_piece, study

from monitor.store.schema import changes, dispatches

# A desk that gets one trial's news: two recipient groups per cycle, so a kill can fall
# between two digests of one cycle.
ROUTES = '[[routes]]\nname = "FM desk"\nrecipients = ["fm@example.org"]\ntrials = ["NCT04270877"]\n'
STATUSES = ("RECRUITING", "ACTIVE_NOT_RECRUITING", "SUSPENDED", "TERMINATED", "COMPLETED")
SEARCH_WORDS = "low dose naltrexone"
STEPS = 5  # kill-and-restart steps per round
NEWS_BEFORE_RESTART = 0.5
KILL_THE_RESTART = 0.3
TRIES = 3  # `check` runs after the kills, until one completes


@dataclass(frozen=True)
class Tally:
    """Random-kill figures, added up over steps, rounds and databases."""

    kills: int = 0  # processes that died by SIGKILL (not those that finished first)
    pairs: int = 0  # change × recipient rows checked
    lost: int = 0  # rows no digest carried (and changes never addressed)
    in_window: int = 0  # rows carried twice or more, always with one Message-ID
    beyond: int = 0  # rows carried with more than one Message-ID
    strays: int = 0  # a change delivered to a recipient it was not addressed to
    crashes: int = 0  # a traceback, or an exit code other than 0 and 1, without a kill

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@contextmanager
def world_in(folder: Path, database_url: str, extra: str = "") -> Iterator[World]:
    """The LDN world with the routed desk: a stand-in registry and a real SMTP server."""
    folder.mkdir(parents=True, exist_ok=True)
    with StandinRegistry() as registry:
        registry.put_all(ldn_studies())
        smtp = SmtpServer().start()
        try:
            yield World(folder, registry, smtp, database_url, extra=ROUTES + extra)
        finally:
            smtp.stop()


def completed(run: Run) -> bool:
    # A cycle skipped for another's lock exits 0 too, without delivering anything.
    return run.code == 0 and "skipped" not in run.out


def crashed(run: Run, what: str) -> bool:
    """Whether the run crashed; if so, says how on stderr (the report itself only counts)."""
    if "Traceback" not in run.err and run.code in (0, 1):
        return False
    tail = "\n    ".join(run.err.strip().splitlines()[-8:])
    print(f"crash: {what} exited {run.code}:\n    {tail}", file=sys.stderr)
    return True


# -- random kills ------------------------------------------------------------------------------


def check_span(folder: Path, database_url: str, samples: int = 3) -> float:
    """How long a `check` process lives (start-up included) when it has news to send."""
    with world_in(folder, database_url) as world:
        assert completed(world.check())
        durations = []
        for number in range(samples):
            world.registry.update(FINAL, partial(set_piece, piece="EnrollmentCount", value=number))
            started = time.monotonic()
            process = world.spawn("check")
            process.communicate(timeout=60)
            durations.append(time.monotonic() - started)
    return statistics.median(durations)


def chaos_round(folder: Path, database_url: str, rng: random.Random, span: float) -> Tally:
    with world_in(folder, database_url) as world:
        chaos = _Chaos(world, rng, span)
        chaos.finish()  # the baseline
        for _ in range(STEPS):
            chaos.step()
        return chaos.tally()


@dataclass
class _Chaos:
    """One round's world and what it has done so far."""

    world: World
    rng: random.Random
    span: float  # kills come uniformly within this many seconds of a process's start
    trials: list[str] = field(default_factory=lambda: [FINAL, DANISH])
    kills: int = 0
    crashes: int = 0

    def step(self) -> None:
        self.news()
        self.killed_check()
        if self.rng.random() < NEWS_BEFORE_RESTART:
            self.news()
        if self.rng.random() < KILL_THE_RESTART:
            self.killed_check()
        self.finish()

    def news(self) -> None:
        """1–3 registry changes: a status, an enrollment, a new trial the search finds."""
        for _ in range(self.rng.randint(1, 3)):
            kind = self.rng.choice(("status", "enrollment", "new trial"))
            if kind == "new trial":
                nct_id = f"NCT07{len(self.trials):06d}"
                self.world.registry.put(study(nct_id, BriefTitle=f"Low dose naltrexone {nct_id}"))
                self.trials.append(nct_id)
                continue
            piece = "OverallStatus" if kind == "status" else "EnrollmentCount"
            value: object = (
                self.rng.choice(STATUSES) if kind == "status" else self.rng.randint(10, 999)
            )
            trial = self.rng.choice(self.trials)
            self.world.registry.update(trial, partial(set_piece, piece=piece, value=value))

    def killed_check(self) -> None:
        process = self.world.spawn("check")
        try:
            out, err = process.communicate(timeout=self.rng.uniform(0, self.span))
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            out, err = process.communicate(timeout=60)
        if process.returncode == -signal.SIGKILL:
            self.kills += 1
        else:
            self.crashes += crashed(
                Run(process.returncode, out, err), "a `check` that ended before its kill"
            )

    def finish(self) -> None:
        for _ in range(TRIES):
            run = self.world.check()
            self.crashes += crashed(run, "the `check` after the kills")
            if completed(run):
                return
            time.sleep(0.2)

    def tally(self) -> Tally:
        counted = count_copies(self.world)
        return Tally(kills=self.kills, crashes=self.crashes) + counted


def count_copies(world: World) -> Tally:
    """Each addressed (change, recipient) against the digests the mail server accepted."""
    with world.engine() as engine, engine.connect() as conn:
        rows = conn.execute(
            select(dispatches.c.change_id, dispatches.c.target).where(
                dispatches.c.refused.is_(None)
            )
        ).all()
        change_ids = set(conn.execute(select(changes.c.id)).scalars())
    expected = {(row.change_id, row.target) for row in rows}
    unaddressed = change_ids - {change_id for change_id, _ in expected}
    copies: Counter[tuple[int, str]] = Counter()
    message_ids: dict[tuple[int, str], set[str]] = {}
    for accepted in world.smtp.recorder.accepted:
        for pair in _pairs(accepted):
            copies[pair] += 1
            message_ids.setdefault(pair, set()).add(str(accepted.message["Message-ID"]))
    return Tally(
        pairs=len(expected),
        lost=sum(1 for pair in expected if copies[pair] == 0) + len(unaddressed),
        in_window=sum(1 for p in expected if copies[p] > 1 and len(message_ids[p]) == 1),
        beyond=sum(1 for p in expected if len(message_ids.get(p, ())) > 1),
        strays=sum(1 for pair in copies if pair not in expected),
    )


def _pairs(accepted: Accepted) -> list[tuple[int, str]]:
    header = str(accepted.message["X-Trial-Monitor-Changes"] or "")
    ids = [int(i) for i in header.split(",") if i]
    return [(i, recipient) for i in ids for recipient in accepted.recipients]


# -- hostile records through the command -------------------------------------------------------

# The search runs without its date filter every cycle: the stand-in's date filter cannot read
# a hostile date or status module (it answers 500), and the record must reach the monitor.
EVERY_CYCLE_IN_FULL = "[polling]\nreconcile_days = 0\n"
BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The headers the monitor writes, and those the email package adds to a MIME message.
HEADERS = frozenset(
    h.lower()
    for h in (
        *("Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted", "List-Id"),
        *("X-Trial-Monitor-Changes", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"),
    )
)


@dataclass
class Containment:
    """Hostile records tried through `check` on one database, and how the command took them."""

    tried: int = 0
    contained: int = 0  # every check held: no crash, nothing hostile in any digest
    crashes: int = 0
    exits: Counter[int] = field(default_factory=Counter)
    digests: int = 0  # digests read for hostile content
    breaches: list[str] = field(default_factory=list)  # the first few, for the report


def contain(folder: Path, database_url: str, examples: int) -> Containment:
    """`examples` hostile records, each a new trial found by the search, one `check` each."""
    result = Containment()
    with world_in(folder, database_url, extra=EVERY_CYCLE_IN_FULL) as world:
        assert completed(world.check())  # the search's baseline: what it finds later is new
        serial = itertools.count(1)

        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(records())
        def one(record: dict[str, Any]) -> None:
            nct_id = f"NCT08{next(serial):06d}"
            world.registry.put(_found_by_search(record, nct_id))
            try:
                _tally(result, world, world.check())
            finally:
                world.registry.remove(nct_id)  # reported as gone next cycle: read too

        one()
    return result


def _found_by_search(record: dict[str, Any], nct_id: str) -> dict[str, Any]:
    """The drawn record under a fresh id, matching the LDN search, every hostile value left as
    drawn: the search words go in a keyword, which the monitor does not track."""
    section = record.setdefault("protocolSection", {})
    section.setdefault("identificationModule", {})["nctId"] = nct_id
    section.setdefault("conditionsModule", {})["keywords"] = [SEARCH_WORDS]
    return record


def _tally(result: Containment, world: World, run: Run) -> None:
    seen = result.digests
    accepted = world.smtp.recorder.accepted
    new = accepted[seen:]
    breaches = [f"exit {run.code}"] if run.code not in (0, 1) else []
    breaches += ["a traceback"] if "Traceback" in run.err else []
    for message in (a.message for a in new):
        breaches += breaches_in(message)
    result.tried += 1
    result.exits[run.code] += 1
    result.digests = len(accepted)
    result.crashes += crashed(run, "a hostile record's `check`")
    result.contained += not breaches
    if breaches and len(result.breaches) < 5:
        result.breaches.append("; ".join(breaches))


def breaches_in(message: EmailMessage) -> list[str]:
    """What got through into one digest: each a short description."""
    found = []
    subject = str(message["Subject"] or "")
    if any(unicodedata.category(c) == "Cc" or c in BIDI for c in subject):
        found.append(f"a control character in the Subject {subject[:80]!r}")
    names = message.keys()
    extra = {name.lower() for name in names} - HEADERS
    doubled = sorted({n for n in names if len(message.get_all(n) or ()) > 1})
    if extra or doubled:
        found.append(f"headers {sorted(extra)} added, {doubled} doubled")
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        content = str(part.get_content())
        kind = part.get_content_subtype()
        for char in ("\x00", "\x1b", *BIDI):
            if char in content:
                found.append(f"{char!r} in the {kind} part")
        if kind == "html" and "<script" in content.lower():
            found.append("<script in the HTML")
    return found
