"""Checks that the ClinicalTrials.gov stand-in (tests/standin.py) behaves as specified."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from standin import (
    Fault,
    StandinRegistry,
    add_reference,
    fixture_bytes,
    ldn_studies,
    load_fixture,
    set_piece,
    study,
)

NCT00791778 = "biomcp_get_nct00791778_20260902_raw.json"
NCT02576665 = "biomcp_get_nct02576665_full_20260903.json"
PHELAN_PAGES = (
    "biomcp_search_phelan_limit5_20260811.json",
    "biomcp_search_phelan_next_20260811.json",
)
# The fields list biomcp sent when recording the Phelan-McDermid search pages.
PHELAN_FIELDS = (
    "NCTId,BriefTitle,OverallStatus,Phase,StudyType,Condition,InterventionName,LeadSponsorName,"
    "EnrollmentCount,BriefSummary,StartDate,CompletionDate,MinimumAge,MaximumAge"
)


@pytest.fixture
def registry() -> Iterator[StandinRegistry]:
    with StandinRegistry() as reg:
        reg.put(load_fixture(NCT00791778))
        reg.put(load_fixture(NCT02576665))
        reg.put_all(ldn_studies())
        yield reg


@pytest.fixture
def client(registry: StandinRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, timeout=5) as http:
        yield http


def test_every_change_to_the_data_moves_the_data_timestamp_on(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    stamps = [client.get("/version").json()["dataTimestamp"]]
    registry.update("NCT04270877", lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    stamps.append(client.get("/version").json()["dataTimestamp"])
    registry.remove("NCT04270877")
    stamps.append(client.get("/version").json()["dataTimestamp"])
    assert stamps == sorted(set(stamps))


def nct_ids(page: dict[str, Any]) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]]


def test_version_answers_like_the_recorded_body(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    registry.data_timestamp = "2026-09-04T09:00:06"  # every put above refreshed the data
    response = client.get("/version")
    assert response.headers["content-type"] == "application/json"
    assert response.content == fixture_bytes("version_quoted_api-evangelist_2026-09-06.json")


def test_full_record_is_served_as_compact_json(client: httpx.Client) -> None:
    response = client.get("/studies", params={"filter.ids": "NCT00791778"})
    assert response.json()["studies"] == [load_fixture(NCT00791778)]
    assert b'{"studies":[{"protocolSection":{"identificationModule"' in response.content


def test_fields_keep_the_nested_layout_and_only_requested_leaves(client: httpx.Client) -> None:
    fields = "NCTId,OverallStatus,PrimaryCompletionDate,EnrollmentCount,ReferencePMID,ReferenceType"
    response = client.get("/studies", params={"filter.ids": "NCT00791778", "fields": fields})
    assert response.json()["studies"] == [
        {
            "protocolSection": {
                "identificationModule": {"nctId": "NCT00791778"},
                "statusModule": {
                    "overallStatus": "COMPLETED",
                    "primaryCompletionDateStruct": {"date": "2011-07"},
                },
                "designModule": {"enrollmentInfo": {"count": 246}},
                "referencesModule": {
                    "references": [
                        {"pmid": "23591401", "type": "RESULT"},
                        {"pmid": "37185961", "type": "DERIVED"},
                    ]
                },
            }
        }
    ]


def test_fields_has_results_and_whole_subtrees(client: httpx.Client) -> None:
    fields = "NCTId|HasResults|protocolSection.designModule.enrollmentInfo|WhyStopped"
    response = client.get("/studies", params={"filter.ids": "NCT00791778", "fields": fields})
    assert response.json()["studies"] == [
        {
            "protocolSection": {
                "identificationModule": {"nctId": "NCT00791778"},
                "designModule": {"enrollmentInfo": {"count": 246, "type": "ACTUAL"}},
            },
            "hasResults": True,
        }
    ]


def test_unknown_field_is_a_400_naming_it(client: httpx.Client) -> None:
    response = client.get("/studies", params={"fields": "NCTId,NoSuchPiece"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "NoSuchPiece" in response.text


def test_served_recorded_studies_have_the_recorded_page_shape(registry: StandinRegistry) -> None:
    recorded = [s for name in PHELAN_PAGES for s in load_fixture(name)["studies"]]
    with StandinRegistry() as reg, httpx.Client(base_url=reg.url) as http:
        reg.put_all(recorded)
        page = http.get(
            "/studies", params={"fields": PHELAN_FIELDS, "pageSize": "5", "countTotal": "true"}
        ).json()
    by_id = {s["protocolSection"]["identificationModule"]["nctId"]: s for s in recorded}
    assert list(page) == ["studies", "totalCount", "nextPageToken"]
    assert len(page["studies"]) == 5
    assert all(
        s == by_id[s["protocolSection"]["identificationModule"]["nctId"]] for s in page["studies"]
    )
    assert page["totalCount"] == 10


def test_filter_ids_accepts_pipes_and_unpadded_ids(client: httpx.Client) -> None:
    params = {"filter.ids": "NCT04270877|nct2806440", "fields": "NCTId"}
    page = client.get("/studies", params=params).json()
    assert sorted(nct_ids(page)) == ["NCT02806440", "NCT04270877"]


def test_filter_ids_rejects_a_malformed_id(client: httpx.Client) -> None:
    response = client.get("/studies", params={"filter.ids": "NCT04270877,NCTX1"})
    assert response.status_code == 400
    assert "NCTX1" in response.text


def test_pages_chain_and_total_count_comes_with_the_first_page_only(client: httpx.Client) -> None:
    first_params = {"fields": "NCTId", "pageSize": "3", "countTotal": "true"}
    first = client.get("/studies", params=first_params).json()
    assert first["totalCount"] == 4
    second = client.get(
        "/studies", params={**first_params, "pageToken": first["nextPageToken"]}
    ).json()
    assert "totalCount" not in second
    assert "nextPageToken" not in second
    every = nct_ids(first) + nct_ids(second)
    assert sorted(every) == ["NCT00791778", "NCT02576665", "NCT02806440", "NCT04270877"]
    assert every != sorted(every)  # the real API does not sort results unless asked


def test_page_token_is_bound_to_the_query(client: httpx.Client) -> None:
    first = client.get("/studies", params={"fields": "NCTId", "pageSize": "1"}).json()
    response = client.get(
        "/studies",
        params={"fields": "NCTId,BriefTitle", "pageSize": "1", "pageToken": first["nextPageToken"]},
    )
    assert response.status_code == 400
    assert response.text == "pageToken does not match the query"


def test_unknown_or_expired_page_token_is_a_400(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    first = client.get("/studies", params={"pageSize": "1"}).json()
    registry.expire_page_tokens()
    for token in (first["nextPageToken"], "made-up"):
        response = client.get("/studies", params={"pageSize": "1", "pageToken": token})
        assert response.status_code == 400


def test_query_term_matches_the_ldn_records(client: httpx.Client) -> None:
    page = client.get("/studies", params={"query.term": "Low-Dose Naltrexone"}).json()
    assert sorted(nct_ids(page)) == ["NCT02806440", "NCT04270877"]


def test_query_term_and_last_update_filter(registry: StandinRegistry, client: httpx.Client) -> None:
    registry.put(study("NCT09999999", LastUpdatePostDate="2026-09-01"))
    params = {
        "query.term": "low dose naltrexone",
        "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2023-01-01,MAX]",
    }
    assert nct_ids(client.get("/studies", params=params).json()) == ["NCT04270877", "NCT09999999"]


def test_a_last_update_range_has_two_inclusive_bounds(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    """Essie's RANGE takes a day or MIN/MAX at either end, both ends included (NOTES.md §3:
    `AREA[MinimumAge]RANGE[MIN, 16 years]`; cyanheads builds date facets as RANGE[a,b])."""
    for nct_id, day in (("NCT09999997", "2026-09-01"), ("NCT09999998", "2026-09-02")):
        registry.put(study(nct_id, LastUpdatePostDate=day))

    def ids(advanced: str) -> list[str]:
        params = {"filter.advanced": advanced, "fields": "NCTId", "countTotal": "true"}
        return sorted(nct_ids(client.get("/studies", params=params).json()))

    assert ids("AREA[LastUpdatePostDate]RANGE[2026-09-01,2026-09-01]") == ["NCT09999997"]
    assert ids("AREA[LastUpdatePostDate]RANGE[2026-09-01, 2026-09-02]") == [
        "NCT09999997",
        "NCT09999998",
    ]
    assert ids("AREA[LastUpdatePostDate]RANGE[2026-09-02,MAX]") == ["NCT09999998"]
    assert "NCT09999998" not in ids("AREA[LastUpdatePostDate]RANGE[MIN,2026-09-01]")


def test_unsupported_filters_and_formats_are_400(client: httpx.Client) -> None:
    for params in (
        {"filter.advanced": "AREA[StartDate]2022"},
        {"format": "csv"},
        {"query.cond": "fibromyalgia"},
        {"query.term": "naltrexone OR placebo"},
    ):
        assert client.get("/studies", params=params).status_code == 400, params


def test_a_reference_added_by_a_test_is_served(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    registry.update("NCT04270877", lambda rec: add_reference(rec, "38258677"))
    params = {"filter.ids": "NCT04270877", "fields": "ReferencePMID,ReferenceType"}
    studies = client.get("/studies", params=params).json()["studies"]
    references = studies[0]["protocolSection"]["referencesModule"]["references"]
    assert references == [{"pmid": "38258677", "type": "RESULT"}]


def test_removed_study_is_no_longer_returned(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    registry.remove("NCT02806440")
    page = client.get("/studies", params={"filter.ids": "NCT02806440"}).json()
    assert page == {"studies": []}


def test_over_long_url_is_414(client: httpx.Client) -> None:
    ids = ",".join(f"NCT{n:08d}" for n in range(1, 800))
    response = client.get("/studies", params={"filter.ids": ids})
    assert response.status_code == 414
    assert response.headers["content-type"].startswith("text/plain")


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert client.get("/stats/size").status_code == 404


@pytest.mark.parametrize(
    ("fault", "status", "content_type"),
    [
        (Fault.status(503), 503, "text/plain"),
        (Fault.status(400, body="bad query"), 400, "text/plain"),
        (Fault.rate_limited(retry_after="7"), 429, "text/plain"),
        (Fault.html(), 200, "text/html"),
    ],
)
def test_queued_fault_answers_once_then_normal_service_resumes(
    registry: StandinRegistry, client: httpx.Client, fault: Fault, status: int, content_type: str
) -> None:
    registry.fail_next(fault)
    faulted = client.get("/version")
    assert (faulted.status_code, faulted.headers["content-type"].split(";")[0]) == (
        status,
        content_type,
    )
    assert client.get("/version").status_code == 200
    assert [r.response_status for r in registry.requests] == [status, 200]


def test_rate_limit_fault_carries_retry_after(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    registry.fail_next(Fault.rate_limited(retry_after="7"))
    assert client.get("/version").headers["retry-after"] == "7"


def test_garbled_fault_is_json_typed_but_unparseable(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    registry.fail_next(Fault.garbled())
    response = client.get("/studies")
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_dropped_connection_gives_no_response(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    registry.fail_next(Fault.drop())
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/version")
    assert registry.requests[-1].response_status is None
    assert client.get("/version").status_code == 200


def test_slow_fault_trips_a_client_timeout(registry: StandinRegistry) -> None:
    registry.fail_next(Fault.slow(1.0))
    with (
        httpx.Client(base_url=registry.url, timeout=0.2) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.get("/version")


def test_fail_always_holds_until_cleared(registry: StandinRegistry, client: httpx.Client) -> None:
    registry.fail_always(Fault.status(502))
    assert [client.get("/version").status_code for _ in range(3)] == [502, 502, 502]
    registry.fail_always(None)
    assert client.get("/version").status_code == 200


def test_requests_are_recorded_with_params_and_headers(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    client.get("/studies", params={"query.term": "low dose", "pageSize": "2"})
    [recorded] = registry.requests
    assert recorded.method == "GET"
    assert recorded.path == "/api/v2/studies"
    assert recorded.params == {"query.term": "low dose", "pageSize": "2"}
    assert recorded.url.startswith("/api/v2/studies?")
    assert "user-agent" in recorded.headers
    assert recorded.response_status == 200
    assert recorded.response_bytes > 0


def test_delay_lets_requests_overlap(registry: StandinRegistry) -> None:
    registry.delay = 0.2
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(
            pool.map(lambda _: httpx.get(f"{registry.url}/version").status_code, [1, 2])
        )
    assert statuses == [200, 200]
    assert registry.max_in_flight == 2


def test_single_study_endpoint(client: httpx.Client) -> None:
    response = client.get("/studies/NCT02576665", params={"fields": "NCTId,WhyStopped"})
    assert response.json() == {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT02576665"},
            "statusModule": {"whyStopped": "Sponsor decision"},
        }
    }
    assert client.get("/studies/NCT01234567").status_code == 404


# -- behaviours of the real registry (shared/ctgov/NOTES.md) ----------------------------------

FINAL, DANISH = "NCT04270877", "NCT02806440"


def test_a_merged_registration_answers_under_its_canonical_id(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    registry.put(study("NCT06999999", BriefTitle="The same study, registered again"))
    registry.merge(FINAL, into="NCT06999999")
    page = client.get("/studies", params={"filter.ids": FINAL, "fields": "NCTId,NCTIdAlias"})
    [record] = page.json()["studies"]
    assert record["protocolSection"]["identificationModule"] == {
        "nctId": "NCT06999999",
        "nctIdAliases": [FINAL],
    }
    moved = client.get(f"/studies/{FINAL}", params={"fields": "NCTId"})
    assert moved.status_code == 301
    assert moved.headers["location"] == "/api/v2/studies/NCT06999999?fields=NCTId"
    origin = registry.url.removesuffix("/api/v2")
    assert httpx.get(origin + moved.headers["location"]).json()["protocolSection"] == {
        "identificationModule": {"nctId": "NCT06999999"}
    }


def test_a_refresh_expires_every_page_token(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    params = {"fields": "NCTId", "pageSize": "1"}
    first = client.get("/studies", params=params).json()
    registry.refresh()
    again = client.get("/studies", params={**params, "pageToken": first["nextPageToken"]})
    assert again.status_code == 400


def test_markup_is_markdown_by_default_and_unescaped_in_legacy_format(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    escaped = "Sponsor decision \\[funding\\] \\> 6 months"  # as the API sends markdown
    registry.update(FINAL, lambda r: set_piece(r, "WhyStopped", escaped))
    params = {"filter.ids": FINAL, "fields": "WhyStopped"}

    def why(extra: dict[str, str]) -> str:
        [record] = client.get("/studies", params={**params, **extra}).json()["studies"]
        return str(record["protocolSection"]["statusModule"]["whyStopped"])

    assert why({}) == escaped
    assert why({"markupFormat": "legacy"}) == "Sponsor decision [funding] > 6 months"


def test_a_change_can_keep_the_old_last_update_date(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    def last_update() -> str:
        params = {"filter.ids": FINAL, "fields": "LastUpdatePostDate,ReferencePMID"}
        [record] = client.get("/studies", params=params).json()["studies"]
        return str(record["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"])

    before = last_update()
    registry.update(FINAL, lambda r: add_reference(r, "38258677", "DERIVED"), touch=False)
    assert last_update() == before


def test_a_refused_client_gets_403(registry: StandinRegistry, client: httpx.Client) -> None:
    registry.fail_next(Fault.refused())
    response = client.get("/version")
    assert response.status_code == 403
    assert client.get("/version").status_code == 200


def test_an_unknown_search_area_is_refused_as_the_registry_words_it(client: httpx.Client) -> None:
    response = client.get("/studies", params={"query.term": "AREA[Bogus]fibromyalgia"})
    assert response.status_code == 400
    assert response.text == "Error parsing query in advanced filter: Unknown area name: `Bogus`"


def test_a_refresh_can_fall_in_the_middle_of_a_listing(
    registry: StandinRegistry, client: httpx.Client
) -> None:
    params = {"fields": "NCTId", "pageSize": "1"}
    first = client.get("/studies", params=params).json()
    registry.refresh_at_request(1)
    again = client.get("/studies", params={**params, "pageToken": first["nextPageToken"]})
    assert again.status_code == 400
