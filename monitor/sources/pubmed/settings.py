"""`[pubmed]`: how NCBI's E-utilities are asked, and when the literature side is on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.core.errors import ConfigError
from monitor.settings.sections import check_address, is_http_url, read_settings, secret, setting
from monitor.settings.tomltable import Table

DEFAULT_PUBMED_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
NCBI_API_KEY_ENV = "TRIAL_MONITOR_NCBI_API_KEY"


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
    # PubMed is read at most this often: a day's news comes once a day, and a retry of a failed
    # cycle an hour later does not pay again (`check --literature-now` reads it at once).
    min_interval_hours: float = setting(20.0, minimum=0, maximum=24 * 30)
    api_key: str | None = field(default=None, repr=False)  # only from the environment

    @property
    def min_interval_seconds(self) -> float:
        """NCBI's limit: 3 requests a second without a key, 10 with one; kept well under each,
        at most 2 and 8 as NCBI sees them arrive (NCBI has been seen to answer 429 to a client
        keeping exactly to 3), with room for a request that leaves late and the next on time."""
        return 0.14 if self.api_key else 0.55

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key else ()


def read_pubmed(table: Table, environ: Mapping[str, str]) -> PubmedConfig:
    if "api_key" in table:
        raise ConfigError(
            "pubmed.api_key is set in the config file: NCBI ties a key to one account; give it"
            f" in {NCBI_API_KEY_ENV} or {NCBI_API_KEY_ENV}_FILE instead (its value not shown)"
        )
    config = read_settings(table, PubmedConfig, {"api_key": secret(environ, NCBI_API_KEY_ENV)})
    if not is_http_url(config.base_url):
        raise ConfigError(f"pubmed.base_url = {config.base_url!r} is not an http(s) URL")
    if not config.tool or any(c.isspace() for c in config.tool):
        # NCBI: "a string with no internal spaces".
        raise ConfigError(f"pubmed.tool = {config.tool!r} must be one word, without spaces")
    if config.email is not None:
        check_address("pubmed.email", config.email)
    return config
