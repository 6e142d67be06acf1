"""`[registry]`: how ClinicalTrials.gov is asked (its address, pace, retries, bounds)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from urllib.parse import urlsplit

from monitor.core.errors import ConfigError
from monitor.settings.sections import read_settings, setting
from monitor.settings.tomltable import Table

DEFAULT_REGISTRY_URL = "https://clinicaltrials.gov/api/v2"


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

    @property
    def secrets(self) -> tuple[str, ...]:
        return ()


def read_registry(table: Table) -> RegistryConfig:
    """`[registry]`, every key optional: the registry is always read."""
    config = read_settings(table, RegistryConfig)
    base_url = config.base_url.rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"registry.base_url = {base_url!r} is not an http(s) URL")
    return replace(config, base_url=base_url)
