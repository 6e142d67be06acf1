"""The registry client against the stand-in over real HTTP: batching, pages, retries, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from standin import Fault, StandinRegistry, study

from monitor.core.errors import LimitError, RegistryError
from monitor.sources.ctgov.client import (
    MAX_URL_BYTES,
    Page,
    RegistryClient,
    RegistryRefused,
    make_http_client,
)
from monitor.sources.ctgov.normalize import TRACKED_FIELDS
from monitor.sources.ctgov.settings import RegistryConfig, RegistryTransport

UNRELATED = "biomcp_get_nct02576665_full_20260903.json"
# Every test here runs through both transports (registry.transport): httpx's own, and urllib's.
TRANSPORT = {"current": RegistryTransport.HTTPX}


@pytest.fixture(autouse=True, params=list(RegistryTransport))
def transport(request: pytest.FixtureRequest) -> RegistryTransport:
    TRANSPORT["current"] = request.param
    return TRANSPORT["current"]


def config_of(reg: StandinRegistry, **settings: Any) -> RegistryConfig:
    return RegistryConfig(base_url=reg.url, transport=TRANSPORT["current"], **settings)


class Sleeps:
    """Stands in for asyncio.sleep, so that back-off and Retry-After are seen, not waited for."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client_run(
    reg: StandinRegistry, work: Callable[[RegistryClient], Awaitable[list[Page]]], **settings: Any
) -> tuple[list[Page], Sleeps]:
    """Run `work` with a client of the stand-in; sleeps are recorded, not slept."""
    sleeps = Sleeps()
    config = config_of(reg, min_interval_seconds=0, backoff_seconds=0.5, **settings)

    async def go() -> list[Page]:
        async with make_http_client(config) as http:
            return await work(RegistryClient(config, http, sleep=sleeps))

    return asyncio.run(go()), sleeps


def search(reg: StandinRegistry, term: str, **settings: Any) -> tuple[list[Page], Sleeps]:
    async def work(client: RegistryClient) -> list[Page]:
        return [page async for page in client.search(term)]

    return client_run(reg, work, **settings)


def fetch(reg: StandinRegistry, nct_ids: list[str], **settings: Any) -> tuple[list[Page], Sleeps]:
    async def work(client: RegistryClient) -> list[Page]:
        return [page for batch in client.batches(nct_ids) async for page in client.studies(batch)]

    return client_run(reg, work, **settings)


def ids_of(pages: list[Page]) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for page in pages for s in page]


def test_a_search_follows_every_page_repeating_the_first_request(registry: StandinRegistry) -> None:
    registry.put_all(study(f"NCT0600000{i}") for i in range(1, 6))
    pages, _ = search(registry, "low dose naltrexone", page_size=2)
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert len(set(ids_of(pages))) == 7
    first, *later = registry.requests_to("/studies")
    assert "pageToken" not in first.params
    for request in later:
        assert {k: v for k, v in request.params.items() if k != "pageToken"} == first.params


def test_only_the_tracked_fields_are_asked_for_with_a_descriptive_user_agent(
    registry: StandinRegistry,
) -> None:
    pages, _ = search(registry, "low dose naltrexone")
    [request] = registry.requests_to("/studies")
    assert request.params["fields"].split(",") == list(TRACKED_FIELDS)
    assert request.params["query.term"] == "low dose naltrexone"
    assert request.params["pageSize"] == "1000"
    assert request.headers["user-agent"].startswith("trial-monitor/")
    record = pages[0][0]
    assert set(record["protocolSection"]) <= {
        "identificationModule",
        "statusModule",
        "designModule",
        "referencesModule",
        "conditionsModule",
        "armsInterventionsModule",
        "sponsorCollaboratorsModule",
    }


def test_many_ids_go_in_few_batches_each_under_the_url_limit(registry: StandinRegistry) -> None:
    wanted = [f"NCT{n:08d}" for n in range(10_000_001, 10_002_501)]
    registry.put_all(study(nct_id, template=UNRELATED) for nct_id in wanted[::2])
    pages, _ = fetch(registry, wanted)
    requests = registry.requests_to("/studies")
    assert 4 <= len(requests) <= 6  # 2,500 ids, about 550 per URL
    assert all(len(r.url) <= MAX_URL_BYTES and r.response_status == 200 for r in requests)
    asked = [i for r in requests for i in r.params["filter.ids"].split("|")]
    assert sorted(asked) == wanted
    assert sorted(ids_of(pages)) == wanted[::2]


def test_429_waits_as_long_as_retry_after_says(registry: StandinRegistry) -> None:
    registry.fail_next(Fault.rate_limited(retry_after="7"))
    pages, sleeps = search(registry, "low dose naltrexone")
    assert len(ids_of(pages)) == 2
    assert sleeps.waits == [7.0]


@pytest.mark.parametrize(
    "fault",
    [Fault.status(503), Fault.status(500), Fault.drop(), Fault.garbled(), Fault.html()],
    ids=["503", "500", "dropped connection", "garbled JSON", "HTML page"],
)
def test_passing_failures_are_retried_with_backoff(registry: StandinRegistry, fault: Fault) -> None:
    registry.fail_next(fault, fault)
    pages, sleeps = search(registry, "low dose naltrexone")
    assert len(ids_of(pages)) == 2
    assert len(sleeps.waits) == 2
    assert 0.4 <= sleeps.waits[0] < sleeps.waits[1] <= 1.2


def test_a_registry_that_stays_down_is_one_clear_error(registry: StandinRegistry) -> None:
    registry.fail_always(Fault.status(503))
    with pytest.raises(
        RegistryError,
        match=r"registry http://127\.0\.0\.1:\d+/api/v2/studies failed after 4 attempts: HTTP 503",
    ):
        search(registry, "low dose naltrexone", max_attempts=4)
    assert len(registry.requests) == 4


def test_a_slow_registry_times_out_and_is_retried(registry: StandinRegistry) -> None:
    registry.fail_next(Fault.slow(2))
    pages, sleeps = search(registry, "low dose naltrexone", timeout_seconds=0.3)
    assert len(ids_of(pages)) == 2
    assert len(sleeps.waits) == 1


def test_a_bad_request_is_not_retried_and_its_text_body_is_quoted(
    registry: StandinRegistry,
) -> None:
    registry.fail_next(Fault.status(400, body="filter.ids: bad value <NCT0>"))
    with pytest.raises(RegistryError, match=r"HTTP 400: filter.ids: bad value <NCT0>"):
        search(registry, "low dose naltrexone")
    assert len(registry.requests) == 1


def test_version_gives_the_data_timestamp(registry: StandinRegistry) -> None:
    registry.data_timestamp = "2026-11-24T09:00:06"

    async def go() -> str | None:
        config = config_of(registry, min_interval_seconds=0)
        async with make_http_client(config) as http:
            return await RegistryClient(config, http).data_timestamp()

    assert asyncio.run(go()) == "2026-11-24T09:00:06"


def test_requests_are_paced(registry: StandinRegistry) -> None:
    sleeps = Sleeps()

    async def go() -> None:
        config = config_of(registry, min_interval_seconds=5)
        async with make_http_client(config) as http:
            client = RegistryClient(config, http, sleep=sleeps)
            await client.data_timestamp()
            await client.data_timestamp()

    asyncio.run(go())
    assert len(sleeps.waits) == 1
    assert 4 < sleeps.waits[0] <= 5


def test_a_response_past_the_size_limit_stops_the_read(registry: StandinRegistry) -> None:
    registry.put_all(study(f"NCT0600{n:04d}") for n in range(40))
    with pytest.raises(
        LimitError,
        match=r"a response from 127.0.0.1 passed 5,000 bytes \(registry.max_response_bytes\)",
    ):
        search(registry, "low dose naltrexone", max_response_bytes=5_000)


def test_a_listing_past_the_page_limit_stops(registry: StandinRegistry) -> None:
    with pytest.raises(LimitError, match=r"went past 1 pages \(registry.max_pages\)"):
        search(registry, "low dose naltrexone", page_size=1, max_pages=1)


def version(reg: StandinRegistry, **settings: Any) -> tuple[str | None, Sleeps]:
    """`/version` through a client of the stand-in; sleeps are recorded, not slept."""
    sleeps = Sleeps()
    config = config_of(reg, min_interval_seconds=0, backoff_seconds=0.5, **settings)

    async def go() -> str | None:
        async with make_http_client(config) as http:
            return await RegistryClient(config, http, sleep=sleeps).data_timestamp()

    return asyncio.run(go()), sleeps


def test_a_403_is_tried_again_after_minutes_then_named_in_one_line(
    registry: StandinRegistry,
) -> None:
    registry.fail_always(Fault.refused())
    with pytest.raises(RegistryRefused) as caught:
        version(registry, refused_retries=2, refused_backoff_seconds=120)
    assert str(caught.value) == (
        f"the registry refused this client (HTTP 403) at {registry.url}/version after 3 tries"
        " over minutes; see docs/operating.md, Troubleshooting"
    )
    registry.fail_always(None)
    registry.fail_next(Fault.refused())
    stamp, sleeps = version(registry, refused_retries=2, refused_backoff_seconds=120)
    assert stamp == registry.data_timestamp
    assert sleeps.waits == [120]  # minutes, not the seconds a 503 gets


def test_a_redirect_within_the_registry_is_followed(registry: StandinRegistry) -> None:
    registry.fail_next(Fault.status(301, "", headers={"Location": "/api/v2/version"}))
    stamp, _ = version(registry)
    assert stamp == registry.data_timestamp


def test_a_redirect_to_another_host_is_not_followed(registry: StandinRegistry) -> None:
    elsewhere = "http://forged.example/api/v2/version"
    registry.fail_next(Fault.status(302, "", headers={"Location": elsewhere}))
    with pytest.raises(
        RegistryError, match=r"to http://forged\.example: another host, not followed"
    ):
        version(registry)
