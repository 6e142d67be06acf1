"""What the real registry does that the first stand-in hid, one story each, through `check`.

Each behaviour was taught to the stand-in first (tests/test_standin.py), from the recorded
responses, the official OpenAPI 2.0.5 spec and the sourced notes in shared/ctgov/NOTES.md.
"""

from __future__ import annotations

import pytest
from conftest import DANISH, FINAL, World, body, flat
from standin import Fault, add_reference, add_retraction, set_piece, study

from monitor.core.models import ChangeKind

MERGED_INTO = "NCT06999999"
OPS = 'security = "none"\nops_recipients = ["ops@example.org"]\n'


def baseline(world: World) -> None:
    world.baseline()


def only_digest(world: World) -> tuple[str, str, str]:
    """Subject, text and HTML of the one content digest sent so far."""
    [message] = [m for m in world.messages if "ops@example.org" not in str(m["To"])]
    return str(message["Subject"]), body(message), body(message, "html")


# -- being refused --------------------------------------------------------------------------


def test_a_403_is_tried_again_after_a_wait_and_the_cycle_goes_on(world: World) -> None:
    world.registry_settings = "refused_backoff_seconds = 0.01"
    world.registry.fail_next(Fault.refused())
    run = world.check()
    assert run.code == 0, run
    assert "answered 403; trying again in" in run.err


def test_a_403_that_persists_fails_the_cycle_with_one_line_naming_the_url(world: World) -> None:
    world.registry_settings = "refused_backoff_seconds = 0.01\nrefused_retries = 2"
    world.registry.fail_always(Fault.refused())
    run = world.check()
    assert run.code == 1
    assert (
        f"the registry refused this client (HTTP 403) at {world.registry.url}/version after 3"
        " tries over minutes; see docs/operating.md, Troubleshooting"
    ) in run.out
    assert len(world.registry.requests) == 3
    assert "Traceback" not in run.err


# -- aliases ----------------------------------------------------------------------------------


def merge_final(world: World) -> None:
    """FINAL's registration is merged into another record, as a duplicate."""
    record = world.registry.studies[FINAL]
    world.registry.put(
        study(
            MERGED_INTO, BriefTitle=record["protocolSection"]["identificationModule"]["briefTitle"]
        )
    )
    world.registry.merge(FINAL, into=MERGED_INTO)


def test_a_watched_id_that_becomes_an_alias_is_reported_once_then_followed(world: World) -> None:
    world.extra = f'\n[[article.claims]]\ntrial = "{FINAL}"\nstatus = "COMPLETED"\n'
    world.extra += (
        f'\n[[routes]]\nname = "FM"\nrecipients = ["fm@example.org"]\ntrials = ["{FINAL}"]\n'
    )
    baseline(world)
    merge_final(world)
    assert world.check().code == 0
    subjects = {str(m["Subject"]) for m in world.messages}
    assert subjects == {
        f"[LDN monitor] 1 trial changed — {FINAL} now listed under another NCT number"
    }
    text = body(world.messages[0])
    assert f"{FINAL} is now listed under {MERGED_INTO}" in text
    assert "Record not found" not in text
    assert [c.kind for c in world.changes()] == [ChangeKind.LISTED_UNDER]

    # From then on the canonical record is watched, routed to FINAL's desk, and judged.
    world.registry.update(MERGED_INTO, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    start = len(world.registry.requests)
    assert world.check().code == 0
    asked = [r.params.get("filter.ids", "") for r in world.registry.requests[start:]]
    assert not any(FINAL in ids for ids in asked), asked
    latest = world.messages[-1]
    assert str(latest["To"]) == "editor@example.org, desk@example.org, fm@example.org"
    text, html = body(latest), body(latest, "html")
    # Named as the article cites it too: the editor finds it by the old id.
    assert f"{MERGED_INTO}, cited as {FINAL} —" in text and "Status: Completed → Terminated" in text
    assert f">{MERGED_INTO}, cited as {FINAL}</a>" in html
    assert "The article says Completed; the registry now says Terminated" in text

    verify = world.command("verify")
    assert verify.code == 1 and "Terminated" in verify.out and "no record" not in verify.out


# -- changes that keep the old LastUpdatePostDate ---------------------------------------------


def test_a_switch_to_unknown_status_with_an_old_date_is_reported_with_the_last_known(
    world: World,
) -> None:
    world.searches = []
    baseline(world)

    def unknown(record: dict[str, object]) -> None:
        set_piece(record, "OverallStatus", "UNKNOWN")
        set_piece(record, "LastKnownStatus", "RECRUITING")

    world.registry.update(DANISH, unknown, touch=False)
    assert world.check().code == 0
    subject, text, html = only_digest(world)
    assert subject.endswith(f"{DANISH} now Unknown status (last known: Recruiting)")
    for part in (text, html):
        assert "Completed → " in part and "Unknown status (last known: Recruiting)" in part


# -- values the registry really sends ---------------------------------------------------------


def test_the_unknown_enrollment_sentinel_reads_as_unknown_and_contradicts_nothing(
    world: World,
) -> None:
    world.extra = f'\n[[article.claims]]\ntrial = "{DANISH}"\nenrollment = 58\n'
    baseline(world)
    world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 99999999))
    assert world.check().code == 0
    subject, text, html = only_digest(world)
    for part in (subject, text, html):
        assert "99999999" not in part
    assert "Enrollment: 58 (actual) → unknown (actual)" in text
    assert "contradicted" not in text.lower()
    verify = world.command("verify")
    assert verify.code == 0, verify
    assert "the registry says an unknown number of participants" in flat(verify.out)
    assert verify.out.splitlines()[-1] == (
        "verify: 0 of 1 claims agree with the registry, 1 it gives no definite value for;"
        " nothing to re-check"
    )


def test_why_a_trial_stopped_is_shown_as_written_not_markdown_escaped(world: World) -> None:
    baseline(world)

    def stopped(record: dict[str, object]) -> None:
        set_piece(record, "OverallStatus", "TERMINATED")
        # How the API sends it by default (markupFormat=markdown): CommonMark-escaped.
        set_piece(record, "WhyStopped", "Sponsor decision \\[funding\\] \\> 6 months")

    world.registry.update(FINAL, stopped)
    assert world.check().code == 0
    _, text, html = only_digest(world)
    assert "Reason given: Sponsor decision [funding] > 6 months" in text
    assert "Sponsor decision [funding] &gt; 6 months" in html
    assert world.registry.requests[-1].params.get("markupFormat") == "legacy"


def test_a_retraction_of_a_linked_paper_is_news_of_high_importance(world: World) -> None:
    world.registry.update(
        FINAL, lambda r: add_reference(r, "32845365", "RESULT", "Bruun KD. Pain.")
    )
    baseline(world)
    world.registry.update(
        FINAL,
        lambda r: add_retraction(r, "32845365", "39999999", "Pain. 2026;167(1):1"),
        touch=False,
    )
    assert world.check().code == 0
    subject, text, html = only_digest(world)
    assert subject.endswith(f"a paper linked to {FINAL} was retracted")
    assert "[high] A paper linked to this trial was retracted: PMID 32845365" in text
    assert "Retraction notice: PMID 39999999 (Pain. 2026;167(1):1)" in text
    assert "https://pubmed.ncbi.nlm.nih.gov/32845365/" in html


def test_a_retraction_of_a_background_reference_is_said_at_low_importance(world: World) -> None:
    """Real record NCT00554515: its BACKGROUND reference 17255299 is retracted by 30087149.
    Not the trial's own paper, so neither news of a paper nor high; but said, once."""
    background = "Fujii Y. A background paper. Br J Anaesth. 2007."
    world.registry.update(FINAL, lambda r: add_reference(r, "17255299", "BACKGROUND", background))
    baseline(world)
    world.registry.update(
        FINAL,
        lambda r: add_retraction(r, "17255299", "30087149", "Br J Anaesth. 2018;121(2):502"),
        touch=False,
    )
    assert world.check().code == 0
    _, text, html = only_digest(world)
    assert (
        "[low] A paper this trial's record cites as background was retracted: PMID 17255299"
    ) in text
    assert "Retraction notice: PMID 30087149 (Br J Anaesth. 2018;121(2):502)" in text
    assert "https://pubmed.ncbi.nlm.nih.gov/17255299/" in html
    assert "has been published" not in text  # a background reference is not the trial's paper
    assert world.check().code == 0 and len(world.messages) == 1  # once


def test_a_derived_paper_is_a_paper_that_names_the_trial_not_its_results(world: World) -> None:
    baseline(world)
    review = "Cochrane Database Syst Rev. 2025: low-dose naltrexone for chronic pain."
    world.registry.update(FINAL, lambda r: add_reference(r, "40000001", "DERIVED", review))
    assert world.check().code == 0
    subject, text, html = only_digest(world)
    assert subject.endswith(f"a paper naming {FINAL} was linked")
    for part in (subject, text, html):
        assert "results published" not in part.lower()
    assert "A paper that names this trial has been published: PMID 40000001" in text
    assert review in text


def test_a_results_reference_without_a_pmid_is_kept_by_its_citation(world: World) -> None:
    baseline(world)
    citation = "Bruun KD et al. Results of the FINAL trial. Scand J Pain (not indexed)."
    world.registry.update(FINAL, lambda r: add_reference(r, None, "RESULT", citation))
    assert world.check().code == 0
    _, text, _ = only_digest(world)
    assert "Results of this cited trial have been published: a reference without a PMID" in text
    assert citation in text
    assert world.check().code == 0 and len(world.messages) == 1  # once


def test_results_posted_without_a_date_say_so(world: World) -> None:
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "HasResults", True))
    assert world.check().code == 0
    _, text, html = only_digest(world)
    assert "Results posted on ClinicalTrials.gov: the registry gives no date" in text
    assert "the registry gives no date" in html


def test_a_search_the_registry_refuses_fails_alone_and_the_operators_hear_once(
    world: World,
) -> None:
    world.email_extra = OPS
    world.searches = [("LDN", "low dose naltrexone"), ("Broken", "AREA[Bogus]fibromyalgia")]
    run = world.check()
    assert run.code == 0, run
    line = "the saved search “Broken” ('AREA[Bogus]fibromyalgia') was refused: registry refused"
    assert f"REFUSED: {line}" in run.out
    assert "Unknown area name: `Bogus`" in run.out
    [notice] = world.messages
    assert notice["To"] == "ops@example.org"
    assert "refuses 1 saved search" in str(notice["Subject"])
    assert "Broken" in body(notice)
    # The rest went on: the LDN search set its baseline, the cited trials were read.
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    assert world.check().code == 0
    assert len(world.messages) == 2  # the digest; not the refusal again
    assert "refuses" not in str(world.messages[1]["Subject"])
    assert "Broken" in world.command("status").out


def test_a_page_token_that_expires_mid_listing_restarts_the_listing_once(world: World) -> None:
    world.registry_settings = "page_size = 1"
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 60))
    # The search's second page comes after the registry's daily refresh: its token is gone.
    world.registry.refresh_at_request(3)
    run = world.check()
    assert run.code == 0, run
    assert "forgot a page token" in run.err
    _, text, _ = only_digest(world)
    assert "Terminated" in text and "60 (actual)" in text


@pytest.mark.parametrize("transport", ["httpx", "stdlib"])
def test_both_transports_run_a_whole_cycle(world: World, transport: str) -> None:
    world.registry_settings = f'transport = "{transport}"'
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    assert world.check().code == 0
    subject, _, _ = only_digest(world)
    assert subject.endswith(f"{FINAL} now Terminated")
