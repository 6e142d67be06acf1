"""What the rest of the monitor asks of a source: the `Source` protocol.

A source is a folder, `sources/<name>/`, that knows one service the evidence lives in (its
client, normalizer, reading loop, tables, settings, words and doctor check), and one object that
answers this protocol. `sources/__init__.py` registers each by one line; the cycle, `doctor`,
`status`, `verify` and the digest loop over them and name none.

What passes between a source and the rest is the core's typed values: trial records
(`Snapshot`) and papers (`Paper`), and the `Change`s found in them, which a source stores with
its observations in one transaction (persist first: see store/changes.py). In a cycle a source
reads what changed since the last one (`Reader.read`), counting what it did in a `Tally`; it
raises `SourceError` when it cannot be read, and what it stored before that stands.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, Engine

from monitor.core.articles import Article, Evidence
from monitor.core.checkup import Checked
from monitor.core.routing import Keys
from monitor.settings.config import Config
from monitor.settings.tomltable import Table
from monitor.sources.http import RequestStats
from monitor.store.journal import Journal

Clock = Callable[[], datetime]


@dataclass
class Tally:
    """What one source's reading did in a cycle, filled in as it goes (so that what it did
    before a failure is counted too): the cycle's figures, the sanity gate, `check`'s line."""

    records: int = 0  # records read (trial records, papers)
    rejected: int = 0  # records turned away as unusable
    changes: int = 0  # changes found and stored
    mode: str | None = None  # how it read: full, incremental, unchanged, stale
    data_timestamp: str | None = None  # the service's own "data as of", when it gives one
    hold: str | None = None  # why this cycle's digest should wait for an operator
    stale: str | None = None  # why nothing was read: the service's data went backwards
    refused: list[str] = field(default_factory=list)  # queries it refused, one line each
    newly_refused: list[str] = field(default_factory=list)  # of those, the ones that are news


@dataclass
class Turn:
    """One cycle, as a source's reading sees it."""

    engine: Engine
    journal: Journal
    config: Config
    clock: Clock
    cycle_id: int
    # Articles new to the config: their first look (the article check) says what stands, so
    # what is judged of them now is not news.
    first_look: Collection[str] = ()
    tally: Tally = field(default_factory=Tally)


@dataclass(frozen=True)
class Wanted:
    """What the evidence is asked for: trials (by the id cited or changed) and papers."""

    trials: Sequence[str] = ()
    pmids: Sequence[str] = ()


@dataclass(frozen=True)
class Report:
    """A source's part of `status`: its lines, what an operator must fix (said after the
    unsent changes), its keys of `status --json`, and how many trials it watches."""

    lines: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    json: Mapping[str, object] = field(default_factory=dict)
    trials: int = 0


class Reader(Protocol):
    """A source opened for one command: its client, and what it has asked so far."""

    @property
    def stats(self) -> RequestStats:
        """What it has asked and received so far: the cycle's figures."""
        ...

    async def read(self, turn: Turn) -> None:
        """Read what changed since the last cycle, storing each observation with the changes
        it reveals; raises SourceError when the service cannot be read."""
        ...

    async def evidence(self, articles: Sequence[Article]) -> Evidence:
        """What the service says now of what these articles cite, stored nowhere (`verify`)."""
        ...


class Source(Protocol):
    """One source of evidence, as the cycle, doctor, status, verify and the digest see it."""

    @property
    def name(self) -> str:
        """Its key: in the logs, and in each change it stores (changes.source)."""
        ...

    @property
    def label(self) -> str:
        """As people name it: "ClinicalTrials.gov"."""
        ...

    @property
    def where(self) -> str:
        """Where a digest's changes were found: "on ClinicalTrials.gov"."""
        ...

    @property
    def check_name(self) -> str:
        """Its line of `doctor`: "registry"."""
        ...

    @property
    def required(self) -> bool:
        """A cycle it could not read fails (exit 1); another's failure is said beside."""
        ...

    @property
    def environment(self) -> tuple[str, ...]:
        """The variables it reads (doctor names the ones set)."""
        ...

    @property
    def history_example(self) -> str | None:
        """The id `history` takes ("an NCT id like …"), if it keeps one."""
        ...

    def read_settings(
        self, root: Table, environ: Mapping[str, str], config: Config
    ) -> object | None:
        """Its settings from its section of config.toml; None when it is off."""
        ...

    def on(self, config: Config) -> bool:
        """Whether the configuration turns it on."""
        ...

    def reader(self, config: Config) -> AbstractAsyncContextManager[Reader]:
        """Its client for one command (only when it is on); closed at the end."""
        ...

    async def check(self, config: Config, environ: Mapping[str, str]) -> Checked:
        """doctor's line: can it be reached, as configured; nothing stored, one request."""
        ...

    def stored(self, engine: Engine, config: Config, wanted: Wanted) -> Evidence:
        """What it last read of these trials and papers: what the digest and the article
        check are worded against."""
        ...

    def routing_keys(self, conn: Connection, trials: Sequence[str]) -> Mapping[str, Keys]:
        """What else each trial is known by (ids merged into it, searches that found it), for
        the routes that name those."""
        ...

    def report(self, engine: Engine, config: Config) -> Report:
        """Its part of `status`."""
        ...

    def history(
        self, engine: Engine, subject: str, sent: Mapping[int, datetime | None]
    ) -> str | None:
        """`history`'s text for one of its records, each change with when the last of its
        recipients got it (`sent`); None when nothing is stored of it. Asked only with an id
        it `knows`."""
        ...

    def knows(self, subject: str) -> bool:
        """Whether `subject` is an id of the kind `history` takes here."""
        ...
