"""The diff rules, one case a line: (what the registry said before, what it says now, expected)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor.core.diff import diff
from monitor.core.models import Change, ChangeKind, Publication, Snapshot

BASE = Snapshot(
    nct_id="NCT04270877",
    title="Low-Dose Naltrexone for Women With Fibromyalgia",
    status="ENROLLING_BY_INVITATION",
    enrollment_count=120,
    enrollment_type="ESTIMATED",
    primary_completion_date="2022-06",
    primary_completion_type="ESTIMATED",
    last_update_posted="2021-05-01",
)
PAPER = Publication("32845365", "RESULT", "Bruun KD et al. Pain. 2021.")
BACKGROUND_NOW_RESULT = Publication("30248938", "DERIVED", "Derived paper.")


def with_(**fields: object) -> Snapshot:
    return replace(BASE, **fields)  # type: ignore[arg-type]


def kinds(changes: list[Change]) -> list[ChangeKind]:
    return [c.kind for c in changes]


CASES = [
    # id, old, new, expected change kinds
    ("baseline", None, BASE, []),
    ("identical", BASE, BASE, []),
    ("untracked-only: last update date", BASE, with_(last_update_posted="2022-01-01"), []),
    ("untracked-only: title wording", BASE, with_(title="LDN in Fibromyalgia"), []),
    ("status", BASE, with_(status="ACTIVE_NOT_RECRUITING"), [ChangeKind.STATUS]),
    ("withdrawn", BASE, with_(status="WITHDRAWN"), [ChangeKind.STATUS]),
    ("enrollment count", BASE, with_(enrollment_count=112), [ChangeKind.ENROLLMENT]),
    ("enrollment type", BASE, with_(enrollment_type="ACTUAL"), [ChangeKind.ENROLLMENT]),
    ("results posted", BASE, with_(has_results=True), [ChangeKind.RESULTS_POSTED]),
    ("results stay posted", with_(has_results=True), with_(has_results=True), []),
    ("publication linked", BASE, with_(publications=(PAPER,)), [ChangeKind.PUBLICATION]),
    ("publication kept", with_(publications=(PAPER,)), with_(publications=(PAPER,)), []),
    ("publication unlinked", with_(publications=(PAPER,)), BASE, []),
    (
        "two publications",
        BASE,
        with_(publications=(PAPER, BACKGROUND_NOW_RESULT)),
        [ChangeKind.PUBLICATION, ChangeKind.PUBLICATION],
    ),
    (
        "completion date",
        BASE,
        with_(primary_completion_date="2023-01"),
        [ChangeKind.PRIMARY_COMPLETION],
    ),
    (
        "completion actual",
        BASE,
        with_(primary_completion_type="ACTUAL"),
        [ChangeKind.PRIMARY_COMPLETION],
    ),
    ("record missing", BASE, Snapshot.missing(BASE.nct_id), [ChangeKind.RECORD_MISSING]),
    ("still missing", Snapshot.missing(BASE.nct_id), Snapshot.missing(BASE.nct_id), []),
    ("record back", Snapshot.missing(BASE.nct_id), BASE, [ChangeKind.RECORD_RESTORED]),
    (
        "several at once",
        BASE,
        with_(status="COMPLETED", enrollment_count=99, enrollment_type="ACTUAL", has_results=True),
        [ChangeKind.STATUS, ChangeKind.ENROLLMENT, ChangeKind.RESULTS_POSTED],
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_diff_reports_exactly_the_tracked_changes(
    old: Snapshot | None, new: Snapshot, expected: list[ChangeKind]
) -> None:
    assert kinds(diff(old, new)) == expected


def test_changes_carry_the_registry_values_before_and_after() -> None:
    new = with_(
        status="TERMINATED",
        why_stopped="Sponsor decision",
        enrollment_count=112,
        enrollment_type="ACTUAL",
        has_results=True,
        results_first_posted="2023-02-10",
        publications=(PAPER,),
    )
    assert diff(BASE, new) == [
        Change(
            BASE.nct_id,
            ChangeKind.STATUS,
            "ENROLLING_BY_INVITATION",
            "TERMINATED",
            "Sponsor decision",
        ),
        Change(BASE.nct_id, ChangeKind.ENROLLMENT, "120 ESTIMATED", "112 ACTUAL"),
        Change(BASE.nct_id, ChangeKind.RESULTS_POSTED, None, "2023-02-10"),
        Change(
            BASE.nct_id,
            ChangeKind.PUBLICATION,
            None,
            "32845365",
            "RESULT Bruun KD et al. Pain. 2021.",
            pmid="32845365",  # the paper it is about, whoever else names it
        ),
    ]
