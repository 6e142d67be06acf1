"""How often PubMed is read: at most every `pubmed.min_interval_hours`, unless something new is
cited (its first look needs PubMed now) or `check --literature-now` asks. Decided before the
client is even made: a cycle that leaves PubMed alone costs it nothing."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from monitor.settings.config import Config
from monitor.sources.pubmed.settings import PubmedConfig
from monitor.sources.pubmed.tables import Library

log = logging.getLogger(__name__)


def rested(library: Library, config: Config, now: datetime) -> bool:
    """Whether PubMed was read recently enough to be left alone this cycle: read less than
    pubmed.min_interval_hours ago, with every search known and every cited paper read."""
    hours = config.need(PubmedConfig).min_interval_hours
    last = library.last_read()
    if config.eager or last is None or now - last >= timedelta(hours=hours):
        return False
    searches = [f"{t}[si]" for t in config.cited_trials] + [s.term for s in config.watch.literature]
    if len(library.known_terms(searches)) < len(set(searches)):
        return False
    if len(library.fetched(config.cited_pmids)) < len(config.cited_pmids):
        return False
    log.info(
        "PubMed was read %.1f h ago: next after %g h (pubmed.min_interval_hours;"
        " `trial-monitor check --literature-now` reads it now)",
        (now - last).total_seconds() / 3600,
        hours,
    )
    return True
