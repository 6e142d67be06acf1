"""config.toml → Config: every key read, typed and checked, at start-up.

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
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from monitor.claims import FIELDS as CLAIM_FIELDS
from monitor.claims import Claim
from monitor.config import (
    ADDRESS,
    DATABASE_PASSWORD_ENV,
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    DEFAULT_PORTS,
    NCT_ID,
    PASSWORD_ENV,
    SECURITY_MODES,
    AlertsConfig,
    Config,
    DigestConfig,
    EmailConfig,
    PollingConfig,
    RegistryConfig,
    ScheduleConfig,
    SearchConfig,
    WatchConfig,
    default_outbox,
)
from monitor.errors import ConfigError
from monitor.importance import DEFAULTS as IMPORTANCE_DEFAULTS
from monitor.importance import LEVELS
from monitor.models import PHASE_WORDS, STATUS_WORDS
from monitor.routing import Route
from monitor.sanity import SanityConfig
from monitor.schedule import make_trigger
from monitor.tomltable import Table


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
    root = Table(data, "")
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


def _registry(table: Table) -> RegistryConfig:
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


def _database_url(table: Table, environ: Mapping[str, str]) -> str:
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


def _watch(table: Table) -> WatchConfig:
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
        search = Table(item, key)
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


def _email(table: Table | None, environ: Mapping[str, str]) -> EmailConfig | None:
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


def _schedule(table: Table) -> ScheduleConfig:
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


def _polling(table: Table) -> PollingConfig:
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


def _claims(table: Table) -> tuple[Claim, ...]:
    """[[article.claims]]: what the article says about a trial, one table per trial."""
    claims: list[Claim] = []
    for index, item in enumerate(table.array("claims", default=[])):
        key = f"article.claims[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{key} = {item!r} is not a table")
        entry = Table(item, key)
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


def _claim_value(entry: Table, name: str) -> str:
    key = entry.key(name)
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
        raw = entry.array(name) if isinstance(entry.raw(name), list) else [entry.string(name)]
        phases = [str(p).strip().upper() for p in raw]
        if not phases or any(p not in PHASE_WORDS for p in phases):
            raise ConfigError(f"{key} = {entry.raw(name)!r} is not a phase like PHASE2")
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
        table = Table(item, key)
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


def _sanity(table: Table) -> SanityConfig:
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


def _alerts(table: Table) -> AlertsConfig:
    config = AlertsConfig(
        after_consecutive_failures=table.integer("after_consecutive_failures", 3, 1, 1000)
    )
    table.done()
    return config


def _ca_file(path: str | None) -> str | None:
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"email.ca_file = {path!r} is not a readable file")
    return path


def _digest(table: Table) -> DigestConfig:
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


def _importance(table: Table) -> dict[str, str]:
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
