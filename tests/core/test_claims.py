"""The article's claims: judged against the registry, reported when they turn, and `verify`."""

from __future__ import annotations

import pytest
from conftest import DANISH, FINAL, World, body, flat
from standin import set_piece

from monitor.core.claims import Claim, ClaimField, judge
from monitor.core.models import Snapshot
from monitor.editorial.words import claim_sentence

FINAL_NOW = Snapshot(
    FINAL,
    status="COMPLETED",
    enrollment_count=99,
    enrollment_type="ACTUAL",
    phases="PHASE2",
    completion_date="2022-12-27",
)

JUDGED = [
    # field, what the article says, agrees with FINAL_NOW
    ("status", "COMPLETED", True),
    ("status", "RECRUITING", False),
    ("enrollment", "99", True),
    ("enrollment", "101", False),
    ("enrollment_type", "ACTUAL", True),
    ("enrollment_type", "ESTIMATED", False),
    ("phase", "PHASE2", True),
    ("phase", "PHASE2|PHASE3", False),
    ("results_posted", "false", True),
    ("results_posted", "true", False),
    ("completion_year", "2022", True),
    ("completion_year", "2021", False),
]


@pytest.mark.parametrize(("field", "said", "agrees"), JUDGED)
def test_claims_are_judged_field_by_field(field: str, said: str, agrees: bool) -> None:
    assert judge(Claim(FINAL, ClaimField(field), said), FINAL_NOW).agrees is agrees


@pytest.mark.parametrize(
    ("field", "said", "registry", "sentence"),
    [
        (
            "enrollment",
            "99",
            "101 ACTUAL",
            "The article says 99 participants; the registry now says 101 participants (actual)",
        ),
        (
            "status",
            "COMPLETED",
            "TERMINATED",
            "The article says Completed; the registry now says Terminated",
        ),
        (
            "results_posted",
            "false",
            "true",
            "The article says no results are posted; the registry now says results are posted",
        ),
        (
            "phase",
            "PHASE2",
            "PHASE2|PHASE3",
            "The article says phase 2; the registry now says phase 2/phase 3",
        ),
        (
            "completion_year",
            "2022",
            "2023-03",
            "The article says completion in 2022; the registry now says completion March 2023",
        ),
        (
            "completion_year",
            "2022",
            None,
            "The article says completion in 2022; the registry now says no completion date",
        ),
    ],
)
def test_claims_read_as_sentences(
    field: str, said: str, registry: str | None, sentence: str
) -> None:
    assert claim_sentence(ClaimField(field), said, registry) == sentence


CLAIMS = f"""
[[article.claims]]
trial = "{FINAL}"
status = "COMPLETED"
enrollment = 99
results_posted = false
phase = "PHASE2"

[[article.claims]]
trial = "{DANISH}"
enrollment = 58
completion_year = 2019
"""


def test_a_contradiction_is_reported_when_it_appears_and_when_it_is_resolved(world: World) -> None:
    world.extra = CLAIMS
    assert world.check().code == 0
    assert world.messages == []  # every claim agrees with the baseline
    world.registry.update(FINAL, lambda r: set_piece(r, "EnrollmentCount", 101))
    assert world.check().code == 0
    [first] = world.messages
    # The subject names the article and what is newly wrong with it.
    # (Python folds an ASCII subject with an apostrophe onto its own line, which reads back
    # with the fold's space in front; mail readers drop it.)
    assert first["Subject"].strip() == (
        "[LDN monitor] The article: the registry contradicts it on FINAL's enrollment"
    )
    text = body(first)
    # The claim is said beside the change that moved it, once.
    assert (
        "[high] Enrollment: 99 (actual) → 101 (actual) > The article says 99 participants;"
        " the registry now says 101 participants (actual). Re-check what the article says"
        " about NCT04270877." in text
    )
    assert "The article is contradicted" not in text
    # Still contradicted, and something else changes: the contradiction is not repeated.
    world.registry.update(FINAL, lambda r: set_piece(r, "EnrollmentCount", 103))
    assert world.check().code == 0
    assert "contradicted" not in body(world.messages[1])
    world.registry.update(FINAL, lambda r: set_piece(r, "EnrollmentCount", 99))
    assert world.check().code == 0
    resolved = body(world.messages[2])
    assert (
        "Enrollment: 103 (actual) → 99 (actual) > The article says 99 participants, as the"
        " registry now does." in resolved
    )


def test_a_claim_already_wrong_when_first_configured_is_reported(world: World) -> None:
    assert world.check().code == 0
    world.extra = CLAIMS.replace("enrollment = 58", "enrollment = 60")
    assert world.check().code == 0
    [message] = world.messages
    assert (
        "The article says 60 participants; the registry now says 58 participants (actual)"
        in body(message)
    )
    assert world.check().code == 0
    assert len(world.messages) == 1


@pytest.mark.no_database
def test_verify_prints_the_article_check_and_exits_0_when_all_agree(world: World) -> None:
    world.extra = CLAIMS
    run = world.command("verify")
    assert run.code == 0, run
    lines = run.out.splitlines()
    assert lines[0] == "Article check: the article"
    assert flat(run.out).startswith("Article check: the article Nothing to re-check")
    # The agreements, in one line.
    assert (
        "Status, phase and results on ClinicalTrials.gov agree for FINAL; enrollment agrees"
        " for both trials; completion agrees for LDN-in-FM." in flat(run.out)
    )
    assert "! " not in run.out  # nothing marked to re-check
    assert lines[-1] == "verify: 6 of 6 claims agree with the registry; nothing to re-check"


@pytest.mark.no_database
def test_verify_exits_1_when_the_registry_disagrees_or_lost_the_record(world: World) -> None:
    world.extra = CLAIMS
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.registry.remove(DANISH)
    run = world.command("verify")
    assert run.code == 1
    lines, out = run.out.splitlines(), flat(run.out)
    assert (
        "The registry contradicts what the article says of FINAL's status: the article says"
        " Completed; the registry now says Terminated." in out
    )
    assert (
        "The registry no longer returns NCT02806440, a trial the article cites (removed, or"
        " merged into another record)." in out
    )
    assert lines[-1] == "verify: 3 of 6 claims agree with the registry; 2 things to re-check"
