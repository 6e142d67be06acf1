"""The seams of the house: a third source and a second channel are each a class of their own,
handed to the composition root beside the registered ones, and run through whole `check`s
(the registry stand-in, PubMed's, a real SMTP server) with no change to any file of the monitor.

The toy source is a retraction register on loopback (as Crossref's Retraction Watch notices
will be): it says which cited papers were retracted; what it finds goes through the database
into the e-mail digest, named as found there. The toy channel is a chat webhook on loopback:
it gets the article check, the same digest in its own words, and nothing twice.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from conftest import FINAL, LDN_ARTICLE, Run, World, body
from sqlalchemy import Connection, Engine, select
from standin import set_piece

from monitor.cli import main
from monitor.core.articles import Article, Evidence
from monitor.core.checkup import Checked, State
from monitor.core.errors import SourceError
from monitor.core.models import Change, ChangeKind, RenderedMessage
from monitor.core.routing import Keys, Router
from monitor.delivery.channel import (
    Accepted,
    CheckLetter,
    DigestLetter,
    Letter,
    NoticeLetter,
    SentTest,
)
from monitor.editorial.words import change_words
from monitor.house import House
from monitor.settings.config import Config
from monitor.settings.tomltable import Table
from monitor.sources.base import Report, Turn, Wanted
from monitor.sources.http import RequestStats
from monitor.store.changes import write_changes
from monitor.store.schema import changes

CITED = "32068870"  # a paper the LDN article cites


# -- the services on loopback ------------------------------------------------------------------


class Loopback:
    """A register that lists notices (GET /notices) and a chat webhook (POST /chat)."""

    def __init__(self) -> None:
        self.notices: list[dict[str, str]] = []
        self.posted: list[dict[str, Any]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(json.dumps(service.notices).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                service.posted.append(json.loads(self.rfile.read(length)))
                self._answer(b'{"ok": true}')

            def _answer(self, content: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    service = Loopback()
    service.thread.start()
    yield service
    service.server.shutdown()
    service.server.server_close()


# -- a third source ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterSettings:
    base_url: str


class ToyRegister:
    """A retraction register: the notices it lists on cited papers are news, once."""

    name = "toy"
    label = "the toy register"
    where = "in the toy register"
    check_name = "toy"
    required = False
    environment: tuple[str, ...] = ()
    history_example: str | None = None

    def read_settings(
        self, root: Table, environ: Mapping[str, str], config: Config
    ) -> RegisterSettings | None:
        if "toy" not in root:
            return None
        table = root.table("toy")
        settings = RegisterSettings(table.string("base_url"))
        table.done()
        return settings

    def on(self, config: Config) -> bool:
        return config.section(RegisterSettings) is not None

    @asynccontextmanager
    async def reader(self, config: Config) -> AsyncIterator[RegisterReader]:
        async with httpx.AsyncClient(base_url=config.need(RegisterSettings).base_url) as http:
            yield RegisterReader(http)

    async def check(self, config: Config, environ: Mapping[str, str]) -> Checked:
        async with httpx.AsyncClient(base_url=config.need(RegisterSettings).base_url) as http:
            answer = await http.get("/notices")
        return State.OK, f"the toy register answered {answer.status_code}"

    def stored(self, engine: Engine, config: Config, wanted: Wanted) -> Evidence:
        return Evidence()  # the papers' titles are PubMed's

    def routing_keys(self, conn: Connection, trials: Sequence[str]) -> Mapping[str, Keys]:
        return {}

    def report(self, engine: Engine, config: Config) -> Report:
        with engine.connect() as conn:
            told = len(conn.execute(select(changes.c.id).where(changes.c.source == "toy")).all())
        return Report(lines=(f"The toy register: {told} notices told", ""), json={"toy": told})

    def knows(self, subject: str) -> bool:
        return False

    def history(
        self, engine: Engine, subject: str, sent: Mapping[int, datetime | None]
    ) -> str | None:
        return None


class RegisterReader:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.stats = RequestStats()

    async def read(self, turn: Turn) -> None:
        try:
            answer = await self.http.get("/notices")
        except httpx.HTTPError as exc:  # translated at the edge, as every source does
            raise SourceError(f"the toy register could not be asked: {exc!r}") from None
        self.stats.requests += 1
        cited = set(turn.config.cited_pmids)
        with turn.engine.begin() as conn:
            told = {
                (row.pmid, row.after)
                for row in conn.execute(
                    select(changes.c.pmid, changes.c.after).where(changes.c.source == "toy")
                )
            }
            news = [
                Change(None, ChangeKind.PAPER_NOTICE, after=n["kind"], detail=n["notice"], pmid=p)
                for n in answer.json()
                if (p := n["pmid"]) in cited and (p, n["kind"]) not in told
            ]
            write_changes(conn, turn.cycle_id, "toy", [(c, None) for c in news], turn.clock())
        turn.tally.changes += len(news)

    async def evidence(self, articles: Sequence[Article]) -> Evidence:
        return Evidence()


# -- a second channel --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatSettings:
    url: str
    room: str


class ToyChatKind:
    name = "toychat"
    check_name = "chat"
    environment: tuple[str, ...] = ()

    def read_settings(
        self, root: Table, environ: Mapping[str, str], config: Config
    ) -> ChatSettings | None:
        if "chat" not in root:
            return None
        table = root.table("chat")
        settings = ChatSettings(table.string("url"), table.string("room"))
        table.done()
        return settings

    def on(self, config: Config) -> bool:
        return config.section(ChatSettings) is not None

    def open(self, config: Config, installation: str) -> ToyChat:
        return ToyChat(config.need(ChatSettings))

    async def check(self, config: Config, environ: Mapping[str, str]) -> Checked:
        return State.OK, f"{config.need(ChatSettings).room} configured (nothing posted)"

    async def send_test(self, config: Config, now: datetime) -> SentTest | None:
        return None


class ToyChat:
    name = "toychat"
    transport = "webhook"

    def __init__(self, settings: ChatSettings) -> None:
        self.settings = settings
        self.router = Router((settings.room,))
        self.operators: tuple[str, ...] = ()

    def desk(self, article: Article) -> tuple[str, ...]:
        return self.router.everyone

    def render(self, letter: Letter) -> RenderedMessage:
        match letter:
            case DigestLetter():
                lines = [change_words(c).line for t in letter.digest.trials for c in t.changes]
                title = f"{letter.digest.change_count} changes {letter.where}"
            case CheckLetter():
                title, lines = f"First look at {letter.standing.article.name}", []
            case NoticeLetter():
                title, lines = letter.template, []
        return RenderedMessage(title, "\n".join(lines), "")

    async def send(self, letter: Letter, targets: tuple[str, ...]) -> Accepted:
        rendered = self.render(letter)
        post = {"targets": list(targets), "title": rendered.subject, "text": rendered.text}
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{self.settings.url}/chat", json=post)
        return Accepted(f"{self.settings.url}: {answer.status_code}", rendered.subject)


# -- the house with both, through the public commands ------------------------------------------


HOUSE = House(
    (*House.registered().sources, ToyRegister()),
    (*House.registered().channels, ToyChatKind()),
)


def command(world: World, *args: str) -> Run:
    """`trial-monitor --config … ARGS`, with the toy source and channel in the house."""
    path = world.write_config()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(path), *args], house=HOUSE)
    return Run(code, out.getvalue(), err.getvalue())


def test_a_third_source_and_a_second_channel_run_through_whole_checks(
    world: World, loopback: Loopback
) -> None:
    world.trials, world.searches = [], []
    world.pubmed_settings = 'tool = "trial-monitor"'  # PubMed's stand-in, whatever else is set
    world.extra = (
        LDN_ARTICLE
        + f'\n[toy]\nbase_url = "{loopback.url}"\n'
        + f'\n[chat]\nurl = "{loopback.url}"\nroom = "#ldn-desk"\n'
    )
    first = command(world, "check")
    assert first.code == 0, first
    # The first look goes to both channels: e-mail, and the chat room.
    assert len(world.article_checks) == 1
    assert [p["title"] for p in loopback.posted] == [
        "First look at Low-dose naltrexone: what the evidence says"
    ]
    assert world.messages == []

    notice = {"pmid": CITED, "kind": "RetractionIn", "notice": "99999998 Toy Register 2026"}
    loopback.notices.append(notice)
    second = command(world, "check")
    assert second.code == 0, second
    [digest] = world.messages
    text = body(digest)
    assert "1 change in the toy register." in text
    assert f"This cited paper was retracted: PMID {CITED}" in text
    assert "The notice: PMID 99999998, Toy Register 2026" in text
    chat = loopback.posted[-1]
    assert chat["targets"] == ["#ldn-desk"]
    assert chat["title"] == "1 changes in the toy register"
    assert f"This cited paper was retracted: PMID {CITED}" in chat["text"]
    with world.engine() as engine, engine.connect() as conn:
        assert conn.execute(select(changes.c.source)).scalars().all() == ["toy"]

    # Told once, on each channel.
    posted = len(loopback.posted)
    assert command(world, "check").code == 0
    assert len(world.messages) == 1 and len(loopback.posted) == posted

    # The operator's commands loop over it too.
    status = command(world, "status")
    assert "The toy register: 1 notices told" in status.out
    assert json.loads(command(world, "status", "--json").out)["toy"] == 1
    doctor = command(world, "doctor")
    lines = {line.split()[1]: line for line in doctor.out.splitlines()[:-1]}
    assert lines["toy"].startswith("ok") and "answered 200" in lines["toy"]
    assert lines["chat"].startswith("ok") and "#ldn-desk" in lines["chat"]


def test_the_house_as_shipped_reads_no_section_of_a_wing_it_does_not_have(world: World) -> None:
    """Without the toy in the house, its section is an unknown key: the seam is the house."""
    world.extra = '\n[toy]\nbase_url = "http://127.0.0.1:9"\n'
    run = world.command("check")
    assert run.code == 2 and "unknown key toy" in run.err


def test_an_unreachable_third_source_is_said_and_the_registry_news_still_goes_out(
    world: World, loopback: Loopback
) -> None:
    world.searches = []
    world.pubmed_settings = 'tool = "trial-monitor"'
    world.extra = '\n[toy]\nbase_url = "http://127.0.0.1:9"\n'
    assert command(world, "check").code == 4  # baseline; the register's failure is said
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    run = command(world, "check")
    assert run.code == 4, run  # done, but a source could not be read: for every source
    assert "the toy register could not be read: the toy register could not be asked" in run.out
    [digest] = world.messages
    assert "the toy register could not be read this time" in body(digest)
    assert "Completed → Terminated" in body(digest)
