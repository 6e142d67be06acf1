"""config.toml → frozen dataclasses, validated at start-up.

Every problem is a ConfigError that names the key and the value, so an operator can fix the file
from the one line the command prints. Unknown keys are errors too: a misspelt key that is silently
ignored is a setting that silently does not apply. Secrets never come from the file, only from the
environment (or a file named by `*_FILE`, for container secrets).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from monitor.claims import FIELDS as CLAIM_FIELDS
from monitor.claims import Claim
from monitor.errors import ConfigError
from monitor.importance import DEFAULTS as IMPORTANCE_DEFAULTS
from monitor.importance import LEVELS
from monitor.models import PHASE_WORDS, STATUS_WORDS
from monitor.routing import Route
from monitor.sanity import SanityConfig
from monitor.schedule import make_trigger

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


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return parse_config(data, env, source=str(path))


def parse_config(data: Mapping[str, Any], environ: Mapping[str, str], source: str) -> Config:
    root = _Table(data, "")
    database = root.table("database")
    database_url = _database_url(database, environ)
    auto_migrate = database.boolean("auto_migrate", True)
    database.done()
    outbox = root.table("outbox")
    outbox_dir = Path(outbox.string("path", default_outbox(database_url)))
    outbox.done()
    watch = _watch(root.table("watch"))
    config = Config(
        registry=_registry(root.table("registry")),
        database_url=database_url,
        watch=watch,
        email=_email(root.optional_table("email"), environ),
        digest=_digest(root.table("digest")),
        outbox_dir=outbox_dir,
        schedule=_schedule(root.table("schedule")),
        polling=_polling(root.table("polling")),
        alerts=_alerts(root.table("alerts")),
        claims=_claims(root.table("article")),
        routes=_routes(root.array("routes", default=[]), watch),
        sanity=_sanity(root.table("sanity")),
        auto_migrate=auto_migrate,
        source=source,
    )
    root.done()
    _check_references(config)
    return config


def _check_references(config: Config) -> None:
    """Claims and routes may only name trials and searches the monitor watches."""
    watched = set(config.watch.trials)
    unwatched = sorted({c.trial for c in config.claims} - watched)
    if unwatched:
        raise ConfigError(
            f"article.claims name {unwatched[0]}, which watch.trials does not list: add it there"
        )
    for index, route in enumerate(config.routes):
        stray = sorted(route.trials - watched)
        if stray:
            raise ConfigError(
                f"routes[{index}].trials name {stray[0]}, which watch.trials does not list"
            )


def default_outbox(database_url: str) -> str:
    """Beside the SQLite file when there is one: the operator already keeps that folder.
    Otherwise data/outbox, the same folder the default SQLite file lives in (/data in the image)."""
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:///:"):
        return str(Path(database_url.removeprefix("sqlite:///")).parent / "outbox")
    return "data/outbox"


def _registry(table: _Table) -> RegistryConfig:
    defaults = RegistryConfig()
    base_url = table.string("base_url", defaults.base_url).rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"registry.base_url = {base_url!r} is not an http(s) URL")
    config = RegistryConfig(
        base_url=base_url,
        timeout_seconds=table.number("timeout_seconds", defaults.timeout_seconds, minimum=0.1),
        max_attempts=table.integer("max_attempts", defaults.max_attempts, minimum=1, maximum=20),
        backoff_seconds=table.number("backoff_seconds", defaults.backoff_seconds, minimum=0),
        min_interval_seconds=table.number(
            "min_interval_seconds", defaults.min_interval_seconds, minimum=0
        ),
        page_size=table.integer("page_size", defaults.page_size, minimum=1, maximum=1000),
        max_response_bytes=table.integer(
            "max_response_bytes", defaults.max_response_bytes, minimum=10_000, maximum=10**10
        ),
        max_pages=table.integer("max_pages", defaults.max_pages, minimum=1, maximum=10**6),
        max_records_per_cycle=table.integer(
            "max_records_per_cycle", defaults.max_records_per_cycle, minimum=1, maximum=10**8
        ),
    )
    table.done()
    return config


def _database_url(table: _Table, environ: Mapping[str, str]) -> str:
    """database.url, or TRIAL_MONITOR_DATABASE_URL; the password only from the environment."""
    url = table.string("url", DEFAULT_DATABASE_URL)
    key = "database.url"
    if environ.get(DATABASE_URL_ENV):
        url, key = environ[DATABASE_URL_ENV], DATABASE_URL_ENV
    if not re.match(r"(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(f"{key} = {_redact_url(url)!r} is not a sqlite:/// or postgresql:// URL")
    password = _secret(environ, DATABASE_PASSWORD_ENV)
    if password:
        if not url.startswith("postgresql"):
            raise ConfigError(f"{DATABASE_PASSWORD_ENV} is set but {key} is not a PostgreSQL URL")
        url = make_url(url).set(password=password).render_as_string(hide_password=False)
    return url


def _watch(table: _Table) -> WatchConfig:
    trials: dict[str, None] = {}  # ordered, without repeats, fast for 100,000 ids
    for index, value in enumerate(table.array("trials", default=[])):
        key = f"watch.trials[{index}]"
        if not isinstance(value, str) or not NCT_ID.fullmatch(value.strip().upper()):
            raise ConfigError(f"{key} = {value!r} is not an NCT id like NCT04270877")
        trials[value.strip().upper()] = None
    searches: list[SearchConfig] = []
    for index, item in enumerate(table.array("searches", default=[])):
        key = f"watch.searches[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{key} = {item!r} is not a table with name and term")
        search = _Table(item, key)
        name = search.string("name")
        term = search.string("term")
        search.done()
        if not name.strip() or not term.strip():
            raise ConfigError(f"{key} needs a non-empty name and term")
        if any(s.term == term.strip() for s in searches):
            raise ConfigError(f"{key}.term = {term!r} repeats an earlier search")
        searches.append(SearchConfig(name.strip(), term.strip()))
    table.done()
    return WatchConfig(tuple(trials), tuple(searches))


def _email(table: _Table | None, environ: Mapping[str, str]) -> EmailConfig | None:
    if table is None:
        return None
    host = table.string("host")
    if not host.strip() or any(c.isspace() for c in host):
        raise ConfigError(f"email.host = {host!r} is not a host name")
    security = table.string("security", "starttls")
    if security not in SECURITY_MODES:
        raise ConfigError(
            f"email.security = {security!r} is not one of {', '.join(SECURITY_MODES)}"
        )
    port = table.integer("port", DEFAULT_PORTS[security], minimum=1, maximum=65535)
    sender = _address("email.sender", table.string("sender"))
    recipients = tuple(
        _address(f"email.recipients[{i}]", value)
        for i, value in enumerate(table.array("recipients"))
    )
    ops_recipients = tuple(
        _address(f"email.ops_recipients[{i}]", value)
        for i, value in enumerate(table.array("ops_recipients", []))
    )
    if not recipients:
        raise ConfigError("email.recipients is empty: name at least one address")
    username = table.string("username", "") or None
    config = EmailConfig(
        host=host,
        port=port,
        security=security,
        sender=sender,
        recipients=recipients,
        ops_recipients=ops_recipients,
        username=username,
        password=_password(environ, username),
        ca_file=_ca_file(table.string("ca_file", "") or None),
        timeout_seconds=table.number("timeout_seconds", 30.0, minimum=0.1),
        max_attempts=table.integer("max_attempts", 3, minimum=1, maximum=20),
        backoff_seconds=table.number("backoff_seconds", 5.0, minimum=0),
    )
    table.done()
    return config


def _schedule(table: _Table) -> ScheduleConfig:
    defaults = ScheduleConfig()
    config = ScheduleConfig(
        cron=table.string("cron", defaults.cron),
        timezone=table.string("timezone", defaults.timezone),
        jitter_seconds=table.integer("jitter_seconds", defaults.jitter_seconds, 0, 3600),
        health_grace_minutes=table.integer(
            "health_grace_minutes", defaults.health_grace_minutes, 1, 7 * 24 * 60
        ),
        shutdown_grace_seconds=table.number(
            "shutdown_grace_seconds", defaults.shutdown_grace_seconds, minimum=0
        ),
    )
    table.done()
    make_trigger(config)  # checked here, so that a bad schedule stops `check` as well as `run`
    return config


def _polling(table: _Table) -> PollingConfig:
    defaults = PollingConfig()
    config = PollingConfig(
        reconcile_days=table.number("reconcile_days", defaults.reconcile_days, minimum=0),
        margin_days=table.integer("margin_days", defaults.margin_days, 0, 60),
        snapshot_retention_days=table.integer(
            "snapshot_retention_days", defaults.snapshot_retention_days, 1, 100 * 365
        ),
    )
    table.done()
    return config


def _claims(table: _Table) -> tuple[Claim, ...]:
    """[[article.claims]]: what the article says about a trial, one table per trial."""
    claims: list[Claim] = []
    for index, item in enumerate(table.array("claims", default=[])):
        key = f"article.claims[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{key} = {item!r} is not a table")
        entry = _Table(item, key)
        trial = entry.string("trial").strip().upper()
        if not NCT_ID.fullmatch(trial):
            raise ConfigError(f"{key}.trial = {trial!r} is not an NCT id like NCT04270877")
        found = [
            Claim(trial, name, _claim_value(entry, name)) for name in CLAIM_FIELDS if name in item
        ]
        entry.done()
        if not found:
            raise ConfigError(f"{key} states nothing: give one of {', '.join(CLAIM_FIELDS)}")
        claims.extend(found)
    table.done()
    return tuple(claims)


def _claim_value(entry: _Table, name: str) -> str:
    key = entry._key(name)
    if name == "status":
        value = entry.string(name).strip().upper()
        if value not in STATUS_WORDS:
            raise ConfigError(f"{key} = {value!r} is not a registry status like COMPLETED")
        return value
    if name == "enrollment":
        return str(entry.integer(name, 0, 0, 10**9))
    if name == "enrollment_type":
        value = entry.string(name).strip().upper()
        if value not in ("ACTUAL", "ESTIMATED"):
            raise ConfigError(f"{key} = {value!r} is not ACTUAL or ESTIMATED")
        return value
    if name == "phase":
        raw = entry.array(name) if isinstance(entry._data[name], list) else [entry.string(name)]
        phases = [str(p).strip().upper() for p in raw]
        if not phases or any(p not in PHASE_WORDS for p in phases):
            raise ConfigError(f"{key} = {entry._data[name]!r} is not a phase like PHASE2")
        return "|".join(phases)
    if name == "results_posted":
        return "true" if entry.boolean(name, False) else "false"
    return str(entry.integer(name, 2000, 1900, 2200))  # completion_year


def _routes(items: list[Any], watch: WatchConfig) -> tuple[Route, ...]:
    """[[routes]]: a desk gets the changes of chosen trials and of chosen searches' trials
    (searches by name, as watch.searches names them)."""
    terms = {s.name: s.term for s in watch.searches}
    routes = []
    for index, item in enumerate(items):
        key = f"routes[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{key} = {item!r} is not a table")
        table = _Table(item, key)
        name = table.string("name").strip()
        recipients = tuple(
            _address(f"{key}.recipients[{i}]", value)
            for i, value in enumerate(table.array("recipients"))
        )
        trials = [str(t).strip().upper() for t in table.array("trials", [])]
        searches = [str(s).strip() for s in table.array("searches", [])]
        table.done()
        if not name or not recipients:
            raise ConfigError(f"{key} needs a name and at least one address in recipients")
        if not trials and not searches:
            raise ConfigError(f"{key} ({name}) names no trials and no searches")
        unknown = [s for s in searches if s not in terms]
        if unknown:
            raise ConfigError(f"{key}.searches: {unknown[0]!r} is not the name of a watch.searches")
        bad = [t for t in trials if not NCT_ID.fullmatch(t)]
        if bad:
            raise ConfigError(f"{key}.trials: {bad[0]!r} is not an NCT id like NCT04270877")
        search_terms = frozenset(terms[s] for s in searches)
        routes.append(Route(name, recipients, frozenset(trials), search_terms))
    return tuple(routes)


def _sanity(table: _Table) -> SanityConfig:
    defaults = SanityConfig()
    share = table.number("max_changed_share", defaults.max_changed_share, minimum=0)
    if share > 1:
        raise ConfigError(f"sanity.max_changed_share = {share!r} is not between 0 and 1")
    config = SanityConfig(
        max_changed_share=share,
        min_changed_trials=table.integer(
            "min_changed_trials", defaults.min_changed_trials, 1, 10**7
        ),
        hold_on_incomplete_records=table.boolean(
            "hold_on_incomplete_records", defaults.hold_on_incomplete_records
        ),
    )
    table.done()
    return config


def _alerts(table: _Table) -> AlertsConfig:
    config = AlertsConfig(
        after_consecutive_failures=table.integer("after_consecutive_failures", 3, 1, 1000)
    )
    table.done()
    return config


def _ca_file(path: str | None) -> str | None:
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"email.ca_file = {path!r} is not a readable file")
    return path


def _digest(table: _Table) -> DigestConfig:
    prefix = table.string("subject_prefix", DigestConfig.subject_prefix)
    if "\r" in prefix or "\n" in prefix:
        raise ConfigError(f"digest.subject_prefix = {prefix!r} contains a line break")
    importance = _importance(table.table("importance"))
    list_id = table.string("list_id", DigestConfig.list_id).strip()
    if not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", list_id):
        raise ConfigError(f"digest.list_id = {list_id!r} is not a dotted name like ldn.example.org")
    quiet = table.boolean("weekly_quiet_note", DigestConfig.weekly_quiet_note)
    table.done()
    return DigestConfig(prefix.strip(), list_id, quiet, importance)


def _importance(table: _Table) -> dict[str, str]:
    levels = {}
    for name in sorted(table.keys()):
        if name not in IMPORTANCE_DEFAULTS:
            choices = ", ".join(IMPORTANCE_DEFAULTS)
            raise ConfigError(f"digest.importance.{name} is not a category: one of {choices}")
        level = table.string(name)
        if level not in LEVELS:
            raise ConfigError(f"digest.importance.{name} = {level!r} is not high, medium or low")
        levels[name] = level
    table.done()
    return levels


def _address(key: str, value: object) -> str:
    if not isinstance(value, str) or "\r" in value or "\n" in value:
        raise ConfigError(f"{key} = {value!r} is not an email address")
    _, address = parseaddr(value)
    if not ADDRESS.fullmatch(address):
        raise ConfigError(f"{key} = {value!r} is not an email address")
    return value.strip()


def _secret(environ: Mapping[str, str], name: str) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE (container secrets)."""
    file_env = name + "_FILE"
    direct, path = environ.get(name), environ.get(file_env)
    if direct and path:
        raise ConfigError(f"both {name} and {file_env} are set: keep one")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n") or None
        except OSError as exc:
            raise ConfigError(f"{file_env} = {path!r} cannot be read: {exc.strerror}") from None
    return direct or None


def _password(environ: Mapping[str, str], username: str | None) -> str | None:
    file_env = PASSWORD_ENV + "_FILE"
    password = _secret(environ, PASSWORD_ENV)
    if username and not password:
        raise ConfigError(f"email.username is set but neither {PASSWORD_ENV} nor {file_env} is")
    if password and not username:
        raise ConfigError(f"{PASSWORD_ENV} is set but email.username is not")
    return password or None


def _redact_url(url: str) -> str:
    """A database URL may carry a password; error messages must not."""
    return re.sub(r"(//[^:/@]*):[^@]*@", r"\1:***@", url)


_T = TypeVar("_T")


class _Table:
    """One TOML table being read: typed getters that name the key, and a check for leftovers."""

    def __init__(self, data: Mapping[str, Any], prefix: str) -> None:
        self._data = dict(data)
        self._prefix = prefix
        self._seen: set[str] = set()

    def _key(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def _get(self, name: str, kind: type[_T], kind_name: str, default: _T | None) -> _T:
        self._seen.add(name)
        if name not in self._data:
            if default is None:
                raise ConfigError(f"{self._key(name)} is missing")
            return default
        value = self._data[name]
        # bool is an int in Python; a `true` where a number belongs is still a mistake.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{self._key(name)} = {value!r} is not {kind_name}")
        return value

    def string(self, name: str, default: str | None = None) -> str:
        return self._get(name, str, "a string", default)

    def array(self, name: str, default: list[Any] | None = None) -> list[Any]:
        return self._get(name, list, "a list", default)

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        value = self._get(name, int, "a whole number", default)
        if not minimum <= value <= maximum:
            raise ConfigError(
                f"{self._key(name)} = {value!r} is not between {minimum} and {maximum}"
            )
        return value

    def number(self, name: str, default: float, minimum: float) -> float:
        self._seen.add(name)
        value = self._data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self._key(name)} = {value!r} is not a number")
        if value < minimum:
            raise ConfigError(f"{self._key(name)} = {value!r} is below {minimum}")
        return float(value)

    def keys(self) -> list[str]:
        return list(self._data)

    def boolean(self, name: str, default: bool) -> bool:
        return self._get(name, bool, "true or false", default)

    def optional_table(self, name: str) -> _Table | None:
        self._seen.add(name)
        if name not in self._data:
            return None
        return self.table(name)

    def table(self, name: str) -> _Table:
        value = self._get(name, dict, "a table", {})
        return _Table(value, self._key(name))

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            key = self._key(unknown[0])
            raise ConfigError(f"unknown key {key} = {self._data[unknown[0]]!r}")
