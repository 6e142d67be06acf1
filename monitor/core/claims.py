"""What the article says about each cited trial, judged against what the registry says. Pure.

A claim is one field of one trial ("NCT04270877 enrolled 99"), kept as a canonical string so it
can be stored and compared: status "COMPLETED", enrollment "99", enrollment_type "ACTUAL",
phase "PHASE2" (or "PHASE2|PHASE3"), results_posted "true"/"false", completion_year "2022".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from monitor.core.models import ChangeKind, Snapshot


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
    article: str = ""  # the key of the article that says it ("" for the unnamed one)


class Agreement(StrEnum):
    """What the registry's value says of a claim (stored as claim_states.agrees, true/false)."""

    AGREES = "agrees"
    DISAGREES = "disagrees"
    # The registry gives no definite value to compare (an enrollment of 99999999): neither a
    # contradiction nor a confirmation.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    registry: str | None  # the registry's value, canonical like the claim's; None: not given
    agreement: Agreement

    @property
    def agrees(self) -> bool:
        return self.agreement is Agreement.AGREES

    @property
    def disagrees(self) -> bool:
        return self.agreement is Agreement.DISAGREES


def registry_value(field: ClaimField, snapshot: Snapshot) -> str | None:
    match field:
        case ClaimField.STATUS:
            return snapshot.status_value  # "UNKNOWN RECRUITING": the last known one travels along
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


def reported_as(field: ClaimField) -> ChangeKind | None:
    """The kind of change the registry reports when this field moves (so a claim about it is
    said beside that change, not apart), or None when no change of its own is reported."""
    match field:
        case ClaimField.STATUS:
            return ChangeKind.STATUS
        case ClaimField.ENROLLMENT | ClaimField.ENROLLMENT_TYPE:
            return ChangeKind.ENROLLMENT
        case ClaimField.RESULTS_POSTED:
            return ChangeKind.RESULTS_POSTED
        case ClaimField.PHASE | ClaimField.COMPLETION_YEAR:
            return None
        case _:
            assert_never(field)


def judge(claim: Claim, snapshot: Snapshot) -> Verdict:
    value = registry_value(claim.field, snapshot)
    match claim.field:
        case ClaimField.ENROLLMENT:
            count = value.split(" ")[0] if value is not None else None
            if count == "unknown":
                return Verdict(claim, value, Agreement.UNKNOWN)
            agrees = count == claim.expected
        case ClaimField.COMPLETION_YEAR:
            agrees = value is not None and value[:4] == claim.expected
        case ClaimField.STATUS:
            agrees = value == claim.expected
        case ClaimField.ENROLLMENT_TYPE | ClaimField.PHASE | ClaimField.RESULTS_POSTED:
            agrees = value == claim.expected
        case _:
            assert_never(claim.field)
    return Verdict(claim, value, Agreement.AGREES if agrees else Agreement.DISAGREES)
