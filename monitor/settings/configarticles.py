"""`[[articles]]` (and the keys that describe one unnamed article: `watch.trials` and
`[[article.claims]]`) read from config.toml and checked, each mistake one line naming the key.

    [[articles]]
    id = "ldn"                                # optional: else the url's last segment, or the title
    title = "Low-dose naltrexone: what the evidence says"
    url = "https://example.org/ldn"
    trials = ["NCT04270877", "NCT02806440"]
    pmids = ["32068870", "32845365", "30248938"]
    recipients = ["ldn-desk@example.org"]     # optional: the desk responsible for it

    [[articles.claims]]
    trial = "NCT04270877"
    status = "COMPLETED"
    enrollment = 99
    passage = "The Human Evidence, on FINAL"  # what to re-check when the trial moves
    passages = ["Key takeaways"]             # more places that speak of it, if any
    outcome = "no benefit"                   # what the article says it found (or "not stated")
    publications = ["38258677"]              # papers it cites as this trial's, besides pmids
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, assert_never
from urllib.parse import urlsplit

from monitor.core.articles import Article, StatedOutcome
from monitor.core.claims import Claim, ClaimField
from monitor.core.errors import ConfigError
from monitor.core.models import NCT_ID, PHASES, PMID, STATUSES
from monitor.settings.config import WatchConfig
from monitor.settings.sections import check_address
from monitor.settings.tomltable import Table

DEFAULT_ID = "default"  # the id of the unnamed article that watch.trials describes
ARTICLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")


@dataclass(frozen=True)
class _Said:
    """What the claims tables of one article say."""

    claims: tuple[Claim, ...] = ()
    passages: Mapping[str, tuple[str, ...]] | None = None
    papers: Mapping[str, tuple[str, ...]] | None = None
    outcomes: Mapping[str, StatedOutcome] | None = None


def read_articles(root: Table, watch: WatchConfig) -> tuple[Article, ...]:
    """The unnamed article (when watch.trials or [[article.claims]] are given), then
    [[articles]], each under a name no other has."""
    legacy = root.table("article")
    said = _claims(legacy.array("claims", default=[]), "article.claims", watch.trials)
    legacy.done()
    named = [_article(item, f"articles[{i}]") for i, item in enumerate(root.array("articles", []))]
    seen: set[str] = set()
    for index, article in enumerate(named):
        if article.key in seen:
            which = "url" if article.url else "title"
            raise ConfigError(f"articles[{index}] has the {which} of an earlier article")
        seen.add(article.key)
    unnamed = (
        [_assemble("", "", None, DEFAULT_ID, watch.trials, (), said, ())] if watch.trials else []
    )
    ids: set[str] = set()
    for index, article in enumerate([*unnamed, *named]):
        if article.id in ids:
            where = "watch.trials" if not article.key else f"articles[{index - len(unnamed)}]"
            raise ConfigError(
                f"{where} has the id {article.id!r} of an earlier article: give it its own id"
            )
        ids.add(article.id)
    return (*unnamed, *named)


def _article(item: object, key: str) -> Article:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{key} = {item!r} is not a table")
    table = Table(item, key)
    title = table.string("title").strip()
    if not title or "\n" in title or "\r" in title:
        raise ConfigError(f"{key}.title = {title!r} is not a one-line title")
    url = table.string("url", "").strip() or None
    if url is not None and (
        urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc
    ):
        raise ConfigError(f"{key}.url = {url!r} is not an http(s) address")
    trials = _ids(table, "trials", NCT_ID, "an NCT id like NCT04270877")
    pmids = _ids(table, "pmids", PMID, "a PubMed id like 32068870")
    recipients = tuple(
        check_address(f"{key}.recipients[{i}]", value)
        for i, value in enumerate(table.array("recipients", []))
    )
    said = _claims(table.array("claims", []), f"{key}.claims", trials)
    given = table.string("id", "").strip()
    table.done()
    if given and not ARTICLE_ID.fullmatch(given):
        raise ConfigError(
            f"{key}.id = {given!r} is not a short id (letters, digits, '-' and '_', up to 60)"
        )
    if not trials and not pmids:
        raise ConfigError(f"{key} ({title}) cites no trials and no papers: give trials or pmids")
    article_id = given or article_id_of(url, title)
    return _assemble(url or title, title, url, article_id, trials, pmids, said, recipients)


def article_id_of(url: str | None, title: str) -> str:
    """An article's id when the config gives none: the last segment of its url's path (without
    an extension), else a slug of its title."""
    segment = (urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] if url else "").rsplit(".", 1)[0]
    slug = _slug(segment) or _slug(title)
    return slug or "article"


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:60].strip("-")


def _assemble(
    key: str,
    title: str,
    url: str | None,
    article_id: str,
    trials: Sequence[str],
    pmids: Sequence[str],
    said: _Said,
    recipients: tuple[str, ...],
) -> Article:
    return Article(
        key=key,
        title=title,
        url=url,
        trials=tuple(trials),
        pmids=tuple(pmids),
        claims=tuple(Claim(c.trial, c.field, c.expected, key) for c in said.claims),
        passages=said.passages or {},
        papers=said.papers or {},
        recipients=recipients,
        id=article_id,
        outcomes=said.outcomes or {},
    )


def _ids(table: Table, name: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for index, value in enumerate(table.array(name, [])):
        cleaned = str(value).strip().upper() if isinstance(value, str) else None
        if cleaned is None or not pattern.fullmatch(cleaned):
            raise ConfigError(f"{table.key(name)}[{index}] = {value!r} is not {what}")
        found[cleaned] = None
    return tuple(found)


def _claims(items: list[Any], prefix: str, trials: Sequence[str]) -> _Said:
    """The claims tables: what the article says about each trial, one table per trial."""
    claims: list[Claim] = []
    passages: dict[str, tuple[str, ...]] = {}
    papers: dict[str, tuple[str, ...]] = {}
    outcomes: dict[str, StatedOutcome] = {}
    where = "watch.trials" if prefix == "article.claims" else f"{prefix.rsplit('.', 1)[0]}.trials"
    for index, item in enumerate(items):
        key = f"{prefix}[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{key} = {item!r} is not a table")
        entry = Table(item, key)
        trial = entry.string("trial").strip().upper()
        if not NCT_ID.fullmatch(trial):
            raise ConfigError(f"{key}.trial = {trial!r} is not an NCT id like NCT04270877")
        if trial not in trials:
            raise ConfigError(f"{prefix} name {trial}, which {where} does not list: add it there")
        found = [
            Claim(trial, name, _claim_value(entry, name)) for name in ClaimField if name in item
        ]
        where_said = _passages(entry)
        cited = _ids(entry, "publications", PMID, "a PubMed id like 38258677")
        outcome = _outcome(entry) if "outcome" in item else None
        entry.done()
        if not found and not where_said and not cited and outcome is None:
            said = ", ".join([*ClaimField, "outcome"])
            raise ConfigError(f"{key} states nothing: give one of {said}")
        claims.extend(found)
        if where_said:
            passages[trial] = where_said
        if cited:
            papers[trial] = cited
        if outcome is not None:
            outcomes[trial] = outcome
    return _Said(tuple(claims), passages, papers, outcomes)


def _passages(entry: Table) -> tuple[str, ...]:
    """Where the article discusses the trial: `passage`, and `passages` beside it."""
    one = entry.string("passage", "").strip()
    more = [str(p).strip() for p in entry.array("passages", [])]
    if any(not p for p in more) or any(not isinstance(p, str) for p in entry.array("passages", [])):
        raise ConfigError(f"{entry.key('passages')} must be a list of non-empty strings")
    return tuple(dict.fromkeys(p for p in (one, *more) if p))


def _outcome(entry: Table) -> StatedOutcome:
    value = " ".join(entry.string("outcome").lower().replace("-", " ").split())
    try:
        return StatedOutcome(value)
    except ValueError:
        choices = ", ".join(repr(o.value) for o in StatedOutcome)
        raise ConfigError(f"{entry.key('outcome')} = {value!r} is not one of {choices}") from None


def _claim_value(entry: Table, name: ClaimField) -> str:
    key = entry.key(name)
    match name:
        case ClaimField.STATUS:
            value = entry.string(name).strip().upper()
            if value not in STATUSES:
                raise ConfigError(f"{key} = {value!r} is not a registry status like COMPLETED")
            return value
        case ClaimField.ENROLLMENT:
            return str(entry.integer(name, 0, 0, 10**9))
        case ClaimField.ENROLLMENT_TYPE:
            value = entry.string(name).strip().upper()
            if value not in ("ACTUAL", "ESTIMATED"):
                raise ConfigError(f"{key} = {value!r} is not ACTUAL or ESTIMATED")
            return value
        case ClaimField.PHASE:
            raw = entry.array(name) if isinstance(entry.raw(name), list) else [entry.string(name)]
            phases = [str(p).strip().upper() for p in raw]
            if not phases or any(p not in PHASES for p in phases):
                raise ConfigError(f"{key} = {entry.raw(name)!r} is not a phase like PHASE2")
            return "|".join(phases)
        case ClaimField.RESULTS_POSTED:
            return "true" if entry.boolean(name, False) else "false"
        case ClaimField.COMPLETION_YEAR:
            return str(entry.integer(name, 2000, 1900, 2200))
        case _:
            assert_never(name)
