"""The core's settings, as frozen dataclasses with their defaults: what each key of config.toml
means. Each wing (a source, a channel) declares its own section in its folder (`settings.py`);
the whole configuration holds them in `Config.sections`.

Reading and checking the file is configfile.py's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import make_url

from monitor.core.articles import Article
from monitor.core.claims import Claim
from monitor.core.models import Category, Importance
from monitor.core.routing import Route
from monitor.settings.schedule import ScheduleConfig
from monitor.settings.sections import setting

_S = TypeVar("_S")

CONFIG_ENV = "TRIAL_MONITOR_CONFIG"
DATABASE_URL_ENV = "TRIAL_MONITOR_DATABASE_URL"
DATABASE_PASSWORD_ENV = "TRIAL_MONITOR_DATABASE_PASSWORD"  # noqa: S105
DEFAULT_CONFIG_PATH = "config.toml"
DEFAULT_DATABASE_URL = "sqlite:///data/monitor.db"


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
    """The whole configuration: the core's sections, then each wing's (a source's, a
    channel's), which the wing reads itself and finds again by its type (`section`)."""

    database: DatabaseConfig = DatabaseConfig()
    watch: WatchConfig = WatchConfig()
    digest: DigestConfig = field(default_factory=DigestConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    polling: PollingConfig = PollingConfig()
    alerts: AlertsConfig = AlertsConfig()
    # [[articles]], and first the unnamed article that watch.trials and [[article.claims]]
    # describe, when they are given.
    articles: tuple[Article, ...] = ()
    routes: tuple[Route, ...] = ()
    sanity: SanityConfig = SanityConfig()
    source: str = "<defaults>"
    # Read every source now, whatever its own pace (`check --literature-now`: PubMed's
    # pubmed.min_interval_hours).
    eager: bool = False
    # Each wing's settings (RegistryConfig, PubmedConfig, EmailSettings, ...); a source that is
    # off has none here.
    sections: tuple[object, ...] = ()

    def section(self, kind: type[_S]) -> _S | None:
        """A wing's settings by their type; None when that wing is off."""
        return next((s for s in self.sections if isinstance(s, kind)), None)

    def need(self, kind: type[_S]) -> _S:
        """A wing's settings that the caller knows are there (its own, once it is on)."""
        found = self.section(kind)
        if found is None:
            raise LookupError(f"no {kind.__name__} in the configuration")
        return found

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
        found = [make_url(self.database_url).password]
        for section in self.sections:
            found += getattr(section, "secrets", ())
        return tuple(str(s) for s in found if s)


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """The --config flag wins, then TRIAL_MONITOR_CONFIG, then ./config.toml."""
    return Path(cli_value or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
