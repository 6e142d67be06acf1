"""What the article says about each cited trial, judged against what the registry says. Pure.

A claim is one field of one trial ("NCT04270877 enrolled 99"), kept as a canonical string so it
can be stored and compared: status "COMPLETED", enrollment "99", enrollment_type "ACTUAL",
phase "PHASE2" (or "PHASE2|PHASE3"), results_posted "true"/"false", completion_year "2022".
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.models import Snapshot

FIELDS = ("status", "enrollment", "enrollment_type", "phase", "results_posted", "completion_year")


@dataclass(frozen=True)
class Claim:
    trial: str
    field: str
    expected: str


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    registry: str | None  # the registry's value, canonical like the claim's; None: not given
    agrees: bool


def registry_value(field: str, snapshot: Snapshot) -> str | None:
    if field == "status":
        return snapshot.status
    if field == "enrollment":
        return snapshot.enrollment  # "101 ACTUAL": the type travels along, for the words
    if field == "enrollment_type":
        return snapshot.enrollment_type
    if field == "phase":
        return snapshot.phases
    if field == "results_posted":
        return "true" if snapshot.has_results else "false"
    if field == "completion_year":
        return snapshot.completion_date
    raise ValueError(f"unknown claim field {field!r}")


def judge(claim: Claim, snapshot: Snapshot) -> Verdict:
    value = registry_value(claim.field, snapshot)
    if claim.field == "enrollment":
        agrees = value is not None and value.split(" ")[0] == claim.expected
    elif claim.field == "completion_year":
        agrees = value is not None and value[:4] == claim.expected
    else:
        agrees = value == claim.expected
    return Verdict(claim, value, agrees)
