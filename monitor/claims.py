"""What the article says about each cited trial, judged against what the registry says. Pure.

A claim is one field of one trial ("NCT04270877 enrolled 99"), kept as a canonical string so it
can be stored and compared: status "COMPLETED", enrollment "99", enrollment_type "ACTUAL",
phase "PHASE2" (or "PHASE2|PHASE3"), results_posted "true"/"false", completion_year "2022".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from monitor.models import Snapshot


class ClaimField(StrEnum):
    """What a claim is about: a key of `[[article.claims]]`. Stored (claim_states.field, and a
    claim change's detail), so the values never change."""

    STATUS = "status"
    ENROLLMENT = "enrollment"
    ENROLLMENT_TYPE = "enrollment_type"
    PHASE = "phase"
    RESULTS_POSTED = "results_posted"
    COMPLETION_YEAR = "completion_year"


@dataclass(frozen=True)
class Claim:
    trial: str
    field: ClaimField
    expected: str


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    registry: str | None  # the registry's value, canonical like the claim's; None: not given
    agrees: bool


def registry_value(field: ClaimField, snapshot: Snapshot) -> str | None:
    match field:
        case ClaimField.STATUS:
            return snapshot.status
        case ClaimField.ENROLLMENT:
            return snapshot.enrollment  # "101 ACTUAL": the type travels along, for the words
        case ClaimField.ENROLLMENT_TYPE:
            return snapshot.enrollment_type
        case ClaimField.PHASE:
            return snapshot.phases
        case ClaimField.RESULTS_POSTED:
            return "true" if snapshot.has_results else "false"
        case ClaimField.COMPLETION_YEAR:
            return snapshot.completion_date
        case _:
            assert_never(field)


def judge(claim: Claim, snapshot: Snapshot) -> Verdict:
    value = registry_value(claim.field, snapshot)
    match claim.field:
        case ClaimField.ENROLLMENT:
            agrees = value is not None and value.split(" ")[0] == claim.expected
        case ClaimField.COMPLETION_YEAR:
            agrees = value is not None and value[:4] == claim.expected
        case (
            ClaimField.STATUS
            | ClaimField.ENROLLMENT_TYPE
            | ClaimField.PHASE
            | ClaimField.RESULTS_POSTED
        ):
            agrees = value == claim.expected
        case _:
            assert_never(claim.field)
    return Verdict(claim, value, agrees)
