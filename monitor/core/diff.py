"""The pure comparison of two snapshots of one trial (or of two readings of one paper in
PubMed): what changed that an article cares about.

No I/O and no clock, so every rule is a one-line test case. Fields that are tracked but not
reported here (title, last update date) are still stored by the store; they just never make news.
"""

from __future__ import annotations

from monitor.core.models import (
    BACKGROUND_REFERENCE,
    Change,
    ChangeKind,
    NoticeKind,
    Paper,
    PaperRole,
    Snapshot,
)


def diff(old: Snapshot | None, new: Snapshot) -> list[Change]:
    """Changes from `old` to `new`. No previous snapshot is the baseline: nothing to report."""
    if old is None:
        return []
    if old.found != new.found:
        kind = ChangeKind.RECORD_RESTORED if new.found else ChangeKind.RECORD_MISSING
        return [Change(new.nct_id, kind, before=old.status_value, after=new.status_value)]
    if not new.found:
        return []
    changes: list[Change] = []
    if old.status_value != new.status_value:
        changes.append(
            Change(
                new.nct_id,
                ChangeKind.STATUS,
                old.status_value,
                new.status_value,
                detail=new.why_stopped,
            )
        )
    if old.enrollment != new.enrollment:
        changes.append(Change(new.nct_id, ChangeKind.ENROLLMENT, old.enrollment, new.enrollment))
    if new.has_results and not old.has_results:
        changes.append(
            Change(new.nct_id, ChangeKind.RESULTS_POSTED, after=new.results_first_posted)
        )
    changes.extend(_papers(old, new))
    if old.primary_completion != new.primary_completion:
        changes.append(
            Change(
                new.nct_id,
                ChangeKind.PRIMARY_COMPLETION,
                old.primary_completion,
                new.primary_completion,
            )
        )
    return changes


def _papers(old: Snapshot, new: Snapshot) -> list[Change]:
    """Papers newly linked to the trial, and retractions newly attached to its papers."""
    known = {p.key: p for p in old.publications}
    changes: list[Change] = []
    for paper in new.publications:
        before = known.get(paper.key)
        if before is None:
            changes.append(
                Change(
                    new.nct_id,
                    ChangeKind.PUBLICATION,
                    after=paper.pmid,
                    detail=f"{paper.type} {paper.citation}",
                    pmid=paper.pmid,
                )
            )
        seen = {r.pmid for r in before.retractions} if before else set()
        changes.extend(
            Change(
                new.nct_id,
                ChangeKind.RETRACTION,
                after=paper.pmid or paper.citation,
                detail=" ".join(part for part in (notice.pmid, notice.source) if part),
            )
            for notice in paper.retractions
            if notice.pmid not in seen
        )
    # A retraction of what the record cites for context: said, at low importance.
    kept = {p.key: p for p in old.background}
    for paper in new.background:
        before = kept.get(paper.key)
        seen = {r.pmid for r in before.retractions} if before else set()
        changes.extend(
            Change(
                new.nct_id,
                ChangeKind.RETRACTION,
                before=BACKGROUND_REFERENCE,
                after=paper.pmid or paper.citation,
                detail=" ".join(part for part in (notice.pmid, notice.source) if part),
            )
            for notice in paper.retractions
            if notice.pmid not in seen
        )
    return changes


def hollow(old: Snapshot, new: Snapshot) -> bool:
    """Whether `new` lost, at once, every tracked field `old` had besides its id and status:
    the mark of a partial answer (seen: a record with only its status), not of news."""
    if not (old.found and new.found):
        return False
    had = [name for name in _CONTENT if _present(getattr(old, name))]
    return bool(had) and not any(_present(getattr(new, name)) for name in _CONTENT)


# The tracked fields besides the id and the status.
_CONTENT = (
    "title",
    "enrollment_count",
    "enrollment_type",
    "primary_completion_date",
    "primary_completion_type",
    "last_update_posted",
    "publications",
    "phases",
    "completion_date",
)


def _present(value: object) -> bool:
    return value is not None and value != ()


def new_trial(snapshot: Snapshot, search_name: str) -> Change:
    """A trial a saved search found for the first time."""
    return Change(
        snapshot.nct_id, ChangeKind.NEW_TRIAL, after=search_name, detail=snapshot.status_value
    )


def paper_notices(old: Paper | None, new: Paper) -> list[Change]:
    """Notices newly linked to a watched paper (a retraction, an erratum, an expression of
    concern, an update). No earlier reading is the baseline: nothing to report."""
    if old is None:
        return []
    known = {n.key for n in old.notices}
    found = [
        Change(
            None,
            ChangeKind.PAPER_NOTICE,
            after=n.kind.value,
            detail=f"{n.pmid or '-'} {n.source}".strip(),
            pmid=new.pmid,
        )
        for n in new.notices
        if n.key not in known
    ]
    retracted = any(c.after == NoticeKind.RETRACTION for c in found)
    if new.retracted and not old.retracted and not retracted:
        # PubMed typed it "Retracted Publication" before linking the notice itself.
        found.append(
            Change(None, ChangeKind.PAPER_NOTICE, after=NoticeKind.RETRACTION, pmid=new.pmid)
        )
    return found


def trial_paper(nct_id: str, paper: Paper, results_known: bool = False) -> Change:
    """A paper newly listing a cited trial: its results, or (by its publication types) a
    protocol, a review or another paper naming it; a trial report when the trial's results
    paper is already known is another report of it (a secondary analysis, a follow-up)."""
    role = paper.role
    if role is PaperRole.RESULTS and results_known:
        role = PaperRole.FURTHER_REPORT
    if role is PaperRole.RESULTS:
        return Change(nct_id, ChangeKind.RESULTS_PAPER, after=paper.pmid, pmid=paper.pmid)
    return Change(
        nct_id, ChangeKind.TRIAL_PAPER, after=paper.pmid, detail=role.value, pmid=paper.pmid
    )
