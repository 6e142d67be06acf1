"""Pending changes → Digest: grouped by trial (or by paper), each placed by how it stands to the
articles (cited, found close to them, off topic), the weightiest first within a trial and within
a section, each claim said beside the change that moved it. Pure: the words and the layout are
render.py's and each channel's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from monitor.core.articles import Article, Evidence
from monitor.core.claims import reported_as
from monitor.core.digest import Digest, Ranked, TrialChanges
from monitor.core.importance import Ranking, category, nearness
from monitor.core.models import (
    Category,
    Change,
    ChangeKind,
    Importance,
    PendingChange,
    Relation,
)
from monitor.editorial.words import claim_field

# The digest's sections, in order: a search's finds close to the articles and those related
# to them share one.
SECTION = {
    Relation.CITED: 0,
    Relation.CITED_PAPER: 1,
    Relation.CLOSE: 2,
    Relation.RELATED: 2,
    Relation.LITERATURE: 3,
    Relation.OFF_TOPIC: 4,
}


def build_digest(
    pending: Sequence[PendingChange],
    titles: Mapping[str, str],
    generated_at: datetime,
    data_timestamp: str | None,
    ranking: Ranking | None = None,
    evidence: Evidence | None = None,
) -> Digest:
    """Group changes by trial; place each trial by how it stands to the articles (cited, found
    close to them, or off topic); weightiest first within a trial and within a section."""
    ranking = ranking or Ranking()
    evidence = evidence or Evidence()
    topics = evidence.topics()
    by_subject: dict[str, list[Change]] = {}
    for item in pending:
        by_subject.setdefault(item.change.subject, []).append(item.change)
    groups: list[TrialChanges] = []
    for subject, changes in by_subject.items():
        pmid = changes[0].pmid if changes[0].nct_id is None else None
        if pmid is not None:
            groups.append(_paper_group(subject, pmid, changes, ranking, evidence))
            continue
        snapshot = evidence.latest.get(subject)
        citing = evidence.citing(subject)
        claimed: frozenset[ChangeKind] = frozenset()
        if citing:
            relation, keys = Relation.CITED, tuple(a.key for a, _ in citing)
            shared: tuple[str, ...] = ()
            claimed = _claimed(citing)
        else:
            near = nearness(snapshot, topics)
            relation, shared = near.relation, near.shared
            keys = (near.article,) if near.article is not None else ()
        items = [_ranked(c, said, ranking, relation, claimed) for c, said in written_once(changes)]
        items.sort(key=_weight)
        groups.append(
            TrialChanges(
                nct_id=subject,
                title=titles.get(subject, "(title not known)"),
                items=tuple(items),
                relation=relation,
                articles=keys,
                shared=shared,
                snapshot=snapshot,
            )
        )
    groups.sort(key=lambda t: (SECTION[t.relation], _weight(t.items[0]), t.nct_id))
    return Digest(
        trials=tuple(groups),
        generated_at=generated_at,
        data_timestamp=data_timestamp,
        change_ids=tuple(item.id for item in pending),
    )


def _paper_group(
    subject: str, pmid: str, changes: Sequence[Change], ranking: Ranking, evidence: Evidence
) -> TrialChanges:
    """The changes of a paper no trial is known for: one an article cites (a notice linked to
    it), or one a literature search found."""
    citing = evidence.citing_paper(pmid)
    relation = Relation.CITED_PAPER if citing else Relation.LITERATURE
    items = sorted((_ranked(c, (), ranking, relation) for c in changes), key=_weight)
    paper = evidence.papers.get(pmid)
    return TrialChanges(
        nct_id=subject,
        title=(paper.title if paper and paper.title else "(title not known)"),
        items=tuple(items),
        relation=relation,
        articles=tuple(a.key for a, _ in citing),
        pmid=pmid,
    )


def written_once(changes: Sequence[Change]) -> list[tuple[Change, tuple[Change, ...]]]:
    """Each change once, with the claim changes said beside it: a claim the registry now
    contradicts (or confirms again) is said with the change that moved it (the status, the
    enrollment), not apart; the same claim in two articles is one entry that names both."""
    kinds = {c.kind for c in changes}
    beside: dict[ChangeKind, list[Change]] = {}
    seen: set[tuple[ChangeKind, str | None, str | None]] = set()
    kept: list[Change] = []
    for change in changes:
        if change.kind in (ChangeKind.CLAIM_CONTRADICTED, ChangeKind.CLAIM_RESOLVED):
            field = claim_field(change.detail)
            moved_by = reported_as(field) if field is not None else None
            if moved_by is not None and moved_by in kinds:
                beside.setdefault(moved_by, []).append(change)
                continue
            key = (change.kind, change.detail, change.after)
            if key in seen:
                continue
            seen.add(key)
        kept.append(change)
    return [(change, tuple(beside.pop(change.kind, ()))) for change in kept]


def _ranked(
    change: Change,
    beside: Sequence[Change],
    ranking: Ranking,
    relation: Relation,
    claimed: frozenset[ChangeKind] = frozenset(),
) -> Ranked:
    """A change stands where the weightiest of it and the claims said beside it would: an
    enrollment that contradicts the article ranks (and heads the subject) as a contradiction.
    A change of a field no citing article makes a claim about is not weighed as one that
    does."""

    def key(c: Change) -> tuple[int, int]:
        return ranking.key(c, relation, c.kind in claimed)

    top = min([change, *beside], key=key)
    return Ranked(change, category(top), ranking.importance(top, relation, top.kind in claimed))


def _claimed(citing: Sequence[tuple[Article, str]]) -> frozenset[ChangeKind]:
    """The kinds of change that move a field the citing articles make a claim about (and the
    claim changes themselves)."""
    kinds = {ChangeKind.CLAIM_CONTRADICTED, ChangeKind.CLAIM_RESOLVED}
    for article, cited_as in citing:
        for claim in article.claims:
            moved_by = reported_as(claim.field) if claim.trial == cited_as else None
            if moved_by is not None:
                kinds.add(moved_by)
    return frozenset(kinds)


_LEVEL = {level: index for index, level in enumerate(Importance)}
_ORDER = {category: index for index, category in enumerate(Category)}


def _weight(item: Ranked) -> tuple[int, int]:
    """Sorts the weightiest first: its importance, then its category's order."""
    return _LEVEL[item.importance], _ORDER[item.category]
