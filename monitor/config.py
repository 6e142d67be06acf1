"""The settings, as frozen dataclasses with their defaults: what each key of config.toml means.

Reading and checking the file is configfile.py's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from monitor.claims import Claim
from monitor.routing import Route
from monitor.sanity import SanityConfig

CONFIG_ENV = "TRIAL_MONITOR_CONFIG"
PASSWORD_ENV = "TRIAL_MONITOR_SMTP_PASSWORD"  # noqa: S105 (a variable name, not a secret)
DATABASE_URL_ENV = "TRIAL_MONITOR_DATABASE_URL"
DATABASE_PASSWORD_ENV = "TRIAL_MONITOR_DATABASE_PASSWORD"  # noqa: S105
DEFAULT_CONFIG_PATH = "config.toml"
DEFAULT_DATABASE_URL = "sqlite:///data/monitor.db"
DEFAULT_REGISTRY_URL = "https://clinicaltrials.gov/api/v2"

NCT_ID = re.compile(r"NCT\d{8}")
# Deliberately plain: enough to catch typos and header injection, not an RFC 5322 parser.
ADDRESS = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]+")
SECURITY_MODES = ("none", "starttls", "tls")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}


@dataclass(frozen=True)
class RegistryConfig:
    base_url: str = DEFAULT_REGISTRY_URL
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_seconds: float = 2.0
    # The public API allows about 50 requests a minute from one address; stay well under it.
    min_interval_seconds: float = 1.2
    page_size: int = 1000
    # Bounds on one cycle's work; reaching one stops the cycle with an error naming it.
    max_response_bytes: int = 50_000_000
    max_pages: int = 2_000
    max_records_per_cycle: int = 1_000_000


@dataclass(frozen=True)
class SearchConfig:
    name: str
    term: str


@dataclass(frozen=True)
class WatchConfig:
    trials: tuple[str, ...] = ()
    searches: tuple[SearchConfig, ...] = ()


@dataclass(frozen=True)
class EmailConfig:
    host: str
    port: int
    security: str
    sender: str
    recipients: tuple[str, ...]
    ops_recipients: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout_seconds: float = 30.0
    max_attempts: int = 3
    backoff_seconds: float = 5.0


@dataclass(frozen=True)
class ScheduleConfig:
    # The registry refreshes its data once a day, Monday to Friday, early in the US morning
    # (its /version dataTimestamp reads about 09:00 Eastern); poll after that.
    cron: str = "30 10 * * 1-5"
    timezone: str = "America/New_York"
    jitter_seconds: int = 300
    # How late a scheduled cycle may finish before `health` calls the monitor unhealthy.
    health_grace_minutes: int = 120
    # On SIGTERM a cycle in flight gets this long to finish before it is cancelled.
    shutdown_grace_seconds: float = 30.0


@dataclass(frozen=True)
class PollingConfig:
    # A full fetch of every watched trial this often, to catch what the incremental cycles
    # cannot see (a record removed from the registry leaves no "last update").
    reconcile_days: float = 7.0
    # Incremental cycles ask for trials updated since the last good cycle, less this margin.
    margin_days: int = 3
    # Snapshots older than this are pruned (never the latest of a trial, never one a reported
    # change points to, whose raw record is dropped instead).
    snapshot_retention_days: int = 365


@dataclass(frozen=True)
class AlertsConfig:
    # Cycles that fail in a row before the operators get one "monitor is failing" notice.
    after_consecutive_failures: int = 3


@dataclass(frozen=True)
class DigestConfig:
    subject_prefix: str = "[trial-monitor]"
    # The List-Id header's identifier, for mail filters (RFC 2919).
    list_id: str = "digest.trial-monitor.localhost"
    # A note to the digest's readers when a week passed with no digest, so they know the
    # monitor is alive. Off by default.
    weekly_quiet_note: bool = False
    # category → high | medium | low, over importance.DEFAULTS
    importance: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    registry: RegistryConfig
    database_url: str
    watch: WatchConfig
    email: EmailConfig | None
    digest: DigestConfig
    outbox_dir: Path
    schedule: ScheduleConfig = ScheduleConfig()
    polling: PollingConfig = PollingConfig()
    alerts: AlertsConfig = AlertsConfig()
    claims: tuple[Claim, ...] = ()
    routes: tuple[Route, ...] = ()
    sanity: SanityConfig = field(default_factory=SanityConfig)
    auto_migrate: bool = True
    source: str = "<defaults>"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret the config holds, for the log filter that blanks them out."""
        found = [self.email.password if self.email else None, make_url(self.database_url).password]
        return tuple(str(s) for s in found if s)


def list_header(digest: DigestConfig) -> str:
    """The List-Id header: the subject prefix as its label, e.g. `LDN monitor <ldn.example.org>`."""
    label = re.sub(r'[\[\]"<>]', "", digest.subject_prefix).strip()
    return f"{label} <{digest.list_id}>" if label else f"<{digest.list_id}>"


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """The --config flag wins, then TRIAL_MONITOR_CONFIG, then ./config.toml."""
    return Path(cli_value or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def default_outbox(database_url: str) -> str:
    """Beside the SQLite file when there is one: the operator already keeps that folder.
    Otherwise data/outbox, the same folder the default SQLite file lives in (/data in the image)."""
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:///:"):
        return str(Path(database_url.removeprefix("sqlite:///")).parent / "outbox")
    return "data/outbox"
