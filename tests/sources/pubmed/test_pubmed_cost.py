"""What reading PubMed costs, pinned request by request on the stand-in (its counts are exact):
an unchanged day near the floor (the cited trials' `[si]` terms ORed in one search, the saved
searches ORed in one, the cited papers re-read in one EFetch), nothing at all within
pubmed.min_interval_hours, and one more search per saved search only on a day it has news.
The large sizes are benchmarks/pubmed.py's."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import World, body
from pubmed_standin import FINAL_RESULTS, NEW_TRIAL, article, ldn_new_trial, mark_retracted
from test_literature import RECORDS, ldn

from monitor.sources.pubmed.normalize import Parsed, parse_articles
from monitor.sources.pubmed.reading import TERMS_PER_SEARCH

SI = "NCT04270877[si] OR NCT02806440[si]"  # in the order the article cites them


def asked(world: World, start: int) -> list[str]:
    """Each request since `start`: the endpoint, and what it asked."""
    assert world.pubmed is not None
    shown = []
    for request in world.pubmed.requests[start:]:
        endpoint = request.path.rsplit("/", 1)[-1].removesuffix(".fcgi")
        params = request.params
        if endpoint == "efetch":
            shown.append(f"efetch {params['id']}")
        else:
            window = f" mdat {params['mindate']}-{params['maxdate']}" if "mindate" in params else ""
            shown.append(f"esearch {params['term']}{window}")
    return shown


def test_an_unchanged_day_costs_three_requests_and_a_rested_one_none(world: World) -> None:
    ldn(world)
    world.pubmed_settings = "min_interval_hours = 20"
    world.baseline()
    assert world.pubmed is not None
    start = len(world.pubmed.requests)

    # Within pubmed.min_interval_hours: PubMed is not asked at all.
    assert world.check().code == 0
    assert asked(world, start) == []

    # `check --literature-now` reads it: three requests, whatever the number of trials cited
    # (up to TERMS_PER_SEARCH of them), saved searches and cited papers.
    assert world.command("check", "--literature-now").code == 0
    requests = asked(world, start)
    assert len(requests) == 3, requests
    trials, saved, papers = requests
    assert trials == f"esearch {SI}"
    assert saved.startswith("esearch ((low dose naltrexone AND randomized controlled trial[pt]))")
    assert "[crdt]" in saved
    assert papers == "efetch 30248938,32068870,32845365"
    assert TERMS_PER_SEARCH >= 2


def test_a_saved_search_with_news_is_run_alone_once_to_say_what_it_found(world: World) -> None:
    ldn(world)
    world.baseline()
    assert world.pubmed is not None
    world.pubmed.put(ldn_new_trial(create_date=datetime.now(UTC).date()))
    start = len(world.pubmed.requests)
    assert world.check().code == 0
    requests = asked(world, start)
    # The ORed search saw a paper new to the saved searches: each runs alone (here, one).
    assert len(requests) == 4, requests
    assert requests[0] == f"esearch {SI}"
    assert requests[2].startswith("esearch (low dose naltrexone AND randomized")
    assert requests[3] == f"efetch 30248938,32068870,32845365,{NEW_TRIAL}"
    [digest] = world.messages
    assert f"PMID {NEW_TRIAL}" in body(digest)


def many_cited_papers(world: World, count: int) -> list[str]:
    """An article citing `count` papers PubMed holds, and nothing else."""
    assert world.pubmed is not None
    pmids = [str(20_000_000 + n) for n in range(count)]
    world.pubmed.put(*(article(p, f"A cited paper, number {p}.") for p in pmids))
    world.trials, world.searches = [], []
    listed = ", ".join(f'"{p}"' for p in pmids)
    world.extra = f'\n[[articles]]\ntitle = "Many papers"\ntrials = []\npmids = [{listed}]\n'
    return pmids


def test_a_cited_papers_revision_is_found_by_its_date_and_a_silent_one_by_the_rolling_reread(
    world: World,
) -> None:
    """400 cited papers, polling.reconcile_days 7: each day re-reads a share of them in whole
    EFetch batches (200, the oldest read first) and asks which of the others PubMed revised
    (one search, `datetype=mdat` with both dates). A retraction that moves the revision date
    is found the same day; one that does not, when its share comes round."""
    pmids = many_cited_papers(world, 400)
    world.baseline()
    assert world.pubmed is not None
    first_half, second_half = pmids[:200], pmids[200:]

    mark_retracted(world.pubmed, second_half[10], touch=True)  # DateRevised moves
    start = len(world.pubmed.requests)
    assert world.check().code == 0
    revised, share, found = asked(world, start)
    assert revised.startswith(f"esearch {second_half[0]}[uid] OR ") and " mdat " in revised
    assert share == "efetch " + ",".join(first_half)  # the day's share, the oldest read
    assert found == f"efetch {second_half[10]}"  # the revised one, found by its date
    assert f"PMID {second_half[10]}" in body(world.messages[-1])

    mark_retracted(world.pubmed, second_half[20], touch=False)  # the date stays
    start = len(world.pubmed.requests)
    assert world.check().code == 0
    fetched = {p for r in asked(world, start) if r.startswith("efetch") for p in r[7:].split(",")}
    assert second_half[20] in fetched  # its share came round
    assert f"PMID {second_half[20]}" in body(world.messages[-1])


def test_a_new_paper_no_trial_of_its_search_claims_is_attributed_by_asking_each_trial(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ORed `[si]` search found a paper whose record names none of its trials (here its
    DataBankList is hidden from the monitor): no guess; each trial is asked alone, and the
    paper is said under the trial whose search lists it."""
    ldn(world)
    world.baseline()
    assert world.pubmed is not None
    world.pubmed.put(RECORDS[FINAL_RESULTS])
    real = parse_articles

    def hidden(document: Any) -> Parsed:
        parsed = real(document)
        return replace(parsed, papers=tuple(replace(p, nct_ids=()) for p in parsed.papers))

    monkeypatch.setattr("monitor.sources.pubmed.reading.parse_articles", hidden)
    start = len(world.pubmed.requests)
    assert world.check().code == 0
    requests = asked(world, start)
    assert requests[0] == f"esearch {SI}"
    assert "esearch NCT04270877[si]" in requests and "esearch NCT02806440[si]" in requests
    [digest] = world.messages
    final = body(digest)[body(digest).index("NCT04270877 — ") :]
    assert f"PMID {FINAL_RESULTS}" in final
