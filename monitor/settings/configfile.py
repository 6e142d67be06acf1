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
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from monitor.core.errors import ConfigError, without_password
from monitor.core.models import NCT_ID, PMID, Category, Importance
from monitor.core.routing import Route
from monitor.settings.config import (
    DATABASE_PASSWORD_ENV,
    DATABASE_URL_ENV,
    AlertsConfig,
    Config,
    DatabaseConfig,
    DigestConfig,
    PollingConfig,
    SanityConfig,
    SearchConfig,
    WatchConfig,
)
from monitor.settings.configarticles import read_articles
from monitor.settings.schedule import ScheduleConfig, make_trigger
from monitor.settings.sections import check_address, read_settings, secret
from monitor.settings.tomltable import Table


class Wing(Protocol):
    """A source or a channel, as the config sees it: it reads its own section of the file."""

    def read_settings(
        self, root: Table, environ: Mapping[str, str], config: Config
    ) -> object | None:
        """Its settings from its table(s) of `root` (None: it is off), given the core's
        `config` (what the articles cite decides whether some are on)."""
        ...


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, wings: Sequence[Wing] = ()
) -> Config:
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
    return parse_config(data, env, source=str(path), wings=wings)


def parse_config(
    data: Mapping[str, Any],
    environ: Mapping[str, str],
    source: str,
    wings: Sequence[Wing] = (),
) -> Config:
    root = Table(data, "")
    database = _database(root.table("database"), environ)
    watch = _watch(root.table("watch"))
    config = Config(
        database=database,
        watch=watch,
        digest=_digest(root.table("digest")),
        schedule=_schedule(root.table("schedule")),
        polling=read_settings(root.table("polling"), PollingConfig),
        alerts=read_settings(root.table("alerts"), AlertsConfig),
        articles=read_articles(root, watch),
        routes=_routes(root.array("routes", default=[]), watch),
        sanity=read_settings(root.table("sanity"), SanityConfig),
        source=source,
    )
    # Each wing reads its own section; one that is off gives none.
    sections = [wing.read_settings(root, environ, config) for wing in wings]
    config = replace(config, sections=tuple(s for s in sections if s is not None))
    root.done()
    _check_ping(config.alerts.ping_url)
    _check_references(config)
    return config


def _check_ping(url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise ConfigError(f"alerts.ping_url = {url!r} is not an http(s) address")


def _check_references(config: Config) -> None:
    """Something to watch, and routes that name only trials and searches the monitor watches."""
    watch = config.watch
    if not (config.cited_trials or config.articles or config.cited_pmids) and not (
        watch.searches or watch.literature
    ):
        raise ConfigError(
            f"the configuration in {config.source} watches nothing: give [[articles]] (see"
            " `trial-monitor cite`), watch.trials, watch.searches, watch.pmids or"
            " [[watch.literature]]"
        )
    watched = set(config.cited_trials)
    for index, route in enumerate(config.routes):
        stray = sorted(route.trials - watched)
        if stray:
            raise ConfigError(
                f"routes[{index}].trials name {stray[0]}, which no article and not watch.trials"
                " cite"
            )


def _database(table: Table, environ: Mapping[str, str]) -> DatabaseConfig:
    """database.url, or TRIAL_MONITOR_DATABASE_URL; the password only from the environment."""
    config = read_settings(table, DatabaseConfig)
    url, key = config.url, "database.url"
    if environ.get(DATABASE_URL_ENV):
        url, key = environ[DATABASE_URL_ENV], DATABASE_URL_ENV
    if not re.match(r"(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(
            f"{key} = {without_password(url)!r} is not a sqlite:/// or postgresql:// URL"
        )
    try:
        given_password = make_url(url).password
    except ArgumentError:
        raise ConfigError(f"{key} = {without_password(url)!r} is not a database URL") from None
    if key == "database.url" and given_password is not None:
        raise ConfigError(
            f"database.url = {without_password(url)!r} holds a password: a password in the config"
            f" file is read by anyone who can read it; give it in {DATABASE_PASSWORD_ENV} or"
            f" {DATABASE_PASSWORD_ENV}_FILE (or the whole URL in {DATABASE_URL_ENV}) instead"
        )
    password = secret(environ, DATABASE_PASSWORD_ENV)
    if password:
        if not url.startswith("postgresql"):
            raise ConfigError(f"{DATABASE_PASSWORD_ENV} is set but {key} is not a PostgreSQL URL")
        url = make_url(url).set(password=password).render_as_string(hide_password=False)
    return replace(config, url=url)


def _watch(table: Table) -> WatchConfig:
    trials: dict[str, None] = {}  # ordered, without repeats, fast for 100,000 ids
    for index, value in enumerate(table.array("trials", default=[])):
        key = f"watch.trials[{index}]"
        if not isinstance(value, str) or not NCT_ID.fullmatch(value.strip().upper()):
            raise ConfigError(f"{key} = {value!r} is not an NCT id like NCT04270877")
        trials[value.strip().upper()] = None
    searches = _searches(table, "searches", registry=True)
    pmids: dict[str, None] = {}
    for index, value in enumerate(table.array("pmids", default=[])):
        if not isinstance(value, str) or not PMID.fullmatch(value.strip()):
            raise ConfigError(f"watch.pmids[{index}] = {value!r} is not a PubMed id like 32068870")
        pmids[value.strip()] = None
    literature = _searches(table, "literature", registry=False)
    table.done()
    return WatchConfig(tuple(trials), searches, tuple(pmids), literature)


def _searches(table: Table, name: str, *, registry: bool) -> tuple[SearchConfig, ...]:
    """`[[watch.searches]]` (the registry's) or `[[watch.literature]]` (PubMed's): each a name
    and a term, no term twice, brackets and parentheses balanced."""
    where = "the registry" if registry else "PubMed"
    searches: list[SearchConfig] = []
    for index, item in enumerate(table.array(name, default=[])):
        key = f"watch.{name}[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{key} = {item!r} is not a table with name and term")
        search = Table(item, key)
        label = search.string("name")
        term = search.string("term")
        search.done()
        if not label.strip() or not term.strip():
            raise ConfigError(f"{key} needs a non-empty name and term")
        if any(s.term == term.strip() for s in searches):
            raise ConfigError(f"{key}.term = {term!r} repeats an earlier search")
        problem = _unbalanced(term)
        if problem:
            raise ConfigError(f"{key}.term = {term!r} has {problem}: {where} would refuse it")
        searches.append(SearchConfig(label.strip(), term.strip()))
    return tuple(searches)


def _schedule(table: Table) -> ScheduleConfig:
    config = read_settings(table, ScheduleConfig)
    make_trigger(config)  # checked here, so that a bad schedule stops `check` as well as `run`
    return config


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
            check_address(f"{key}.recipients[{i}]", value)
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


def _digest(table: Table) -> DigestConfig:
    config = read_settings(table, DigestConfig, given={"importance": _importance(table)})
    if "\r" in config.subject_prefix or "\n" in config.subject_prefix:
        raise ConfigError(
            f"digest.subject_prefix = {config.subject_prefix!r} contains a line break"
        )
    list_id = config.list_id.strip()
    if not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", list_id):
        raise ConfigError(f"digest.list_id = {list_id!r} is not a dotted name like ldn.example.org")
    return replace(config, subject_prefix=config.subject_prefix.strip(), list_id=list_id)


def _importance(digest: Table) -> dict[Category, Importance]:
    table = digest.table("importance")
    levels = {}
    for name in sorted(table.keys()):
        if name not in {c.value for c in Category}:
            choices = ", ".join(Category)
            raise ConfigError(f"digest.importance.{name} is not a category: one of {choices}")
        level = table.string(name)
        if level not in {i.value for i in Importance}:
            raise ConfigError(f"digest.importance.{name} = {level!r} is not high, medium or low")
        levels[Category(name)] = Importance(level)
    table.done()
    return levels


def _unbalanced(term: str) -> str | None:
    """An obvious mistake in a search term (the registry's Essie, or PubMed's syntax): a
    bracket or parenthesis without its partner, outside double quotes. Either service would
    refuse it, every cycle."""
    closing = {")": "(", "]": "["}
    opened: list[str] = []
    quoted = False
    for char in term:
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "([":
            opened.append(char)
        elif char in closing and (not opened or opened.pop() != closing[char]):
            return f"a {char!r} without its opening partner"
    if quoted:
        return "a double quote without its closing partner"
    return f"a {opened[-1]!r} that is never closed" if opened else None
