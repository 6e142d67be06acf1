"""doctor's PubMed line: one ESearch, as a cycle's first would ask it, when the literature side
is on; without a contact address, a warning (NCBI asks every client for one)."""

from __future__ import annotations

import time
from dataclasses import replace

from monitor.core.checkup import Checked, State
from monitor.core.counted import counted
from monitor.core.errors import PubmedError
from monitor.settings.config import Config
from monitor.sources.pubmed.client import PubmedClient, make_http_client
from monitor.sources.pubmed.settings import PubmedConfig


async def check_pubmed(config: Config) -> Checked:
    """One ESearch, as a cycle's first would ask it, when the literature side is on."""
    settings = config.section(PubmedConfig)
    if settings is None:
        return State.OK, "off: no PMID and no literature search is watched (see watch.pmids)"
    # What a cycle asks first: a cited trial's papers, else a literature search, else a paper.
    terms = [
        *(f"{t}[si]" for t in config.cited_trials),
        *(s.term for s in config.watch.literature),
        *(f"{p}[uid]" for p in config.cited_pmids),
    ]
    term = terms[0]
    settings = replace(settings, max_attempts=1)
    url = f"{settings.base_url}/esearch.fcgi"
    started = time.monotonic()
    try:
        async with make_http_client(settings) as http:
            found = await PubmedClient(settings, http).search(term)
    except PubmedError as exc:
        return State.FAILED, f"{exc}: check pubmed.base_url and the network"
    took = time.monotonic() - started
    said = f"{url} answered in {took:.2f} s ({counted(found.count, 'paper')} for {term})"
    if settings.email is None:
        return State.WARNING, f"{said}; set pubmed.email: NCBI asks every client for a contact"
    return State.OK, said
