"""The world the cycle tests run in: a stand-in registry and a real SMTP server on loopback, a
database in a temporary folder, and the `trial-monitor` command run on a config written there."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
import readback
from pings import receiver  # noqa: F401 # a fixture, for every test
from pubmed_standin import StandinPubmed
from smtp import Accepted, SmtpServer
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from standin import StandinRegistry, ldn_studies

from monitor.cli import main
from monitor.core.errors import ConfigError
from monitor.core.models import Change, PendingChange
from monitor.delivery.deliveries import Deliveries
from monitor.house import parse_config
from monitor.sources.pubmed.settings import PubmedConfig
from monitor.store.db import make_engine

FINAL, DANISH = "NCT04270877", "NCT02806440"
LDN_SEARCH = ("Low-dose naltrexone", "low dose naltrexone")
URL = "https://example.org/articles/ldn"
# The article as config.toml ships it (its claims read from the real text by `cite`).
LDN_ARTICLE = f"""
[[articles]]
title = "Low-dose naltrexone: what the evidence says"
url = "{URL}"
trials = ["{FINAL}", "{DANISH}"]
pmids = ["32068870", "32845365", "30248938"]

[[articles.claims]]
trial = "{FINAL}"
status = "COMPLETED"
enrollment = 99
phase = "PHASE2"
completion_year = 2022
passage = "the paragraph on FINAL"

[[articles.claims]]
trial = "{DANISH}"
status = "COMPLETED"
enrollment = 58
phase = "PHASE4"
passage = "the paragraph on the Danish crossover"
"""
ROOT = Path(__file__).resolve().parent.parent
# The PostgreSQL these machines run (trust auth); each test gets a schema of its own in it.
POSTGRES_URL = os.environ.get(
    "TRIAL_MONITOR_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class World:
    tmp: Path
    registry: StandinRegistry
    smtp: SmtpServer
    database_url: str
    trials: list[str] = field(default_factory=lambda: [FINAL, DANISH])
    searches: list[tuple[str, str]] = field(default_factory=lambda: [LDN_SEARCH])
    email: bool = True
    email_extra: str = ""  # more lines for the [email] table
    extra: str = ""  # more tables, at the end
    registry_settings: str = ""  # more lines for the [registry] table
    database_settings: str = ""  # more lines for the [database] table
    digest_settings: str = ""  # more lines for the [digest] table
    # PubMed's stand-in: the [pubmed] table points at it whenever the config turns the
    # literature side on (a PMID, a literature search) or a test gives pubmed_settings, so
    # that no test ever asks the real NCBI.
    pubmed: StandinPubmed | None = None
    pubmed_settings: str = ""  # more lines for the [pubmed] table

    @property
    def config_path(self) -> Path:
        return self.tmp / "config.toml"

    def write_config(self) -> Path:
        trials = ", ".join(f'"{t}"' for t in self.trials)
        searches = "".join(
            f'[[watch.searches]]\nname = "{name}"\nterm = "{term}"\n'
            for name, term in self.searches
        )
        email = (
            "[email]\n"
            'host = "127.0.0.1"\n'
            f"port = {self.smtp.port}\n"
            'sender = "LDN monitor <monitor@example.org>"\n'
            'recipients = ["editor@example.org", "desk@example.org"]\n'
            "max_attempts = 2\nbackoff_seconds = 0\ntimeout_seconds = 5\n"
            + (self.email_extra or 'security = "none"\n')
        )
        text_ = "\n".join(
            [
                "[registry]",
                *_unless_given(
                    self.registry_settings,
                    f'base_url = "{self.registry.url}"',
                    "min_interval_seconds = 0",
                    "backoff_seconds = 0.01",
                    "max_attempts = 3",
                    "timeout_seconds = 5",
                ),
                self.registry_settings,
                "[database]",
                *_unless_given(self.database_settings, f'url = "{self.database_url}"'),
                self.database_settings,
                "[digest]",
                *_unless_given(self.digest_settings, 'subject_prefix = "[LDN monitor]"'),
                self.digest_settings,
                "[watch]",
                f"trials = [{trials}]",
                searches,
                email if self.email else "",
                self.extra,
            ]
        )
        if self.pubmed is not None and (self.pubmed_settings or _literature_on(text_)):
            text_ += "\n".join(
                [
                    "\n[pubmed]",
                    *_unless_given(
                        self.pubmed_settings,
                        f'base_url = "{self.pubmed.url}"',
                        "backoff_seconds = 0.01",
                        "max_attempts = 2",
                        "timeout_seconds = 5",
                        # The tests' cycles follow one another in seconds: PubMed is read at
                        # each, unless a test is about pubmed.min_interval_hours.
                        "min_interval_hours = 0",
                    ),
                    self.pubmed_settings,
                ]
            )
        self.config_path.write_text(text_, encoding="utf-8")
        return self.config_path

    def check(self) -> Run:
        """`trial-monitor --config … check`, in this process."""
        return self.command("check")

    def baseline(self) -> Run:
        """The first cycle: it sets the baseline and mails nothing but each article's first
        look (the article check)."""
        run = self.check()
        assert run.code == 0, run
        assert self.messages == [], [m["Subject"] for m in self.messages]
        return run

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """`trial-monitor --config … ARGS` as a separate process (runs that overlap, signals)."""
        self.write_config()
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(self.config_path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.tmp,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )

    def command(self, *args: str) -> Run:
        """Any `trial-monitor --config … ARGS`, in this process."""
        self.write_config()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--config", str(self.config_path), *args])
        return Run(code, out.getvalue(), err.getvalue())

    @property
    def messages(self) -> list[EmailMessage]:
        """What the mail server accepted, but for the articles' first looks (see
        `article_checks`): the digests and notices a test counts."""
        return [m for m in self.smtp.messages if not is_article_check(m)]

    @property
    def accepted(self) -> list[Accepted]:
        """As `messages`, with each message's envelope (who it went to)."""
        return [a for a in self.smtp.recorder.accepted if not is_article_check(a.message)]

    @property
    def article_checks(self) -> list[EmailMessage]:
        return [m for m in self.smtp.messages if is_article_check(m)]

    @contextlib.contextmanager
    def engine(self) -> Iterator[Engine]:
        """The monitor's database, for a look behind the commands; closed afterwards."""
        engine = make_engine(self.database_url)
        try:
            yield engine
        finally:
            engine.dispose()

    def snapshot_count(self, nct_id: str) -> int:
        with self.engine() as engine:
            return readback.snapshot_count(engine, nct_id)

    def changes(self) -> list[Change]:
        """Every change the monitor recorded, in order."""
        with self.engine() as engine:
            return readback.all_changes(engine)

    def pending(self) -> list[PendingChange]:
        with self.engine() as engine:
            return Deliveries(engine).pending()


def _literature_on(text_: str) -> bool:
    """Whether this config turns PubMed's side on (False for a config that does not load:
    the test is about that)."""
    try:
        return parse_config(tomllib.loads(text_), {}, "test").section(PubmedConfig) is not None
    except (tomllib.TOMLDecodeError, ConfigError):
        return False


def is_article_check(message: EmailMessage) -> bool:
    return str(message["Message-ID"]).strip().startswith("<article-check.")


def _unless_given(settings: str, *defaults: str) -> list[str]:
    """The test world's default lines, but for the keys a test sets itself."""
    given = {line.split("=")[0].strip() for line in settings.splitlines() if "=" in line}
    return [line for line in defaults if line.split("=")[0].strip() not in given]


def body(message: EmailMessage, subtype: str = "plain", *, raw: bool = False) -> str:
    """A part's text with its lines joined, as a sentence reads whatever the wrapping (each run
    of spaces and line breaks one space); `raw` for the lines as sent."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n") if raw else flat(content)


def flat(text: str) -> str:
    """Each run of spaces and line breaks as one space: text as it reads, not as it wraps."""
    return " ".join(text.split())


@pytest.fixture
def registry() -> Iterator[StandinRegistry]:
    with StandinRegistry() as reg:
        reg.put_all(ldn_studies())
        yield reg


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that touches the database runs on SQLite and on PostgreSQL; one marked
    `no_database` (it never reaches the store) runs once; one marked `postgresql_only` tests
    what only PostgreSQL enforces."""
    if "database_url" in metafunc.fixturenames:
        marked = metafunc.definition.get_closest_marker
        kinds = ["sqlite", "postgresql"]
        if marked("no_database"):
            kinds = ["sqlite"]
        elif marked("postgresql_only"):
            kinds = ["postgresql"]
        metafunc.parametrize("database_url", kinds, indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a new schema in the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'monitor.db'}"
        return
    with postgres_schema() as url:
        yield url


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    admin = create_engine(POSTGRES_URL)
    schema = f"tm_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            raise  # CI starts PostgreSQL first; it being down there is a failure
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}: {str(exc).splitlines()[0]}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def pubmed() -> Iterator[StandinPubmed]:
    with StandinPubmed() as standin:
        yield standin


@pytest.fixture
def world(
    tmp_path: Path,
    registry: StandinRegistry,
    smtp_server: SmtpServer,
    database_url: str,
    pubmed: StandinPubmed,
) -> World:
    return World(tmp_path, registry, smtp_server, database_url, pubmed=pubmed)
