"""The PubMed client against the E-utilities stand-in over real HTTP on loopback: what it asks,
how it paces itself under NCBI's limits, and how each of NCBI's failures becomes one line."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest
from pubmed_standin import (
    CROSSOVER_NCT,
    CROSSOVER_RESULTS,
    FINAL_NCT,
    FINAL_PROTOCOL,
    FINAL_RESULTS,
    NEW_TRIAL,
    Fault,
    StandinPubmed,
    ldn_new_trial,
    ldn_world,
)

from monitor.core.errors import PubmedError
from monitor.core.models import Paper, PaperRole
from monitor.sources.pubmed.client import (
    Found,
    PubmedClient,
    QueryRefused,
    created_between,
    make_http_client,
)
from monitor.sources.pubmed.normalize import parse_articles
from monitor.sources.pubmed.settings import PubmedConfig

pytestmark = pytest.mark.no_database

KEY = "ncbi-key-0123456789abcdef"


@pytest.fixture
def pm() -> Iterator[StandinPubmed]:
    with StandinPubmed() as standin:
        standin.put(*ldn_world())
        standin.api_keys.add(KEY)
        yield standin


def settings(pm: StandinPubmed, **changes: object) -> PubmedConfig:
    config = PubmedConfig(base_url=pm.url, email="editors@example.org", backoff_seconds=0.01)
    return replace(config, **changes)  # type: ignore[arg-type]


async def _search(config: PubmedConfig, *terms: str) -> list[Found]:
    async with make_http_client(config) as http:
        client = PubmedClient(config, http)
        return [await client.search(term) for term in terms]


async def _papers(config: PubmedConfig, pmids: list[str]) -> list[Paper]:
    async with make_http_client(config) as http:
        client = PubmedClient(config, http)
        return [p async for xml in client.fetch(pmids) for p in parse_articles(xml).papers]


def search(config: PubmedConfig, *terms: str) -> list[Found]:
    return asyncio.run(_search(config, *terms))


def papers(config: PubmedConfig, pmids: list[str]) -> list[Paper]:
    return asyncio.run(_papers(config, pmids))


def test_a_trials_papers_are_found_by_its_nct_id_and_read_with_their_conclusions(
    pm: StandinPubmed,
) -> None:
    config = settings(pm)
    final, crossover = search(config, f"{FINAL_NCT}[si]", f"{CROSSOVER_NCT}[si]")
    assert set(final.pmids) == {FINAL_RESULTS, FINAL_PROTOCOL} and final.count == 2
    assert crossover.pmids == (CROSSOVER_RESULTS,)
    found = {p.pmid: p for p in papers(config, [*final.pmids, *crossover.pmids])}
    assert found[FINAL_RESULTS].role is PaperRole.RESULTS
    assert found[FINAL_RESULTS].nct_ids == (FINAL_NCT,)
    assert found[FINAL_PROTOCOL].role is PaperRole.PROTOCOL
    # The crossover's abstract ends in INTERPRETATION, filed under no NLM category.
    conclusion = found[CROSSOVER_RESULTS].conclusion
    assert conclusion is not None and conclusion.lower().count("naltrexone") >= 1


def test_every_request_names_the_tool_and_its_contact_and_the_key_travels_in_the_body(
    pm: StandinPubmed,
) -> None:
    config = settings(pm, tool="ldn-monitor", api_key=KEY)
    search(config, f"{FINAL_NCT}[si]")
    papers(config, [FINAL_RESULTS])
    assert len(pm.requests) == 2
    for request in pm.requests:
        assert request.method == "POST"
        assert request.params["tool"] == "ldn-monitor"
        assert request.params["email"] == "editors@example.org"
        assert request.params["db"] == "pubmed"
        assert request.params["api_key"] == KEY
        assert KEY not in request.url  # out of URLs, and so out of proxies' logs


@pytest.mark.parametrize(("api_key", "limit"), [(None, 2), (KEY, 8)])
def test_the_client_keeps_well_under_ncbis_rate_limit(
    pm: StandinPubmed, api_key: str | None, limit: int
) -> None:
    """NCBI allows 3 a second, 10 with a key; the client keeps to 2 and 8, measured as the
    stand-in saw the requests arrive."""
    pm.enforce_rate = True  # the stand-in answers 429 past 3 a second, 10 with a key
    terms = [f"{FINAL_NCT}[si]"] * (limit + 3)
    found = search(settings(pm, api_key=api_key), *terms)
    assert all(f.pmids for f in found)
    assert [r.response_status for r in pm.requests] == [200] * len(terms)
    assert pm.peak_rate(api_key) <= limit


def test_ncbis_rate_limit_answer_is_waited_out_and_its_body_never_shown(
    pm: StandinPubmed, caplog: pytest.LogCaptureFixture
) -> None:
    pm.fail_next(Fault.rate_limited(), Fault.rate_limited())
    (found,) = search(settings(pm), f"{CROSSOVER_NCT}[si]")
    assert found.pmids == (CROSSOVER_RESULTS,)
    assert len(pm.requests) == 3
    assert "rate limited" in caplog.text
    assert "api-key" not in caplog.text  # the body echoes the caller's address or key


def test_a_phrase_pubmed_did_not_find_refuses_the_search_rather_than_widen_it(
    pm: StandinPubmed,
) -> None:
    with pytest.raises(QueryRefused, match="did not understand 'zzqxv' in the search"):
        search(settings(pm), "low dose naltrexone AND zzqxv")


def test_an_error_inside_a_200_is_an_error(pm: StandinPubmed) -> None:
    pm.fail_next(Fault.error("Invalid query"))
    with pytest.raises(QueryRefused, match=r"refused the search .*: Invalid query"):
        search(settings(pm), f"{FINAL_NCT}[si]")


def test_a_search_past_max_results_is_an_error_never_a_silent_cut(pm: StandinPubmed) -> None:
    with pytest.raises(
        PubmedError, match=r"matched 6 papers, more than pubmed.max_results \(2; .*\); narrow it"
    ):
        search(settings(pm, max_results=2), "naltrexone")


def test_an_outage_is_one_line_naming_the_url_after_the_retries(pm: StandinPubmed) -> None:
    pm.fail_always(Fault.status(503))
    with pytest.raises(PubmedError) as caught:
        search(settings(pm, max_attempts=3), f"{FINAL_NCT}[si]")
    assert str(caught.value) == f"PubMed {pm.url}/esearch.fcgi failed after 3 attempts: HTTP 503"
    assert len(pm.requests) == 3


def test_a_dropped_connection_and_a_garbled_answer_are_tried_again(pm: StandinPubmed) -> None:
    pm.fail_next(Fault.drop(), Fault.garbled(), Fault.html())
    (found,) = search(settings(pm), f"{CROSSOVER_NCT}[si]")
    assert found.pmids == (CROSSOVER_RESULTS,)
    assert len(pm.requests) == 4


def test_a_key_ncbi_does_not_know_is_one_line_that_never_shows_it(pm: StandinPubmed) -> None:
    with pytest.raises(PubmedError) as caught:
        search(settings(pm, api_key="wrong-key-42"), f"{FINAL_NCT}[si]")
    assert "HTTP 400" in str(caught.value) or "invalid" in str(caught.value).lower()
    assert "wrong-key-42" not in str(caught.value)


def test_a_window_on_the_create_date_finds_what_was_added_in_it_only(pm: StandinPubmed) -> None:
    pm.put(ldn_new_trial(create_date=date(2026, 11, 20)))
    term = "low dose naltrexone AND randomized controlled trial[pt]"
    (everything,) = search(settings(pm), term)
    assert NEW_TRIAL in everything.pmids and len(everything.pmids) > 1
    (recent,) = search(settings(pm), created_between(term, date(2026, 11, 17), date(2026, 11, 29)))
    assert recent.pmids == (NEW_TRIAL,)


def test_ids_are_fetched_two_hundred_to_a_request(pm: StandinPubmed) -> None:
    asked = [str(n) for n in range(1000, 1450)]
    assert papers(settings(pm), asked) == []  # unknown ids are simply absent
    sizes = [len(r.params["id"].split(",")) for r in pm.requests_to("efetch.fcgi")]
    assert sizes == [200, 200, 50]


def test_an_html_page_instead_of_the_records_is_tried_again(pm: StandinPubmed) -> None:
    pm.fail_next(Fault.html())
    found = papers(settings(pm), [FINAL_RESULTS])
    assert [p.pmid for p in found] == [FINAL_RESULTS]
    assert len(pm.requests_to("efetch.fcgi")) == 2
