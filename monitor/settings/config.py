"""The settings, as frozen dataclasses with their defaults: what each key of config.toml means.

Reading and checking the file is configfile.py's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import make_url

from monitor.core.articles import Article
from monitor.core.claims import Claim
from monitor.core.errors import ConfigError
from monitor.core.models import Category, Importance
from monitor.core.routing import Route

CONFIG_ENV = "TRIAL_MONITOR_CONFIG"
PASSWORD_ENV = "TRIAL_MONITOR_SMTP_PASSWORD"  # noqa: S105 (a variable name, not a secret)
DATABASE_URL_ENV = "TRIAL_MONITOR_DATABASE_URL"
DATABASE_PASSWORD_ENV = "TRIAL_MONITOR_DATABASE_PASSWORD"  # noqa: S105
DEFAULT_CONFIG_PATH = "config.toml"
DEFAULT_DATABASE_URL = "sqlite:///data/monitor.db"
DEFAULT_REGISTRY_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_PUBMED_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
NCBI_API_KEY_ENV = "TRIAL_MONITOR_NCBI_API_KEY"

# The API's own pattern, ^[Nn][Cc][Tt]0*[1-9]\d{0,7}$, in the form records use: NCT and eight
# digits, not all zero. One id outside it makes the registry refuse a whole batch (400).
NCT_ID = re.compile(r"NCT(?!0{8})\d{8}")
# Deliberately plain: enough to catch typos and header injection, not an RFC 5322 parser.
ADDRESS = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]+")

_T = TypeVar("_T")


def check_address(key: str, value: object) -> str:
    """An email address from the config, or a ConfigError naming the key."""
    if not isinstance(value, str) or "\r" in value or "\n" in value:
        raise ConfigError(f"{key} = {value!r} is not an email address")
    _, address = parseaddr(value)
    if not ADDRESS.fullmatch(address):
        raise ConfigError(f"{key} = {value!r} is not an email address")
    return value.strip()


def setting(default: _T, *, minimum: float | None = None, maximum: float | None = None) -> _T:
    """A key of config.toml, its default and its bounds, written once: configfile.py reads each
    such field by its name and type, checks the bounds, and falls back to the default."""
    return field(default=default, metadata={"minimum": minimum, "maximum": maximum})


class Security(StrEnum):
    """How the mail server is spoken to: `email.security`."""

    NONE = "none"
    STARTTLS = "starttls"  # required: never silently skipped
    TLS = "tls"  # implicit TLS


DEFAULT_PORTS = {Security.NONE: 25, Security.STARTTLS: 587, Security.TLS: 465}


class RegistryTransport(StrEnum):
    """How requests to the registry travel: `registry.transport`."""

    HTTPX = "httpx"
    # The standard library's urllib, in a worker thread: for an edge that refuses httpx.
    STDLIB = "stdlib"


@dataclass(frozen=True)
class RegistryConfig:
    base_url: str = setting(DEFAULT_REGISTRY_URL)
    timeout_seconds: float = setting(30.0, minimum=0.1)
    max_attempts: int = setting(5, minimum=1, maximum=20)
    backoff_seconds: float = setting(2.0, minimum=0)
    # The public API allows about 50 requests a minute from one address; stay well under it.
    min_interval_seconds: float = setting(1.2, minimum=0)
    page_size: int = setting(1000, minimum=1, maximum=1000)
    # Bounds on one cycle's work; reaching one stops the cycle with an error naming it.
    max_response_bytes: int = setting(50_000_000, minimum=10_000, maximum=10**10)
    max_pages: int = setting(2_000, minimum=1, maximum=10**6)
    max_records_per_cycle: int = setting(1_000_000, minimum=1, maximum=10**8)
    transport: RegistryTransport = setting(RegistryTransport.HTTPX)
    # A 403 (the edge refusing this client) is tried again this many times, after this long,
    # doubled each time, before the cycle fails: minutes, not the seconds a 503 gets.
    refused_retries: int = setting(2, minimum=0, maximum=10)
    refused_backoff_seconds: float = setting(120.0, minimum=0)


@dataclass(frozen=True)
class PubmedConfig:
    """`[pubmed]`: NCBI's E-utilities, the literature side's source."""

    base_url: str = setting(DEFAULT_PUBMED_URL)
    # NCBI asks every client to name itself and give a contact address with each request (and
    # to register both with it): it writes there before it blocks an address.
    tool: str = setting("trial-monitor")
    email: str | None = setting(None)
    timeout_seconds: float = setting(30.0, minimum=0.1)
    max_attempts: int = setting(5, minimum=1, maximum=20)
    backoff_seconds: float = setting(2.0, minimum=0)
    max_response_bytes: int = setting(50_000_000, minimum=10_000, maximum=10**10)
    # ESearch never returns more than the first 10,000 ids of a search (9,999, as measured).
    max_results: int = setting(9_999, minimum=1, maximum=9_999)
    api_key: str | None = field(default=None, repr=False)  # only from the environment

    @property
    def min_interval_seconds(self) -> float:
        """NCBI's limit: 3 requests a second without a key, 10 with one; a little under each,
        since NCBI has been seen to answer 429 to a client keeping exactly to 3."""
        return 0.11 if self.api_key else 0.37


@dataclass(frozen=True)
class SearchConfig:
    name: str
    term: str


@dataclass(frozen=True)
class WatchConfig:
    trials: tuple[str, ...] = ()
    searches: tuple[SearchConfig, ...] = ()
    # PubMed's side: papers watched for retractions and corrections (besides those articles
    # cite), and saved PubMed searches ([[watch.literature]]) whose new papers are reported.
    pmids: tuple[str, ...] = ()
    literature: tuple[SearchConfig, ...] = ()


@dataclass(frozen=True)
class EmailConfig:
    host: str
    sender: str
    recipients: tuple[str, ...]
    security: Security = setting(Security.STARTTLS)
    # The security mode's standard port unless given.
    port: int = setting(DEFAULT_PORTS[Security.STARTTLS], minimum=1, maximum=65535)
    ops_recipients: tuple[str, ...] = ()
    username: str | None = setting(None)
    password: str | None = field(default=None, repr=False)  # only from the environment
    ca_file: str | None = setting(None)
    timeout_seconds: float = setting(30.0, minimum=0.1)
    max_attempts: int = setting(3, minimum=1, maximum=20)
    backoff_seconds: float = setting(5.0, minimum=0)


@dataclass(frozen=True)
class ScheduleConfig:
    # The registry refreshes its data once a day, Monday to Friday, early in the US morning
    # (its /version dataTimestamp reads about 09:00 Eastern); poll after that.
    cron: str = setting("30 10 * * 1-5")
    timezone: str = setting("America/New_York")
    jitter_seconds: int = setting(300, minimum=0, maximum=3600)
    # How late a scheduled cycle may finish before `health` calls the monitor unhealthy.
    health_grace_minutes: int = setting(120, minimum=1, maximum=7 * 24 * 60)
    # On SIGTERM a cycle in flight gets this long to finish before it is cancelled.
    shutdown_grace_seconds: float = setting(30.0, minimum=0)


@dataclass(frozen=True)
class PollingConfig:
    # Every watched trial is read in full at least this often (a rolling slice each cycle),
    # and each search runs without its date filter: what no date shows (a record removed, a
    # paper NLM linked) is caught by then. The cited trials are read in full every cycle.
    reconcile_days: float = setting(7.0, minimum=0)
    # Cycles ask for studies updated since the day of the registry's data timestamp that the
    # last good cycle read, less this margin.
    margin_days: int = setting(1, minimum=0, maximum=60)
    # Snapshots older than this are pruned (never the latest of a trial, never one a reported
    # change points to, whose raw record is dropped instead).
    snapshot_retention_days: int = setting(365, minimum=1, maximum=100 * 365)


@dataclass(frozen=True)
class AlertsConfig:
    # Cycles that fail in a row before the operators get one "monitor is failing" notice.
    after_consecutive_failures: int = setting(3, minimum=1, maximum=1000)
    # A dead-man's switch (healthchecks.io and its self-hosted peers): called after each cycle,
    # the URL on success and <url>/fail on failure, so that a monitor that stopped running at
    # all is noticed outside it.
    ping_url: str | None = setting(None)
    ping_timeout_seconds: float = setting(10.0, minimum=0.1, maximum=120)


@dataclass(frozen=True)
class SanityConfig:
    """The sanity gate's thresholds (see sanity.py)."""

    # Hold when more than this share of the watched trials changed in one cycle...
    max_changed_share: float = setting(0.3, minimum=0, maximum=1)
    # ...and at least this many did (two of three trials completing is news, not a fault).
    min_changed_trials: int = setting(10, minimum=1, maximum=10**7)
    # Hold when the registry sent records without an NCT id or an overall status.
    hold_on_incomplete_records: bool = setting(True)


@dataclass(frozen=True)
class DigestConfig:
    subject_prefix: str = setting("[trial-monitor]")
    # The List-Id header's identifier, for mail filters (RFC 2919).
    list_id: str = setting("digest.trial-monitor.localhost")
    # A note to the digest's readers when a week passed with no digest, so they know the
    # monitor is alive. Off by default.
    weekly_quiet_note: bool = setting(False)
    # [digest.importance]: category → importance, over the rules in importance.py
    importance: Mapping[Category, Importance] = field(default_factory=dict)


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = setting(DEFAULT_DATABASE_URL)
    auto_migrate: bool = setting(True)


@dataclass(frozen=True)
class Config:
    outbox_dir: Path  # [outbox] path; its default follows the database (see default_outbox)
    registry: RegistryConfig = RegistryConfig()
    # None: the literature side is off (no [pubmed], no PMID, no literature search).
    pubmed: PubmedConfig | None = None
    database: DatabaseConfig = DatabaseConfig()
    watch: WatchConfig = WatchConfig()
    email: EmailConfig | None = None
    digest: DigestConfig = field(default_factory=DigestConfig)
    schedule: ScheduleConfig = ScheduleConfig()
    polling: PollingConfig = PollingConfig()
    alerts: AlertsConfig = AlertsConfig()
    # [[articles]], and first the unnamed article that watch.trials and [[article.claims]]
    # describe, when they are given.
    articles: tuple[Article, ...] = ()
    routes: tuple[Route, ...] = ()
    sanity: SanityConfig = SanityConfig()
    source: str = "<defaults>"

    @property
    def database_url(self) -> str:
        return self.database.url

    @property
    def claims(self) -> tuple[Claim, ...]:
        """What every article says about its trials."""
        return tuple(claim for article in self.articles for claim in article.claims)

    @property
    def cited_trials(self) -> tuple[str, ...]:
        """The trials the articles cite, and those watch.trials names, in order, no repeats."""
        every = [*self.watch.trials, *(t for article in self.articles for t in article.trials)]
        return tuple(dict.fromkeys(every))

    @property
    def cited_pmids(self) -> tuple[str, ...]:
        """The papers the articles cite and those watch.pmids names, in order, no repeats."""
        every = [
            *self.watch.pmids,
            *(p for article in self.articles for p in article.pmids),
            *(p for article in self.articles for ps in article.papers.values() for p in ps),
        ]
        return tuple(dict.fromkeys(every))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret the config holds, for the log filter that blanks them out."""
        found = [
            self.email.password if self.email else None,
            make_url(self.database_url).password,
            self.pubmed.api_key if self.pubmed else None,
        ]
        return tuple(str(s) for s in found if s)


def list_header(digest: DigestConfig) -> str:
    """The List-Id header: the subject prefix as its label, quoted, since a bare label with a
    comma or a colon makes the header invalid (RFC 2919's phrase): `"LDN monitor" <ldn.org>`."""
    label = re.sub(r'[\[\]"<>\\]', "", digest.subject_prefix).strip()
    return f'"{label}" <{digest.list_id}>' if label else f"<{digest.list_id}>"


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """The --config flag wins, then TRIAL_MONITOR_CONFIG, then ./config.toml."""
    return Path(cli_value or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def default_outbox(database_url: str) -> str:
    """Beside the SQLite file when there is one: the operator already keeps that folder.
    Otherwise data/outbox, the same folder the default SQLite file lives in (/data in the image)."""
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:///:"):
        return str(Path(database_url.removeprefix("sqlite:///")).parent / "outbox")
    return "data/outbox"
