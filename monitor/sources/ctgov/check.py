"""doctor's registry line: one GET /version, as a cycle's first request, without the retries and
the minutes-long wait a 403 gets in a cycle; a failure said with what to do about it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import assert_never

from monitor.core.checkup import Checked, State
from monitor.core.errors import RegistryError
from monitor.settings.config import Config
from monitor.sources.ctgov.client import RegistryClient, RegistryRefused, make_http_client
from monitor.sources.ctgov.settings import RegistryConfig, RegistryTransport

PROXY_ENV = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
# What to do about a registry that could not be reached, by the kind of failure its message
# names (monitor.sources.http.network_failure words them).
REGISTRY_TIPS = {
    "DNS lookup failed": "check registry.base_url and this machine's DNS",
    "connection refused": "check registry.base_url: nothing listens there",
    "TLS certificate not trusted": "a proxy that intercepts TLS needs its CA in the system store",
    "the proxy failed": "check the proxy the environment names",
    "timed out": "check the firewall between this machine and the registry",
    "no whole answer": "check the firewall between this machine and the registry",
    "HTTP 5": "the registry is having trouble: run doctor again later",
}


async def check_registry(config: Config, environ: Mapping[str, str]) -> Checked:
    # One try, and no minutes-long wait after a 403: doctor answers now.
    settings = replace(config.need(RegistryConfig), max_attempts=1, refused_retries=0)
    url = settings.base_url + "/version"
    started = time.monotonic()
    try:
        async with make_http_client(settings) as http:
            stamp = await RegistryClient(settings, http).data_timestamp()
    except RegistryRefused:
        return State.FAILED, _refusal(url, settings.transport)
    except RegistryError as exc:
        tip = next((t for kind, t in REGISTRY_TIPS.items() if kind in str(exc)), None)
        what = tip or "check registry.base_url and the network"
        return State.FAILED, f"{exc}{_proxy(settings.transport, environ)}: {what}"
    took = time.monotonic() - started
    data = f"data as of {stamp}" if stamp else "it gave no data timestamp"
    return State.OK, f"{url} answered in {took:.2f} s ({data})"


def _refusal(url: str, transport: RegistryTransport) -> str:
    refused = f"{url} answered 403: the registry's edge refuses this client, not the request"
    match transport:
        case RegistryTransport.HTTPX:
            todo = 'set registry.transport = "stdlib" and run doctor again'
        case RegistryTransport.STDLIB:
            todo = "it refuses urllib too: check this machine's address and proxy"
        case _:
            assert_never(transport)
    return f"{refused}; {todo} (see docs/operating.md, Troubleshooting)"


def _proxy(transport: RegistryTransport, environ: Mapping[str, str]) -> str:
    """The proxy variables, which requests go through (both transports read them). A dead
    proxy shows as the registry's own failure ("connection refused" at its URL), hence the
    names."""
    names = [name for name in PROXY_ENV if environ.get(name)]
    if not names:
        return ""
    return f" (through the proxy in {', '.join(names)}: check it too)"
