"""A digest's values: each change ranked, grouped by trial (or by paper), in reading order.
Built by editorial/digest.py, worded by editorial/render.py, sent by delivery/."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitor.core.models import (
    HISTORY_URL,
    PUBMED_URL,
    STUDY_URL,
    Category,
    Change,
    Importance,
    Relation,
    Snapshot,
)


@dataclass(frozen=True)
class Ranked:
    """A change with its place in the digest (see importance.py)."""

    change: Change
    category: Category
    importance: Importance


@dataclass(frozen=True)
class TrialChanges:
    """The changes of one trial, or of one paper no trial is known for (`pmid` set; `nct_id` is
    then its name in the digest, "PMID 32068870")."""

    nct_id: str
    title: str
    items: tuple[Ranked, ...]  # weightiest first
    relation: Relation = Relation.RELATED
    # The keys of the articles that cite it, or (a search find) of the one it is closest to.
    articles: tuple[str, ...] = ()
    # Words its conditions and interventions share with that article's trials.
    shared: tuple[str, ...] = ()
    snapshot: Snapshot | None = None  # the registry's latest, for a new trial's facts
    pmid: str | None = None

    @property
    def cited(self) -> bool:
        return self.relation in (Relation.CITED, Relation.CITED_PAPER)

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(item.change for item in self.items)

    @property
    def url(self) -> str:
        if self.pmid is not None:
            return PUBMED_URL.format(pmid=self.pmid)
        return STUDY_URL.format(nct_id=self.nct_id)

    @property
    def history_url(self) -> str | None:
        return None if self.pmid is not None else HISTORY_URL.format(nct_id=self.nct_id)


@dataclass(frozen=True)
class Digest:
    """Everything one email says, grouped by trial, in reading order."""

    trials: tuple[TrialChanges, ...]
    generated_at: datetime
    data_timestamp: str | None = None
    change_ids: tuple[int, ...] = field(default=(), compare=False)

    @property
    def change_count(self) -> int:
        return sum(len(t.changes) for t in self.trials)
