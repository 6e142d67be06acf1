"""The monitor's requests and the stand-in's answers, held to the official API 2.0.5 spec
(tests/contract.py): the checker can fail, every URL the registry client builds passes it, and
every answer the stand-in gives is one the spec allows."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import date, timedelta
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx
import pytest
from conftest import DANISH, FINAL
from contract import check_request, check_response
from standin import RecordedRequest, StandinRegistry, ldn_studies, load_fixture, study

from monitor.sources.ctgov.client import Page, RegistryClient, make_http_client
from monitor.sources.ctgov.settings import RegistryConfig, RegistryTransport

API = "http://127.0.0.1:8080/api/v2"  # any host: the checker maps it onto the spec's server
RECORDED = "biomcp_get_nct00791778_20260902_raw.json"  # a real record, with a resultsSection
RESULTS = "NCT00791778"
TERM = "low dose naltrexone"
SINCE = date(2026, 1, 1)
# Enough ids for several filter.ids batches (about 550 fit in one URL).
MANY_IDS = [f"NCT{n:08d}" for n in range(10_000_001, 10_002_501)]

T = TypeVar("T")
Call = Callable[[RegistryClient], Awaitable[object]]


# ---------------------------------------------------------------------------------------------
# The checker can fail


@pytest.mark.parametrize(
    "target",
    [
        "/studies?format=json&fields=NCTId%2CBriefTitle&filter.ids=NCT04270877%7CNCT02806440&pageSize=1000",
        "/studies?filter.ids=NCT04270877,nct2806440&filter.overallStatus=COMPLETED|RECRUITING&countTotal=true",
        "/studies?query.term=low+dose+naltrexone&filter.advanced=AREA%5BLastUpdatePostDate%5DRANGE%5B2026-01-01%2CMAX%5D&pageToken=abc",
        "/studies?sort=LastUpdatePostDate:desc,@relevance&fields=@query",
        "/studies/NCT04270877?fields=NCTId,BriefTitle&markupFormat=legacy",
        "/version",
    ],
)
def test_a_request_the_spec_describes_passes(target: str) -> None:
    check_request(API + target)


@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        pytest.param("/studies?format=json&filterIds=NCT04270877", r"'filterIds': not declared for GET /api/v2/studies", id="unknown parameter"),
        pytest.param("/studies?filter.ids=NCT04270877%7CNCT00000000", r"'filter.ids': at 1: 'NCT00000000' does not match '\^\[Nn\]\[Cc\]\[Tt\]0\*\[1-9\].*' \[pattern\]", id="NCT00000000, pipes"),
        pytest.param("/studies?filter.ids=NCT00000000,NCT04270877", r"'filter.ids': at 0: 'NCT00000000' does not match", id="NCT00000000, commas"),
        pytest.param("/studies?markupFormat=html", r"'markupFormat': 'html' is not one of \['markdown', 'legacy'\] \[enum\]", id="markupFormat=html"),
        pytest.param("/studies?format=xml", r"'format': 'xml' is not one of \['csv', 'json'\] \[enum\]", id="format=xml"),
        pytest.param("/studies?filter.overallStatus=DONE", r"'filter.overallStatus': at 0: 'DONE' is not one of", id="status DONE"),
        pytest.param("/studies?filter.overallStatus=COMPLETED,DONE", r"'filter.overallStatus': at 1: 'DONE' is not one of", id="status DONE, second item"),
        pytest.param("/trials?filter.ids=NCT04270877", r"Path not found .*/api/v2/trials", id="unknown path"),
        pytest.param("/studies/NCT00000000", r"path parameter 'nctId': 'NCT00000000' does not match", id="bad nctId in the path"),
        pytest.param("/studies/NCT04270877?format=xml", r"'format': 'xml' is not one of", id="format=xml, one study"),
        pytest.param("/studies?pageSize=-1", r"'pageSize': -1 is less than the minimum of 0 \[minimum\]", id="pageSize below minimum"),
        pytest.param("/studies?pageSize=ten", r"pageSize.*Failed to cast value to integer", id="pageSize not an integer"),
        pytest.param("/studies?countTotal=yes", r"'countTotal': 'yes' is not a boolean", id="countTotal=yes"),
        pytest.param("/studies?sort=EnrollmentCount,StartDate,LastUpdatePostDate", r"'sort': .* is too long \[maxItems\]", id="three sort keys"),
        pytest.param("/studies?fields=NCTId,BriefTitle$", r"'fields': 'BriefTitle\$' matches .* only in part \[pattern\]", id="field name half valid"),
        pytest.param("/studies?pageSize=10&pageSize=20", r"'pageSize': given 2 times", id="repeated parameter"),
    ],
)  # fmt: skip
def test_a_request_off_the_spec_fails_naming_the_parameter_and_the_rule(
    target: str, complaint: str
) -> None:
    with pytest.raises(AssertionError, match=complaint):
        check_request(API + target)


def test_a_request_outside_the_api_path_fails() -> None:
    with pytest.raises(AssertionError, match=r"not under /api/v2/"):
        check_request("http://127.0.0.1:8080/v2/studies")


def _study(**changes: Any) -> dict[str, Any]:
    """The constructed FINAL record, with some of its modules' values replaced."""
    record = ldn_studies()[0]
    for module, values in changes.items():
        record["protocolSection"][module].update(values)
    return record


def _location_without(key: str) -> dict[str, Any]:
    """A contactsLocationsModule whose one location's geoPoint lacks `key` (lat and lon are
    both required)."""
    geo_point = {"lat": 55.4, "lon": 10.4}
    del geo_point[key]
    return {"locations": [{"facility": "Odense University Hospital", "geoPoint": geo_point}]}


@pytest.mark.parametrize(
    ("path", "body", "complaint"),
    [
        pytest.param("/studies/NCT04270877", {**_study(), "hasResults": "no"}, r"at hasResults: 'no' is not of type 'boolean' \[type\]", id="study: wrong type"),
        pytest.param("/studies/NCT04270877", _study(contactsLocationsModule=_location_without("lon")), r"geoPoint: 'lon' is a required property \[required\]", id="study: required property missing"),
        pytest.param("/studies/NCT04270877", _study(designModule={"enrollmentInfo": {"count": "99"}}), r"enrollmentInfo/count: '99' is not of type 'integer'", id="study: count as a string"),
        pytest.param("/studies/NCT04270877", _study(statusModule={"overallStatus": "DONE"}), r"overallStatus: 'DONE' is not one of", id="study: unknown status"),
        pytest.param("/studies/NCT04270877", _study(statusModule={"lastUpdatePostDateStruct": {"date": "2026-09"}}), r"'2026-09' is not a 'date' \[format\]", id="study: partial date where a full one is due"),
        pytest.param("/studies", {"totalCount": 2}, r"'studies' is a required property", id="page: no studies"),
        pytest.param("/studies", {"studies": [{**_study(), "hasResults": 1}]}, r"at studies/0/hasResults: 1 is not of type 'boolean'", id="page: a study of the wrong shape"),
        pytest.param("/studies", {"studies": [], "nextPage": "abc"}, r"Additional properties are not allowed \('nextPage'", id="page: unknown key"),
        pytest.param("/version", {"dataTimestamp": "2026-09-04T09:00:06"}, r"'apiVersion' is a required property", id="version: no apiVersion"),
    ],
)  # fmt: skip
def test_a_body_off_the_schema_fails(path: str, body: dict[str, Any], complaint: str) -> None:
    with pytest.raises(AssertionError, match=complaint):
        check_response(API + path, 200, "application/json", _json(body))


@pytest.mark.parametrize(
    ("path", "status", "content_type", "complaint"),
    [
        pytest.param("/studies", 404, "text/plain; charset=utf-8", r"Unknown response http status: 404", id="404 for /studies"),
        pytest.param("/studies/NCT04270877", 503, "text/plain; charset=utf-8", r"Unknown response http status: 503", id="503"),
        pytest.param("/studies/NCT04270877", 404, "application/json", r"mimetype not found: application/json", id="404 as JSON"),
        pytest.param("/studies", 200, "text/html; charset=utf-8", r"mimetype not found: text/html", id="200 as HTML"),
        pytest.param("/stats/sizes", 200, "application/json", r"Path not found", id="unknown path"),
    ],
)  # fmt: skip
def test_an_answer_the_spec_does_not_declare_fails(
    path: str, status: int, content_type: str, complaint: str
) -> None:
    with pytest.raises(AssertionError, match=complaint):
        check_response(API + path, status, content_type, b"Study NCT04270877 not found")


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/studies/NCT04270877", 404, b"Study NCT04270877 not found"),
        ("/studies", 400, b'{"not": "json, and not read as JSON"'),
        ("/studies/NCT04270877", 301, b""),  # declared with no content
    ],
)
def test_an_error_answer_the_spec_declares_passes_as_text(
    path: str, status: int, body: bytes
) -> None:
    check_response(API + path, status, "text/plain; charset=utf-8", body)


# ---------------------------------------------------------------------------------------------
# Every request the client builds


async def _drain(listing: AsyncIterator[T]) -> list[T]:
    return [item async for item in listing]


async def _every_batch(client: RegistryClient, nct_ids: list[str]) -> list[Page]:
    return [page for batch in client.batches(nct_ids) async for page in client.studies(batch)]


# Every public method of RegistryClient, in each of its forms: a new method is one more line
# (and test_every_public_client_method_is_called fails until it has one).
CALLS: list[tuple[str, Call]] = [
    ("data_timestamp", lambda client: client.data_timestamp()),
    ("search", lambda client: _drain(client.search(TERM))),
    ("search", lambda client: _drain(client.search(TERM, since=SINCE))),
    ("studies", lambda client: _drain(client.studies([FINAL, DANISH]))),
    ("studies", lambda client: _drain(client.studies([FINAL, DANISH], since=SINCE))),
    ("updated", lambda client: _drain(client.updated(SINCE))),
    ("updated", lambda client: _drain(client.updated(SINCE, SINCE + timedelta(days=2)))),
    ("count_updated", lambda client: client.count_updated(SINCE, SINCE + timedelta(days=2))),
    ("batches", lambda client: _every_batch(client, MANY_IDS)),
]


@pytest.fixture(params=list(RegistryTransport))
def client_requests(
    registry: StandinRegistry, request: pytest.FixtureRequest
) -> list[RecordedRequest]:
    """Every request the client sent making CALLS, through each transport (each writes the URL
    on the wire itself), against a registry holding more matching studies than one page
    takes, so that later pages (with pageToken) are asked for too."""
    registry.put_all(study(nct_id) for nct_id in MANY_IDS[::2])
    config = RegistryConfig(base_url=registry.url, min_interval_seconds=0, transport=request.param)

    async def go() -> None:
        async with make_http_client(config) as http:
            client = RegistryClient(config, http)
            for _, call in CALLS:
                await call(client)

    asyncio.run(go())
    return list(registry.requests)


def test_every_public_client_method_is_called() -> None:
    public = {
        name
        for name, _ in inspect.getmembers(RegistryClient, inspect.isfunction)
        if not name.startswith("_")
    }
    assert {name for name, _ in CALLS} == public


def test_every_request_the_client_builds_keeps_to_the_spec(
    registry: StandinRegistry, client_requests: list[RecordedRequest]
) -> None:
    # A refused request would make the rest of the listing go unseen.
    assert {request.response_status for request in client_requests} == {200}
    assert any("pageToken" in request.params for request in client_requests)
    assert sum("filter.ids" in request.params for request in client_requests) >= 6
    failures = _failures(
        lambda request: check_request(urljoin(registry.url, request.url)), client_requests
    )
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# Every stand-in answer


def test_every_answer_the_standin_gave_the_client_keeps_to_the_spec(
    registry: StandinRegistry, client_requests: list[RecordedRequest]
) -> None:
    # The stand-in keeps no bodies, so each request is sent again; page tokens stay valid
    # because nothing changes the data in between.
    with httpx.Client() as http:
        failures = _failures(
            lambda request: _check_answer(http, urljoin(registry.url, request.url), request),
            client_requests,
        )
    assert not failures, "\n".join(failures)


@pytest.fixture
def recorded_registry() -> Iterator[StandinRegistry]:
    """The stand-in holding both constructed LDN records and the real NCT00791778 record."""
    with StandinRegistry() as reg:
        reg.put_all([*ldn_studies(), load_fixture(RECORDED)])
        yield reg


@pytest.mark.parametrize(
    "target",
    [
        f"/studies?filter.ids={FINAL}|{DANISH}|{RESULTS}",
        f"/studies?format=json&filter.ids={FINAL},{DANISH},{RESULTS}&countTotal=true&pageSize=2",
        f"/studies?filter.ids={RESULTS}&markupFormat=legacy",
        f"/studies/{FINAL}",
        f"/studies/{DANISH}",
        f"/studies/{RESULTS}",
        f"/studies/{RESULTS}?fields=NCTId,ResultsSection",
        "/version",
        "/studies/NCT09999999",  # 404, text/plain
    ],
)
def test_the_standin_answers_for_the_recorded_fixtures_keep_to_the_spec(
    recorded_registry: StandinRegistry, target: str
) -> None:
    url = recorded_registry.url + target
    check_request(url)
    with httpx.Client() as http:
        _check_answer(http, url)


@pytest.mark.parametrize(
    "target",
    [
        "/studies?filter.overallStatus=DONE",
        "/studies?filter.ids=NCT00000000",
        "/studies?format=json&query.term=(low OR dose)",
        "/studies?pageToken=never-issued",
    ],
)
def test_the_standin_refuses_with_text_the_spec_allows(
    recorded_registry: StandinRegistry, target: str
) -> None:
    with httpx.Client() as http:
        response = _check_answer(http, recorded_registry.url + target)
    assert response.status_code == 400


# ---------------------------------------------------------------------------------------------
# Helpers


def _json(body: object) -> bytes:
    return json.dumps(body).encode("utf-8")


def _check_answer(
    http: httpx.Client, url: str, sent: RecordedRequest | None = None
) -> httpx.Response:
    """GET url from the stand-in and check the answer; with `sent`, it must be the answer that
    request got (same status)."""
    response = http.get(url)
    if sent is not None:
        assert response.status_code == sent.response_status, url
    check_response(url, response.status_code, response.headers["content-type"], response.content)
    return response


def _failures(
    check: Callable[[RecordedRequest], object], requests: Iterable[RecordedRequest]
) -> list[str]:
    """Every request's AssertionError message, so that one run names all of them."""
    failures = []
    for request in requests:
        try:
            check(request)
        except AssertionError as exc:
            failures.append(str(exc))
    return failures
