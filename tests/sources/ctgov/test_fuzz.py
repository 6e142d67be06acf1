"""Property-based: whatever the registry sends, normalize and diff do not crash, and no change
is reported that the data does not show. The checks are plain functions so that
benchmarks/reliability.py can run them on many more examples."""

from __future__ import annotations

from datetime import UTC, datetime

from hostile import records
from hypothesis import HealthCheck, given, settings

from monitor.core.diff import diff
from monitor.core.models import ChangeKind, PendingChange, Snapshot
from monitor.editorial.digest import build_digest
from monitor.editorial.render import make_environment, render_digest
from monitor.sources.ctgov.normalize import RejectedRecord, normalize

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENV = make_environment()
Record = dict[str, object]


def snapshot_or_none(record: object) -> Snapshot | None:
    try:
        return normalize(record).snapshot
    except RejectedRecord:
        return None  # rejected whole: the one outcome allowed besides a snapshot


def check_normalize(record: Record) -> None:
    snapshot = snapshot_or_none(record)
    if snapshot is None:
        return
    assert snapshot.status is not None and snapshot.status.isupper()
    assert snapshot.title is None or ("\n" not in snapshot.title and len(snapshot.title) <= 2000)
    assert snapshot.enrollment_count is None or isinstance(snapshot.enrollment_count, int)
    assert isinstance(snapshot.has_results, bool)
    assert all(
        (p.pmid is None or p.pmid.isdigit())
        and (p.pmid or p.citation)
        and p.type in ("RESULT", "DERIVED")
        for p in snapshot.publications
    )
    assert diff(snapshot, snapshot) == []


def check_changes_are_in_the_data(old_record: Record, new_record: Record) -> None:
    old, new = snapshot_or_none(old_record), snapshot_or_none(new_record)
    if old is None or new is None:
        return
    for change in diff(old, new):
        kind = change.kind
        if kind is ChangeKind.STATUS:
            assert old.status_value != new.status_value and change.after == new.status_value
        elif kind is ChangeKind.ENROLLMENT:
            assert old.enrollment != new.enrollment and change.after == new.enrollment
        elif kind is ChangeKind.RESULTS_POSTED:
            assert new.has_results and not old.has_results
        elif kind is ChangeKind.PUBLICATION:
            [paper] = [
                p
                for p in new.publications
                if p.pmid == change.after and (p.pmid or f"{p.type} {p.citation}" == change.detail)
            ]
            assert paper.key not in {p.key for p in old.publications}
        elif kind is ChangeKind.RETRACTION:
            notices = {
                (p.pmid or p.citation, r.pmid) for p in new.publications for r in p.retractions
            }
            before = {
                (p.pmid or p.citation, r.pmid) for p in old.publications for r in p.retractions
            }
            notice = (change.detail or "").split(" ")[0]
            assert (change.after, notice) in notices - before
        elif kind is ChangeKind.PRIMARY_COMPLETION:
            assert old.primary_completion != new.primary_completion
        else:
            raise AssertionError(f"{kind} between two found records")


def check_render(old_record: Record, new_record: Record) -> None:
    old, new = snapshot_or_none(old_record), snapshot_or_none(new_record)
    if old is None or new is None:
        return
    now = datetime(2026, 11, 25, tzinfo=UTC)
    pending = [PendingChange(i, c, now) for i, c in enumerate(diff(old, new))]
    if not pending:
        return
    digest = build_digest(pending, {new.nct_id: new.title or ""}, now, None)
    message = render_digest(digest, "[LDN monitor]", ENV)
    assert "\n" not in message.subject and "\r" not in message.subject
    assert "<script>" not in message.html


@FUZZ
@given(records())
def test_normalize_never_crashes_and_keeps_types(record: Record) -> None:
    check_normalize(record)


@FUZZ
@given(records(), records())
def test_every_reported_change_is_in_the_data(old: Record, new: Record) -> None:
    check_changes_are_in_the_data(old, new)


@FUZZ
@given(records(), records())
def test_hostile_text_renders_escaped(old: Record, new: Record) -> None:
    check_render(old, new)
