"""What the rest of the monitor asks of a channel: the `Channel` protocol, and the letters it sends.

A channel is a folder, `delivery/<name>/`, that knows one way of reaching people (e-mail today),
and one object that answers `ChannelKind` (its settings, doctor check, test message) and opens a
`Channel` for one command. `delivery/__init__.py` registers each by one line; the cycle, the
alerts and the commands loop over them and name none.

A channel sends a letter (a digest, an article check, a notice) to some of its targets (e-mail
addresses, chat rooms), worded and laid out for its medium from the same words, and says what
was accepted: each target it refused for now is tried again next cycle, each refused for good is
kept aside and named to the operators. A failure it raises as `DeliveryError`, whose `permanent`
says whether trying again could help; the letter's changes are kept for the next cycle either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from monitor.core.articles import Article, Evidence
from monitor.core.checkup import Checked
from monitor.core.digest import Digest
from monitor.core.models import RenderedMessage
from monitor.core.routing import Router
from monitor.core.standing import Finding, Standing
from monitor.settings.config import Config
from monitor.settings.tomltable import Table


@dataclass(frozen=True)
class DigestLetter:
    """A digest of changes to some of a channel's targets."""

    digest: Digest
    evidence: Evidence  # what the changes are worded against: the articles, trials, papers
    where: str  # where its changes were found: "on ClinicalTrials.gov and in PubMed"
    unread: str | None = None  # the sources this cycle could not read ("PubMed")
    # Each article the changes concern, with what is newly wrong with it: the digest opens
    # with these verdicts.
    verdicts: tuple[tuple[Standing, tuple[Finding, ...]], ...] = ()
    # Each article its readers follow with high findings still open after a week: said again,
    # briefly, after the news (never as news), at most weekly.
    reminders: tuple[tuple[Standing, tuple[Finding, ...]], ...] = ()


@dataclass(frozen=True)
class CheckLetter:
    """An article's first look (the article check): its standing on the evidence now."""

    standing: Standing
    generated_at: datetime
    data_timestamp: str | None = None


@dataclass(frozen=True)
class NoticeLetter:
    """A message besides the digest: an operator notice, the weekly quiet note. `template`
    names its words (templates/NAME*); `kind` and `cycle_id` make it one message, whoever it
    goes to; `readers`: it goes to the digest's readers, as a digest does."""

    template: str
    context: Mapping[str, object]
    kind: str
    cycle_id: int
    at: datetime
    readers: bool = False


Letter = DigestLetter | CheckLetter | NoticeLetter


@dataclass(frozen=True)
class Refusal:
    """A target the service would not take while it took the letter for others."""

    target: str
    answer: str  # the service's own words: "550 no such user"
    permanent: bool  # a refusal for good: trying again cannot help

    def __str__(self) -> str:
        return f"{self.target}: {self.answer}"


@dataclass(frozen=True)
class Accepted:
    """What the service took: where the letter went, its subject and its id there (an e-mail's
    Message-ID: the same letter to the same targets has the same one), and the targets it
    refused. `kept`: written to a folder for someone to collect, not sent."""

    where: str
    subject: str = ""
    message_id: str = ""
    refused: tuple[Refusal, ...] = ()
    kept: bool = False


class Channel(Protocol):
    """A channel opened for one command."""

    @property
    def name(self) -> str:
        """Its key in the dispatch and delivery rows: "email"."""
        ...

    @property
    def transport(self) -> str:
        """How it sends, as `status` shows it: "smtp", "outbox"."""
        ...

    @property
    def router(self) -> Router:
        """Its targets: those who get every change, and each route's desk."""
        ...

    @property
    def operators(self) -> tuple[str, ...]:
        """The targets of the operators' notices."""
        ...

    async def send(self, letter: Letter, targets: tuple[str, ...]) -> Accepted:
        """Send the letter to these targets; raises DeliveryError when it could not."""
        ...

    def render(self, letter: Letter) -> RenderedMessage:
        """The letter as this channel words it (`preview` shows the digest so)."""
        ...

    def desk(self, article: Article) -> tuple[str, ...]:
        """The targets of an article's check: everyone, and the article's own desk."""
        ...


@dataclass(frozen=True)
class SentTest:
    """What a test message through a channel found: lines for the terminal, and whether a
    target was refused."""

    lines: tuple[str, ...] = ()
    refused: tuple[str, ...] = field(default=())


class ChannelKind(Protocol):
    """One channel, as the config, doctor and `send-test` see it."""

    @property
    def name(self) -> str:
        """Its key: "email"."""
        ...

    @property
    def check_name(self) -> str:
        """Its line of `doctor`: "delivery"."""
        ...

    @property
    def environment(self) -> tuple[str, ...]:
        """The variables it reads (doctor names the ones set)."""
        ...

    def read_settings(
        self, root: Table, environ: Mapping[str, str], config: Config
    ) -> object | None:
        """Its settings from its section(s) of config.toml; None when it is off."""
        ...

    def on(self, config: Config) -> bool: ...

    def open(self, config: Config, installation: str) -> Channel:
        """The channel for one command; `installation` makes its message ids this monitor's."""
        ...

    async def check(self, config: Config, environ: Mapping[str, str]) -> Checked:
        """doctor's line: everything sending does but send."""
        ...

    async def send_test(self, config: Config, now: datetime) -> SentTest | None:
        """`send-test`: one test message to its targets, the service's answer said; None when
        it has nothing to send a test message to."""
        ...
