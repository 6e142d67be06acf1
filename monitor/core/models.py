"""The typed values that pass between the stages: Snapshot, Change, Digest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# The identifiers articles cite evidence by. The registry's own pattern for an NCT id,
# ^[Nn][Cc][Tt]0*[1-9]\d{0,7}$, in the form records use: NCT and eight digits, not all zero (one id
# outside it makes the registry refuse a whole batch); a PubMed id is a number.
NCT_ID = re.compile(r"NCT(?!0{8})\d{8}")
PMID = re.compile(r"[1-9]\d{0,8}")

STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
HISTORY_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history"
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"

# Reference types that mean "a paper about this trial", as opposed to BACKGROUND reading: RESULT,
# which the sponsor enters as a results paper, and DERIVED, which NLM links automatically from any
# PubMed record that names the trial (a review, a protocol, a preclinical study, or its results).
RESULT_REFERENCE_TYPES = ("RESULT", "DERIVED")
BACKGROUND_REFERENCE = "BACKGROUND"  # a reference the record cites for context
# EnrollmentCount 99999999 is the registry's way of saying the count is unknown.
ENROLLMENT_UNKNOWN = 99_999_999

# The registry's overall statuses and phases (its enums; words.py says them as its website does).
STATUSES = frozenset(
    {
        *("ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING"),
        *("RECRUITING", "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE"),
        *("NO_LONGER_AVAILABLE", "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING"),
        *("WITHHELD", "UNKNOWN"),
    }
)
PHASES = frozenset({"NA", "EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4"})


@dataclass(frozen=True)
class Retraction:
    """A retraction notice the registry attaches to a reference (RetractionPMID, -Source)."""

    pmid: str
    source: str | None = None


@dataclass(frozen=True)
class Publication:
    """A RESULT or DERIVED reference; one without a PMID is known by its citation."""

    pmid: str | None
    type: str
    citation: str
    retractions: tuple[Retraction, ...] = ()

    @property
    def key(self) -> str:
        return self.pmid or f"citation:{self.citation}"


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
    # The status before the registry itself switched an unverified trial to UNKNOWN.
    last_known_status: str | None = None
    why_stopped: str | None = None
    enrollment_count: int | None = None
    enrollment_type: str | None = None
    has_results: bool = False
    results_first_posted: str | None = None
    primary_completion_date: str | None = None
    primary_completion_type: str | None = None
    last_update_posted: str | None = None
    publications: tuple[Publication, ...] = ()
    # BACKGROUND references the registry marks retracted, and only those: what the record
    # cites for context is not the trial's paper, but its retraction is worth a low note.
    background: tuple[Publication, ...] = ()
    # Tracked for the article's claims (see claims.py), not reported as changes of their own.
    phases: str | None = None  # "PHASE2", or "PHASE2|PHASE3"
    completion_date: str | None = None
    # Other NCT ids the registry knows this study by (duplicate registrations merged into it).
    aliases: tuple[str, ...] = ()
    # What a new trial is shown with, and how close it is to an article's trials is judged by;
    # never reported as changes of their own.
    conditions: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    sponsor: str | None = None
    start_date: str | None = None
    # The short name it goes by ("FINAL"): how an editor's sentence names it, when it has one.
    acronym: str | None = None

    @classmethod
    def missing(cls, nct_id: str) -> Snapshot:
        return cls(nct_id=nct_id, found=False)

    @property
    def status_value(self) -> str | None:
        """The status as changes store it, with the last known one when the registry says
        UNKNOWN: "UNKNOWN RECRUITING"."""
        if self.status == "UNKNOWN" and self.last_known_status:
            return f"{self.status} {self.last_known_status}"
        return self.status

    @property
    def enrollment(self) -> str | None:
        """Count and type as one value, as changes store it: "120 ESTIMATED"; a count the
        registry gives as unknown (99999999) is "unknown ESTIMATED"."""
        count = "unknown" if self.enrollment_count == ENROLLMENT_UNKNOWN else self.enrollment_count
        return _pair(count, self.enrollment_type)

    @property
    def primary_completion(self) -> str | None:
        """Date and type as one value: "2022-06 ACTUAL"."""
        return _pair(self.primary_completion_date, self.primary_completion_type)


def _pair(value: object, kind: str | None) -> str | None:
    if value is None and kind is None:
        return None
    return " ".join(str(part) for part in (value, kind) if part is not None)


class NoticeKind(StrEnum):
    """A notice PubMed links to a paper (MEDLINE's CommentsCorrections RefType) that changes
    what the paper can be trusted for. The values are stored, so they never change."""

    RETRACTION = "RetractionIn"
    EXPRESSION_OF_CONCERN = "ExpressionOfConcernIn"
    ERRATUM = "ErratumIn"
    UPDATE = "UpdateIn"
    CORRECTED_AND_REPUBLISHED = "CorrectedandRepublishedIn"
    RETRACTED_AND_REPUBLISHED = "RetractedandRepublishedIn"


def notice_of(value: str | None) -> NoticeKind:
    """A stored notice change's kind (`Change.after`): "Retracted Publication" comes without
    its notice, and is a retraction."""
    try:
        return NoticeKind(value or "")
    except ValueError:
        return NoticeKind.RETRACTION


@dataclass(frozen=True)
class Notice:
    """One such notice: its PMID when PubMed gives one (old records have only the citation)."""

    kind: NoticeKind
    pmid: str | None
    source: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.pmid or ' '.join(self.source.lower().split())}"


class PaperRole(StrEnum):
    """What a paper that lists a trial is to that trial, by its publication types."""

    RESULTS = "results"  # a randomized controlled trial or clinical trial report
    # Another such report of a trial whose results paper is known: a secondary analysis, a
    # follow-up. Only a trial's papers side by side tell (core/standing.py), never one alone.
    FURTHER_REPORT = "further_report"
    PROTOCOL = "protocol"
    REVIEW = "review"  # a review, systematic review or meta-analysis
    OTHER = "other"  # a comment, a secondary analysis without a trial type, ...


@dataclass(frozen=True)
class Paper:
    """What PubMed says about one paper, reduced to what the monitor tracks."""

    pmid: str
    title: str | None = None
    journal: str | None = None
    year: str | None = None
    # As PubMed names them ("Randomized Controlled Trial"); a publisher's record may shout.
    publication_types: tuple[str, ...] = ()
    nct_ids: tuple[str, ...] = ()  # the trials it lists (MEDLINE's DataBankList)
    conclusion: str | None = None  # the abstract's conclusions, in its own words
    notices: tuple[Notice, ...] = ()
    # MEDLINE's indexing status: a "Publisher" record's types are provisional.
    status: str | None = None
    doi: str | None = None  # as the paper's record gives it (lower case: DOIs ignore case)

    @property
    def url(self) -> str:
        return PUBMED_URL.format(pmid=self.pmid)

    @property
    def retracted(self) -> bool:
        return "retracted publication" in self._types or any(
            n.kind is NoticeKind.RETRACTION for n in self.notices
        )

    @property
    def role(self) -> PaperRole:
        types = self._types
        if "clinical trial protocol" in types:
            return PaperRole.PROTOCOL
        if types & {
            "randomized controlled trial",
            "clinical trial",
            "pragmatic clinical trial",
        } or any(t.startswith("clinical trial, phase") for t in types):
            return PaperRole.RESULTS
        if types & {"review", "systematic review", "meta-analysis", "scoping review"}:
            return PaperRole.REVIEW
        return PaperRole.OTHER

    @property
    def _types(self) -> frozenset[str]:
        return frozenset(t.lower() for t in self.publication_types)


@dataclass(frozen=True)
class Observation:
    """A snapshot together with the record exactly as the registry sent it."""

    snapshot: Snapshot
    raw: str | None


class ChangeKind(StrEnum):
    """What happened to a trial. The values are stored, so they never change."""

    RESULTS_POSTED = "results_posted"
    PUBLICATION = "publication"
    RETRACTION = "retraction"  # a paper linked to the trial was retracted
    LISTED_UNDER = "listed_under"  # the watched id became an alias of another record
    RECORD_MISSING = "record_missing"
    RECORD_RESTORED = "record_restored"
    STATUS = "status"
    ENROLLMENT = "enrollment"
    PRIMARY_COMPLETION = "primary_completion"
    NEW_TRIAL = "new_trial"
    CLAIM_CONTRADICTED = "claim_contradicted"
    CLAIM_RESOLVED = "claim_resolved"
    # PubMed's side. A paper listing a cited trial: its results (a trial report), or another
    # kind (a protocol, a review; its role in `detail`). `pmid` is the paper, `after` too.
    RESULTS_PAPER = "results_paper"
    TRIAL_PAPER = "trial_paper"
    # A notice linked to a cited paper: `after` is its NoticeKind, `detail` "PMID source".
    PAPER_NOTICE = "paper_notice"
    # A paper a literature search found: `after` is the search's name.
    NEW_PAPER = "new_paper"


class Category(StrEnum):
    """Where a change stands in the digest: its kind, except that a status change to a stop
    (terminated, withdrawn, suspended) is a category of its own. Each has an importance
    (importance.py); within one importance the digest keeps this order. The values are the keys
    of `[digest.importance]`."""

    RESULTS_POSTED = "results_posted"
    PUBLICATION = "publication"  # a RESULT reference: the trial's results paper
    RETRACTION = "retraction"
    PAPER_NOTICE = "paper_notice"  # a cited paper retracted, corrected, updated, or doubted
    PAPER_LINKED = "paper_linked"  # a DERIVED reference: a paper that names the trial
    STOPPED = "stopped"
    CLAIM_CONTRADICTED = "claim_contradicted"
    RECORD_MISSING = "record_missing"
    LISTED_UNDER = "listed_under"
    STATUS = "status"
    ENROLLMENT = "enrollment"
    PRIMARY_COMPLETION = "primary_completion"
    CLAIM_RESOLVED = "claim_resolved"
    RECORD_RESTORED = "record_restored"
    NEW_PAPER = "new_paper"
    NEW_TRIAL = "new_trial"


class Importance(StrEnum):
    """How much a change matters to the article's editors; the digest lists them in this order."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Outcome(StrEnum):
    """How a cycle ended. Stored in `cycles.outcome`, so the values never change."""

    OK = "ok"
    REGISTRY_FAILED = "registry_failed"
    DELIVERY_FAILED = "delivery_failed"
    INTERRUPTED = "interrupted"  # cancelled at shutdown, or a bug: not the registry's fault
    # Done (the registry read, the news sent), but a source that is not required was not read.
    SOURCE_UNREAD = "source_unread"

    @property
    def done(self) -> bool:
        """The cycle did its job: the registry was read and what was due went out."""
        return self in (Outcome.OK, Outcome.SOURCE_UNREAD)


@dataclass(frozen=True)
class Change:
    """One reportable change. `before`/`after` are the registry's own values, as strings.

    Status: the enum value, with the last known one after UNKNOWN ("UNKNOWN RECRUITING";
    WHY_STOPPED goes in `detail`); enrollment: "120 ESTIMATED"; dates: "2022-06 ACTUAL";
    publication: the PMID, or None for a reference known only by its citation (citation and
    type in `detail`, as "TYPE citation"); retraction: the retracted paper's PMID (the notice's
    PMID and source in `detail`); results posted: the first-posted date; listed under: the
    canonical NCT id; new trial: the search's name; claims: what the article says (`before`)
    and the registry's value (`after`), with the claim's field in `detail`.

    `nct_id` is the trial a change is about; `pmid` the paper, when it is about one (PubMed's
    side). A change about a paper no trial is known for has no `nct_id`.
    """

    nct_id: str | None
    kind: ChangeKind
    before: str | None = None
    after: str | None = None
    detail: str | None = None
    pmid: str | None = None
    # The source that found it (sources/<name>), stamped as it is stored; "" before.
    source: str = field(default="", compare=False)

    @property
    def subject(self) -> str:
        """What the change is about, as the digest names it: "NCT04270877", "PMID 32068870"."""
        return self.nct_id or f"PMID {self.pmid}"


@dataclass(frozen=True)
class PendingChange:
    """A stored change waiting for delivery, with its row id and when it was found."""

    id: int
    change: Change
    detected_at: datetime


class Relation(StrEnum):
    """How a trial (or a paper) stands to the articles: the digest's sections, in this order,
    and what a search find's importance follows (importance.py)."""

    CITED = "cited"  # an article cites it
    CITED_PAPER = "cited_paper"  # not a trial: a paper an article cites
    CLOSE = "close"  # a search found it; it shares a condition and an intervention with them
    RELATED = "related"  # it shares one of the two, or there was nothing to compare it with
    LITERATURE = "literature"  # not a trial: a paper a literature search found
    OFF_TOPIC = "off_topic"  # it shares neither: summarised at the end, one line each


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
