"""The typed values that pass between the stages: Snapshot, Change, Digest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
HISTORY_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history"
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"

# Reference types that mean "a paper reporting this trial", as opposed to BACKGROUND reading.
RESULT_REFERENCE_TYPES = ("RESULT", "DERIVED")


@dataclass(frozen=True)
class Publication:
    pmid: str
    type: str
    citation: str


@dataclass(frozen=True)
class Snapshot:
    """What the registry said about one trial at one moment, reduced to the tracked fields.

    `found=False` records that the registry no longer returned the trial; every other field is
    then empty.
    """

    nct_id: str
    found: bool = True
    title: str | None = None
    status: str | None = None
    why_stopped: str | None = None
    enrollment_count: int | None = None
    enrollment_type: str | None = None
    has_results: bool = False
    results_first_posted: str | None = None
    primary_completion_date: str | None = None
    primary_completion_type: str | None = None
    last_update_posted: str | None = None
    publications: tuple[Publication, ...] = ()

    @classmethod
    def missing(cls, nct_id: str) -> Snapshot:
        return cls(nct_id=nct_id, found=False)

    @property
    def enrollment(self) -> str | None:
        """Count and type as one value, as changes store it: "120 ESTIMATED"."""
        return _pair(self.enrollment_count, self.enrollment_type)

    @property
    def primary_completion(self) -> str | None:
        """Date and type as one value: "2022-06 ACTUAL"."""
        return _pair(self.primary_completion_date, self.primary_completion_type)


def _pair(value: object, kind: str | None) -> str | None:
    if value is None and kind is None:
        return None
    return " ".join(str(part) for part in (value, kind) if part is not None)


@dataclass(frozen=True)
class Observation:
    """A snapshot together with the record exactly as the registry sent it."""

    snapshot: Snapshot
    raw: str | None


class ChangeKind(StrEnum):
    """What happened to a trial. The values are stored, so they never change."""

    RESULTS_POSTED = "results_posted"
    PUBLICATION = "publication"
    RECORD_MISSING = "record_missing"
    RECORD_RESTORED = "record_restored"
    STATUS = "status"
    ENROLLMENT = "enrollment"
    PRIMARY_COMPLETION = "primary_completion"
    NEW_TRIAL = "new_trial"


# The order in which the digest lists changes, most consequential for an article first.
KIND_ORDER = tuple(ChangeKind)


@dataclass(frozen=True)
class Change:
    """One reportable change. `before`/`after` are the registry's own values, as strings.

    Status: the enum value (WHY_STOPPED goes in `detail`); enrollment: "120 ESTIMATED";
    dates: "2022-06 ACTUAL"; publication: the PMID (citation and type in `detail`, as
    "TYPE citation"); results posted: the first-posted date; new trial: the search's name.
    """

    nct_id: str
    kind: ChangeKind
    before: str | None = None
    after: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class PendingChange:
    """A stored change waiting for delivery, with its row id and when it was found."""

    id: int
    change: Change
    detected_at: datetime


@dataclass(frozen=True)
class TrialChanges:
    nct_id: str
    title: str
    changes: tuple[Change, ...]

    @property
    def url(self) -> str:
        return STUDY_URL.format(nct_id=self.nct_id)

    @property
    def history_url(self) -> str:
        return HISTORY_URL.format(nct_id=self.nct_id)


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


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
