"""An article's standing, end to end through `check`, `verify` and `findings`: what is wrong
with the article now, said first, from the first day, one paper in one voice, and each finding
stored under an id that holds from cycle to cycle. Against the registry stand-in, PubMed's
stand-in holding the LDN world (both cited trials' negative results papers) and a real SMTP
server."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from conftest import DANISH, FINAL, LDN_ARTICLE, URL, World, body, flat
from pubmed_standin import (
    CROSSOVER_RESULTS,
    FINAL_RESULTS,
    REAL_DIR,
    Fault,
    StandinPubmed,
    article,
    ldn_world,
)
from standin import Fault as RegistryFault
from standin import add_reference, set_piece

from monitor.core.articles import Evidence
from monitor.delivery import sending
from monitor.sources.base import Wanted

LANCET = "Bruun KD, et al. Naltrexone 6 mg once daily versus placebo. Lancet Rheumatol. 2024."
RETRACTED = "10066780"  # a real record PubMed holds retracted (retractobot's recording)
NOT_BETTER = "Low-dose naltrexone was not better than placebo for reducing fibromyalgia pain"
NO_EFFECT = "Low-dose naltrexone had no clinically relevant analgesic effect in fibromyalgia"


def pubmed(world: World) -> StandinPubmed:
    assert world.pubmed is not None
    return world.pubmed


def ldn(world: World, extra: str = "") -> None:
    """The shipped article (as config.toml has it) in a world where PubMed holds both cited
    trials' results papers."""
    world.trials, world.searches = [], []
    world.extra = LDN_ARTICLE + extra
    pubmed(world).put(*ldn_world())


def test_the_first_look_says_first_that_both_trials_published_results_it_does_not_mention(
    world: World,
) -> None:
    ldn(world)
    assert world.check().code == 0
    [check] = world.article_checks
    # The subject names the article and what is wrong with it.
    assert check["Subject"] == (
        "[LDN monitor] Article check: “Low-dose naltrexone: what the evidence says”:"
        " both trials this article relies on have published results it does not cite"
    )
    text = body(check)
    verdict = text.split(" TO RE-CHECK ")[0]
    # The verdict opens the text, before any detail, with both trials' own conclusions.
    assert verdict.endswith(
        "Both trials this article relies on have published results that it does not mention:"
        f" FINAL (2024) concluded “{NOT_BETTER} in women. These results do not support its"
        f" routine use for this indication.”; LDN-in-FM (2024) concluded “{NO_EFFECT} compared"
        " with placebo.”"
    ), verdict
    assert "TO RE-CHECK (2)" in text
    assert "FINAL (NCT04270877) has published results: the article does not cite it." in text
    assert "Re-check: the paragraph on FINAL." in text
    # Agreements collapse to one line; no line per agreeing field.
    assert "Status, enrollment and phase agree for both trials; completion agrees for FINAL." in (
        text
    )
    assert "the article says Completed; the registry says Completed" not in text
    html = flat(body(check, "html"))
    assert "Both trials this article relies on have published results" in html


def test_a_cited_paper_retracted_before_the_first_cycle_is_in_the_first_look_and_in_verify(
    world: World,
) -> None:
    """PMID 10066780 as PubMed really has it: "Retracted Publication", and RetractionIn."""
    world.trials, world.searches = [], []
    pubmed(world).put_xml(REAL_DIR / "retractobot_efetch_pubmed_10066780_retracted_fragment.xml")
    world.extra = f"""
[[articles]]
title = "What the evidence says"
url = "{URL}"
pmids = ["{RETRACTED}"]
"""
    assert world.check().code == 0
    [check] = world.article_checks
    assert "cited paper PMID 10066780 retracted" in check["Subject"]
    assert f"A paper the article cites, PMID {RETRACTED}, was retracted." in body(check)
    verify = world.command("verify")
    assert verify.code == 1, verify
    assert f"A paper the article cites, PMID {RETRACTED}, was retracted." in flat(verify.out)
    # Told once: the next cycle has nothing new to say of it.
    assert world.check().code == 0
    assert world.messages == []


def test_a_results_paper_shown_in_the_first_look_and_later_linked_by_the_registry_is_not_news(
    world: World,
) -> None:
    ldn(world)
    assert world.check().code == 0
    assert "PMID 38258677" in body(world.article_checks[0])
    world.registry.update(FINAL, lambda r: add_reference(r, FINAL_RESULTS, "RESULT", LANCET))
    world.registry.update(
        DANISH, lambda r: add_reference(r, CROSSOVER_RESULTS, "DERIVED", "Pain Rep. 2023")
    )
    assert world.check().code == 0
    assert world.messages == [], [body(m) for m in world.messages]
    assert world.changes() == []  # no news stored either


def test_a_secondary_analysis_is_another_report_not_the_results_again(world: World) -> None:
    ldn(world)
    assert world.check().code == 0
    pubmed(world).put(
        article(
            "40300000",
            "Sleep outcomes of low-dose naltrexone in women with fibromyalgia: a secondary"
            " analysis of a randomised trial.",
            year=2025,
            month=6,
            publication_types=("Journal Article", "Randomized Controlled Trial"),
            nct_ids=(FINAL,),
            create_date=datetime.now(UTC).date(),
            abstract=[("CONCLUSIONS", "CONCLUSIONS", "Sleep did not improve either.")],
        )
    )
    assert world.check().code == 0
    [digest] = world.messages
    text = body(digest)
    assert "Another report of this trial has been published:" in text
    assert "Sleep outcomes of low-dose naltrexone" in text
    assert "Results of this cited trial have been published" not in text
    # Nor in the index or the subject, which go by the kind of change stored.
    assert "results published" not in text and "results" not in digest["Subject"]


def test_a_result_the_article_cites_but_does_not_state_is_a_finding(world: World) -> None:
    """`outcome`: "not stated" beside a results paper is something to re-check; a stated one
    stands beside the paper's conclusion, not judged."""
    cites_both = LDN_ARTICLE.replace(
        'passage = "the paragraph on FINAL"',
        'passage = "the paragraph on FINAL"\npublications = ["38258677"]\noutcome = "not stated"',
    ).replace(
        'passage = "the paragraph on the Danish crossover"',
        'passage = "the paragraph on the Danish crossover"\npublications = ["38226027"]\n'
        'outcome = "no benefit"',
    )
    world.trials, world.searches = [], []
    world.extra = cites_both
    pubmed(world).put(*ldn_world())
    verify = world.command("verify")
    assert verify.code == 1, verify
    out = flat(verify.out)
    assert "FINAL (NCT04270877) has published results: the article cites it but does not say" in (
        out
    )
    assert "TO RE-CHECK (1)" in out  # the crossover's result is stated: nothing to re-check
    assert "The article says it found no benefit." not in out.split("THE TRIALS IT CITES")[0]
    world.extra = cites_both.replace('outcome = "not stated"', 'outcome = "no benefit"')
    clean = world.command("verify")
    assert clean.code == 0, clean
    assert "nothing to re-check" in clean.out


def test_a_change_no_claim_covers_is_not_high(world: World) -> None:
    ldn(world)
    assert world.check().code == 0
    # The article states FINAL's completion year, not its primary completion date.
    world.registry.update(FINAL, lambda r: set_piece(r, "PrimaryCompletionDate", "2022-09"))
    assert world.check().code == 0
    [digest] = world.messages
    assert "[medium] Primary completion:" in body(digest)
    assert "[high] Primary completion" not in body(digest)


def test_findings_lists_open_findings_under_ids_that_hold_across_cycles(world: World) -> None:
    ldn(world)
    assert world.check().code == 0
    first = json.loads(world.command("findings", "--json").out)
    [article_] = first["articles"]
    assert article_["id"] == "ldn"
    ids = [f["id"] for f in article_["findings"]]
    assert len(ids) == 2 and all(len(i) == 10 for i in ids)
    assert {f["kind"] for f in article_["findings"]} == {"results_uncited"}
    assert world.check().code == 0
    again = json.loads(world.command("findings", "--json", "--article", "ldn").out)
    assert [f["id"] for f in again["articles"][0]["findings"]] == ids
    text = world.command("findings").out
    assert all(i in text for i in ids)
    unknown = world.command("findings", "--article", "nope")
    assert unknown.code == 2 and "no article has the id 'nope'" in unknown.err


def test_a_new_finding_opens_the_digest_and_names_the_article_in_its_subject(
    world: World,
) -> None:
    """The registry's results paper arrives after the first look: the digest says first what
    is now wrong with the article."""
    world.trials, world.searches = [], []
    world.extra = LDN_ARTICLE
    assert world.check().code == 0  # PubMed knows no results paper yet
    pubmed(world).put(*ldn_world())
    assert world.check().code == 0
    [digest] = world.messages
    assert digest["Subject"].startswith(
        "[LDN monitor] “Low-dose naltrexone: what the evidence says”: both trials this article"
        " relies on have published results it does not cite"
    ), digest["Subject"]
    text = body(digest)
    assert text.startswith(
        "“Low-dose naltrexone: what the evidence says”: Both trials this article relies on have"
        " published results that it does not mention: FINAL (2024) concluded"
    ), text[:300]


def test_a_long_watch_list_keeps_the_article_check_readable_and_says_where_the_rest_is(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 cited trials, one in ten disagreeing: the check lists the first findings in full,
    counts the rest and the agreements, and `verify --all` lists every one. The cycle stands
    the article in slices (of 7 here), and each finding is kept once: no step of the first
    cycle holds the evidence of every trial at once (a watch list of 100,000 is one article)."""
    monkeypatch.setattr(sending, "STAND_SLICE", 7)
    asked: list[int] = []
    evidence = sending.Outgoing.evidence

    def counted(out: sending.Outgoing, wanted: Wanted) -> Evidence:
        asked.append(len(wanted.trials))
        return evidence(out, wanted)

    monkeypatch.setattr(sending.Outgoing, "evidence", counted)
    cited = [f"NCT{40_000_000 + n:08d}" for n in range(300)]
    template = world.registry.studies[FINAL]
    for n, nct_id in enumerate(cited):
        record = copy.deepcopy(template)
        record["protocolSection"]["identificationModule"]["nctId"] = nct_id
        set_piece(record, "EnrollmentCount", 99 if n % 10 else 120)
        world.registry.put(record)
    claims = "".join(
        f'\n[[articles.claims]]\ntrial = "{nct_id}"\nstatus = "COMPLETED"\nenrollment = 99\n'
        for nct_id in cited
    )
    world.trials, world.searches = [], []
    world.extra = f"""
[[articles]]
title = "Everything about naltrexone"
url = "{URL}"
trials = [{", ".join(f'"{i}"' for i in cited)}]
{claims}"""
    assert world.check().code == 0
    [check] = world.article_checks
    text = body(check)
    assert len(text.splitlines()) < 200, len(text.splitlines())
    assert len(check.as_bytes()) < 60_000, len(check.as_bytes())
    assert "TO RE-CHECK (30)" in text
    assert "And 15 more: `trial-monitor verify --all` lists every one." in flat(text)
    assert "And 290 more trials: `trial-monitor verify --all` lists every one." in flat(text)
    assert "Status agrees for all 300 trials" in flat(text)
    assert asked and max(asked) == 7, asked
    everything = world.command("verify", "--all")
    assert everything.code == 1
    assert all(nct_id in everything.out for nct_id in cited)
    assert flat(everything.out).count("The registry contradicts what the article says") == 30
    kept = json.loads(world.command("findings", "--json").out)["articles"][0]["findings"]
    assert len(kept) == len({f["id"] for f in kept}) == 30
    # A digest of one change is worded against every article trial's topics and records,
    # gathered a slice at a time too.
    asked.clear()
    world.registry.update(cited[1], lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    assert world.check().code == 0
    [digest] = world.messages
    assert cited[1] in body(digest)
    assert asked and max(asked) == 7, asked


def test_a_first_cycle_that_never_reached_the_registry_finds_nothing_wrong(world: World) -> None:
    """Unread is not gone: no "the registry no longer returns" finding, stored or sent."""
    ldn(world)
    world.registry.fail_always(RegistryFault.status(503))
    assert world.check().code == 1
    assert json.loads(world.command("findings", "--json").out)["articles"][0]["findings"] == []
    assert world.messages == []
    world.registry.fail_always(None)
    assert world.check().code == 0
    [check] = world.article_checks
    assert "no longer returns" not in body(check)
    kinds = {
        f["kind"]
        for f in json.loads(world.command("findings", "--json").out)["articles"][0]["findings"]
    }
    assert kinds == {"results_uncited"}


def test_the_first_look_waits_for_pubmed_so_it_misses_no_results_paper(world: World) -> None:
    ldn(world)
    pubmed(world).fail_always(Fault.status(503))
    run = world.check()
    assert run.code == 4, run  # the registry's side went through; PubMed unread: exit 4
    assert world.article_checks == []
    pubmed(world).fail_always(None)
    assert world.check().code == 0
    [check] = world.article_checks
    text = flat(body(check))
    assert "Both trials this article relies on have published results" in text
    assert world.check().code == 0
    assert len(world.article_checks) == 1  # once


def test_verify_without_pubmed_still_says_what_the_registry_contradicts(world: World) -> None:
    """PubMed down: the registry's findings are still said, the papers said unchecked, and
    the exit code is 3, could not check, found or not: the check is not whole."""
    ldn(world)
    pubmed(world).fail_always(Fault.status(503))
    unchecked = world.command("verify")
    assert unchecked.code == 3, unchecked
    assert "verify: PubMed could not be read" in unchecked.out
    world.extra = LDN_ARTICLE.replace("enrollment = 99", "enrollment = 100")
    wrong = world.command("verify")
    assert wrong.code == 3, wrong
    out = flat(wrong.out)
    assert "The registry contradicts what the article says of FINAL's enrollment" in out
    assert "verify: PubMed could not be read" in out
