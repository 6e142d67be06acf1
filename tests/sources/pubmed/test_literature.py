"""PubMed's side, through `trial-monitor check`: the LDN article's cited trials publish their
results, a paper it cites is retracted, and a literature search finds a new trial — each said
once, in one digest, with the registry's stand-in, PubMed's stand-in and a real SMTP server on
loopback. And a PubMed outage that loses nothing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from conftest import DANISH, FINAL, LDN_ARTICLE, World, body, flat
from pubmed_standin import (
    CROSSOVER_RESULTS,
    DOSE_RESPONSE,
    FINAL_PROTOCOL,
    FINAL_RESULTS,
    NEW_TRIAL,
    RETRACTION_NOTICE,
    Fault,
    ldn_new_trial,
    ldn_retraction_notice,
    ldn_world,
    mark_retracted,
)
from standin import set_piece

LITERATURE = """
[[watch.literature]]
name = "LDN trials"
term = "low dose naltrexone AND randomized controlled trial[pt]"
"""
RECORDS = {re.search(r"<PMID[^>]*>(\d+)<", xml).group(1): xml for xml in ldn_world()}  # type: ignore[union-attr]
LATER = (FINAL_RESULTS, CROSSOVER_RESULTS, FINAL_PROTOCOL)


def ldn(world: World) -> None:
    """The LDN article and its literature search; PubMed holds the three papers it cites."""
    world.trials = []
    world.extra = LDN_ARTICLE + LITERATURE
    assert world.pubmed is not None
    world.pubmed.put(*(xml for pmid, xml in RECORDS.items() if pmid not in LATER))


def the_evidence_moves(world: World) -> None:
    """Both trials' results papers and FINAL's protocol appear, the dose-response paper the
    article cites is retracted, and a new randomized trial of LDN is indexed."""
    assert world.pubmed is not None
    today = datetime.now(UTC).date()
    world.pubmed.put(*(RECORDS[pmid] for pmid in LATER))
    world.pubmed.put(ldn_retraction_notice(create_date=today))
    mark_retracted(world.pubmed, DOSE_RESPONSE)
    world.pubmed.put(ldn_new_trial(create_date=today))


def test_results_a_retraction_and_a_new_trial_each_once_in_one_digest(world: World) -> None:
    ldn(world)
    world.baseline()  # the first look is silent for PubMed, as for the registry
    the_evidence_moves(world)

    run = world.check()

    assert run.code == 0, run
    [digest] = world.messages
    text, html = body(digest), body(digest, "html")
    subject = str(digest["Subject"])
    # What is newly wrong with the article comes first, and names it: the worst first.
    assert subject == (
        "[LDN monitor] “Low-dose naltrexone: what the evidence says”: cited paper PMID 32068870"
        " retracted (and 2 more)"
    )
    assert text.startswith(
        "“Low-dose naltrexone: what the evidence says”: A paper it cites, PMID 32068870, was"
        " retracted. Both trials this article relies on have published results"
    ), text[:300]
    assert "2 trials and 2 papers changed: 5 changes in PubMed." in text
    # FINAL's results, quoted in the paper's own words, under the trial, with the link.
    final = text[text.index(f"{FINAL} — ") :]
    assert (
        "Results of this cited trial have been published: “Low-dose naltrexone for pain in women"
        in final
    )
    assert "(The Lancet. Rheumatology, 2024), PMID 38258677" in final
    assert "These results do not support its routine use for this indication.”" in final
    assert "Its conclusion: “" in final
    assert f"https://pubmed.ncbi.nlm.nih.gov/{FINAL_RESULTS}/" in final
    assert "does not cite this trial's results paper, PMID 38258677" in final
    assert "Re-check: the paragraph on FINAL." in final
    # The protocol is named a protocol, never results.
    assert "A protocol of this trial has been published: " in final
    assert f"PMID {FINAL_PROTOCOL}" in final
    # The crossover's abstract ends in INTERPRETATION: that is what is quoted.
    danish = text[text.index(f"{DANISH} — ") :]
    assert f"PMID {CROSSOVER_RESULTS}" in danish
    assert "Its conclusion: “Low-dose naltrexone had no clinically relevant analgesic" in danish
    # The cited paper, retracted: its own section, the notice named, what to re-check.
    assert "== PAPERS THE ARTICLE CITES ==" in text
    assert "This cited paper was retracted: PMID 32068870" in text
    assert f"The notice: PMID {RETRACTION_NOTICE}" in text
    assert "cites PMID 32068870, now retracted. Re-check what" in text
    assert "says about PMID 32068870." in text
    # The new trial, from the literature search.
    assert "== NEW IN PUBMED, FROM YOUR LITERATURE SEARCHES ==" in text
    assert f"PMID {NEW_TRIAL}" in text
    assert "New in PubMed: found by the literature search “LDN trials”" in text
    assert "Low-dose naltrexone did not reduce pain more than placebo." in text
    # The same in the HTML, linked; a paper's anchor has no space.
    assert f'href="https://pubmed.ncbi.nlm.nih.gov/{NEW_TRIAL}/"' in html
    assert 'id="PMID-32068870"' in html
    # A results paper the literature search finds too is said once, under its trial.
    assert text.count("“Low-dose naltrexone for pain in women") == 1
    assert "! PMID 32068870: cited paper retracted" in text

    # Each once: the next cycle finds nothing new, in PubMed or the registry.
    again = world.check()
    assert again.code == 0, again
    assert len(world.messages) == 1

    # The operator's view of PubMed's side.
    status = world.command("status")
    assert "PubMed searches (3)" in status.out
    assert f"  {FINAL}: 2 papers listing it; last ran " in status.out
    assert f"  {DANISH}: 1 paper listing it; last ran " in status.out  # never "1 papers"
    assert "  “LDN trials”: " in status.out
    report = json.loads(world.command("status", "--json").out)
    assert {s["name"]: s["papers"] for s in report["literature"]}[FINAL] == 2


def test_a_pubmed_outage_holds_back_nothing_of_the_registry_and_loses_nothing(
    world: World,
) -> None:
    ldn(world)
    world.baseline()
    the_evidence_moves(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    assert world.pubmed is not None
    world.pubmed.fail_always(Fault.status(503))

    run = world.check()

    # The registry's side went through; the exit code tells that PubMed did not (4).
    assert run.code == 4, run
    assert "NOT READ: PubMed could not be read: PubMed" in run.out
    assert "FAILED" not in run.out and "unsent changes are kept" not in run.out
    [first] = world.messages
    text = body(first)
    assert "Status: Completed → Terminated" in text
    assert "PubMed could not be read this time" in text
    assert "PMID 38258677" not in text
    status = world.command("status")
    assert "PubMed could not be read: PubMed" in status.out
    assert "NOT READ: PubMed, in the last cycle" in status.out
    report = json.loads(world.command("status", "--json").out)
    assert report["cycles"][0]["unread"] == ["pubmed"]
    assert report["cycles"][0]["outcome"] == "source_unread"

    world.pubmed.fail_always(None)
    assert world.check().code == 0
    assert "NOT READ" not in world.command("status").out
    [_, second] = world.messages
    later = body(second)
    assert "PMID 38258677" in later and "PMID 32068870" in later and f"PMID {NEW_TRIAL}" in later
    assert "Terminated" not in later  # said once, in the first digest
    assert "could not be read" not in later


def test_the_first_look_and_verify_name_the_results_papers_the_article_does_not_cite(
    world: World,
) -> None:
    ldn(world)
    assert world.pubmed is not None
    world.pubmed.put(*(RECORDS[pmid] for pmid in LATER))  # published before the monitor came

    world.baseline()  # no digest: what was already there is the baseline...

    [check] = world.article_checks  # ...and the first look says it
    text = body(check)
    recheck = text[text.index("TO RE-CHECK (2)") : text.index("WHAT AGREES")]
    assert "FINAL (NCT04270877) has published results: the article does not cite it." in recheck
    assert "The results paper: “Low-dose naltrexone for pain in women" in recheck
    assert "These results do not support its routine use for this indication.”" in recheck
    assert f"PMID {CROSSOVER_RESULTS}" in recheck
    # A protocol is not something to re-check: it is named under the trial, as what it is.
    assert f"PMID {FINAL_PROTOCOL}" not in recheck
    assert "A protocol: “Low-dose naltrexone for fibromyalgia in women (FINAL)" in text

    verify = world.command("verify")
    assert verify.code == 1, verify  # something to re-check
    assert flat(verify.out).count("has published results: the article does not cite it.") == 2
    world.pubmed.fail_always(Fault.status(503))
    unchecked = world.command("verify")
    assert unchecked.code == 3, unchecked
    assert "verify: PubMed could not be read" in unchecked.out


def test_the_desk_of_an_article_hears_of_a_paper_it_cites_being_retracted(world: World) -> None:
    ldn(world)
    world.extra = world.extra.replace(
        "pmids = [", 'recipients = ["ldn-desk@example.org"]\npmids = [', 1
    )
    world.baseline()
    assert world.pubmed is not None
    world.pubmed.put(ldn_retraction_notice(create_date=datetime.now(UTC).date()))
    mark_retracted(world.pubmed, DOSE_RESPONSE)

    assert world.check().code == 0
    [sent] = world.accepted
    assert "ldn-desk@example.org" in sent.recipients
    assert "This cited paper was retracted: PMID 32068870" in body(sent.message)


def test_a_literature_searchs_first_run_remembers_its_papers_without_fetching_them(
    world: World,
) -> None:
    world.trials, world.searches = [], []
    world.extra = LITERATURE
    assert world.pubmed is not None
    world.pubmed.put(*RECORDS.values())
    world.baseline()
    assert world.pubmed.requests_to("esearch.fcgi")  # it ran...
    assert world.pubmed.requests_to("efetch.fcgi") == []  # ...and fetched no record
    world.pubmed.put(ldn_new_trial(create_date=datetime.now(UTC).date()))

    assert world.check().code == 0

    [fetched] = world.pubmed.requests_to("efetch.fcgi")
    assert fetched.params["id"] == NEW_TRIAL  # only the new paper, none of the first run's
    [digest] = world.messages
    assert "1 paper changed: 1 change in PubMed." in body(digest)


def test_a_paper_dated_as_a_range_keeps_its_year_and_words_meet_around_markup(
    world: World,
) -> None:
    """Real PubMed data: a <MedlineDate> range ("2024 Winter") in place of <Year>, and inline
    markup with no space around it ("in<i>women</i>with")."""
    ldn(world)
    world.baseline()
    assert world.pubmed is not None
    xml = re.sub(
        r"<PubDate>.*?</PubDate>",
        "<PubDate><MedlineDate>2024 Winter</MedlineDate></PubDate>",
        RECORDS[FINAL_RESULTS],
    )
    assert "<MedlineDate>" in xml and "pain in women with" in xml
    world.pubmed.put(xml.replace("pain in women with", "pain in<i>women</i>with"))
    assert world.check().code == 0
    [digest] = world.messages
    text = flat(body(digest))
    cited = text[text.index("“Low-dose naltrexone for pain in women with") :][:300]
    assert re.search(r"” \([^)]*, 2024\), PMID " + FINAL_RESULTS, cited), cited
