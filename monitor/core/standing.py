"""An article's standing: what is wrong with it now, whatever the source told it (its findings),
and what still agrees. The article check, the verdict that opens each digest and `verify` are
views of it. Pure: it is worked out from the evidence at hand (the registry's latest records, the
papers PubMed and the registry list for each cited trial, the cited papers themselves).

A finding is one thing to re-check: a claim the registry contradicts, a results paper the
article does not cite, a published result whose finding the article does not state, a notice on
a cited paper (retraction, erratum, expression of concern, update), a cited record that is gone,
withdrawn or merged. Its id is a hash of what it is and of the evidence that raised it, so the
same finding keeps its id from cycle to cycle and new evidence makes a new one.

A paper is one paper whoever names it: the registry's reference and PubMed's record of the same
PMID are one `TrialPaper`, labelled once (`PaperRole`) by its publication types and by whether
the trial already has a results paper.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from monitor.core.articles import Article, Evidence, StatedOutcome
from monitor.core.claims import Agreement, Claim, ClaimField, judge
from monitor.core.importance import notice_importance
from monitor.core.models import Importance, Notice, NoticeKind, Paper, PaperRole, Snapshot

# A status that means the trial never ran: an article relying on it stands on nothing.
WITHDRAWN = "WITHDRAWN"


class FindingState(StrEnum):
    """Where an editor has put a finding. Stored (findings.state); a new finding is open. A
    handled or dismissed one is never mailed again; new evidence is a new finding."""

    OPEN = "open"
    HANDLED = "handled"  # re-checked, and the article put right (or found right)
    DISMISSED = "dismissed"  # not relevant to the article: a note says why


class FindingKind(StrEnum):
    """What a finding is, in the order a verdict says them. Stored (findings.kind)."""

    PAPER_NOTICE = "paper_notice"  # a cited paper retracted, corrected, doubted or updated
    RECORD_MISSING = "record_missing"  # the registry no longer returns a cited trial
    RECORD_WITHDRAWN = "record_withdrawn"  # a cited trial withdrawn before it enrolled anyone
    RESULTS_UNCITED = "results_uncited"  # a cited trial's results paper the article does not cite
    OUTCOME_UNSTATED = "outcome_unstated"  # its results are out; the article does not say them
    CLAIM_CONTRADICTED = "claim_contradicted"  # what the article says, the registry contradicts
    RECORD_MERGED = "record_merged"  # the cited id is now listed under another record


@dataclass(frozen=True)
class TrialPaper:
    """A paper that names a cited trial, as the registry links it and PubMed lists it."""

    pmid: str | None
    role: PaperRole
    paper: Paper | None = None  # PubMed's record, when it has been read
    citation: str | None = None  # the registry's citation, when only the registry links it
    cited: bool = False  # the article cites it

    @property
    def year(self) -> str | None:
        return self.paper.year if self.paper else None


@dataclass(frozen=True)
class Finding:
    """One thing to re-check in one article. Its identity is the article, the kind, the subject
    and the evidence; the rest is what its words need."""

    article: str  # the article's id
    kind: FindingKind
    subject: str  # the trial as the article cites it ("NCT04270877"), or "PMID 32068870"
    evidence: str  # what raised it: "PMID 38258677", "status=TERMINATED", a notice's key, ...
    importance: Importance
    passages: tuple[str, ...] = ()  # where the article speaks of it: what to re-check
    trial: str | None = field(default=None, compare=False)  # how a sentence names the trial
    paper: TrialPaper | None = field(default=None, compare=False)
    cited_paper: Paper | None = field(default=None, compare=False)
    notice: Notice | None = field(default=None, compare=False)
    claim: Claim | None = field(default=None, compare=False)
    registry: str | None = field(default=None, compare=False)  # the registry's value
    listed_under: str | None = field(default=None, compare=False)
    stated: StatedOutcome | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        """Short and stable: the same finding has the same id in every cycle."""
        seed = "|".join((self.article, self.kind.value, self.subject, self.evidence))
        return hashlib.sha256(seed.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class ClaimCheck:
    """One claim of the article, beside the registry's value."""

    claim: Claim
    registry: str | None
    agreement: Agreement


@dataclass(frozen=True)
class TrialStanding:
    """One cited trial: how a sentence names it, the registry's record, the article's claims
    judged, every paper that names it (each once), what the article says it found."""

    cited_as: str
    snapshot: Snapshot | None  # None: the registry returned no record
    checks: tuple[ClaimCheck, ...]
    papers: tuple[TrialPaper, ...]
    stated: StatedOutcome
    passages: tuple[str, ...]

    @property
    def name(self) -> str:
        """ "FINAL", or its NCT id when it has no acronym."""
        if self.snapshot is not None and self.snapshot.acronym:
            return self.snapshot.acronym
        return self.cited_as

    @property
    def found(self) -> bool:
        return self.snapshot is not None and self.snapshot.found

    @property
    def results(self) -> TrialPaper | None:
        return next((p for p in self.papers if p.role is PaperRole.RESULTS), None)


@dataclass(frozen=True)
class Standing:
    article: Article
    findings: tuple[Finding, ...]  # most important first
    trials: tuple[TrialStanding, ...]
    unreadable: tuple[str, ...] = ()  # cited records a source sent in a form not usable
    more: int = 0  # trials stood and counted but not kept (see `gathered`)

    @property
    def count(self) -> int:
        return len(self.findings)


_ORDER = {kind: index for index, kind in enumerate(FindingKind)}
_LEVEL = {level: index for index, level in enumerate(Importance)}


def stand(article: Article, evidence: Evidence, only: Collection[str] | None = None) -> Standing:
    """The article's standing on this evidence: its findings, most important first, and each
    cited trial's detail. A record a source could not read is left out, not taken for gone.
    `only`: these of its trials alone (a long watch list is stood in slices, or for the few
    a digest speaks of), the article still counted whole in its words."""
    trials = tuple(
        _trial(article, t, evidence)
        for t in article.trials
        if t not in evidence.unreadable and (only is None or t in only)
    )
    findings = [f for t in trials for f in _trial_findings(article, t)]
    findings += _paper_findings(article, evidence)
    findings = _most_important_first(findings)
    unreadable = tuple(t for t in article.trials if t in evidence.unreadable)
    return Standing(article, tuple(dict.fromkeys(findings)), trials, unreadable)


def gathered(article: Article, parts: Iterable[Standing], keep: int) -> Standing:
    """One standing of an article stood a slice of its trials at a time: every finding, once,
    most important first; of the trials, the first `keep` and any whose claims were judged (the
    agreements are said of them), the others only counted. A check of 100,000 trials shows ten,
    so it holds ten, not the evidence of all."""
    findings: dict[Finding, None] = {}
    trials: list[TrialStanding] = []
    unreadable: list[str] = []
    more = 0
    for part in parts:
        findings.update(dict.fromkeys(part.findings))
        unreadable.extend(part.unreadable)
        for trial in part.trials:
            if len(trials) < keep or trial.checks:
                trials.append(trial)
            else:
                more += 1
    ordered = _most_important_first(findings)
    return Standing(article, tuple(ordered), tuple(trials), tuple(unreadable), more)


def _most_important_first(findings: Iterable[Finding]) -> list[Finding]:
    """The order a verdict says findings in: by importance, then by kind."""
    return sorted(findings, key=lambda f: (_LEVEL[f.importance], _ORDER[f.kind]))


def trial_papers(
    snapshot: Snapshot | None, listed: Sequence[Paper], papers: Mapping[str, Paper]
) -> tuple[TrialPaper, ...]:
    """Every paper that names a trial, once: PubMed's list (`listed`, its `[si]`) and the
    registry's references, one entry per PMID, labelled by the paper's publication types when
    PubMed's record is known (else by the registry's reference type). The earliest results
    paper is the trial's results paper; a later one is another report of it."""
    found: dict[str, TrialPaper] = {}
    for paper in listed:
        found[paper.pmid] = TrialPaper(paper.pmid, paper.role, paper)
    for reference in snapshot.publications if snapshot and snapshot.found else ():
        if reference.pmid in found:
            continue
        known = papers.get(reference.pmid) if reference.pmid else None
        if known is not None:
            role = known.role
        else:
            role = PaperRole.RESULTS if reference.type == "RESULT" else PaperRole.OTHER
        found[reference.key] = TrialPaper(reference.pmid, role, known, reference.citation)
    results = sorted(
        (p for p in found.values() if p.role is PaperRole.RESULTS),
        key=lambda p: (p.year or "9999", int(p.pmid) if p.pmid and p.pmid.isdigit() else 10**10),
    )
    later = {id(p) for p in results[1:]}
    return tuple(
        TrialPaper(p.pmid, PaperRole.FURTHER_REPORT, p.paper, p.citation) if id(p) in later else p
        for p in found.values()
    )


def paper_role(evidence: Evidence, trial: str, pmid: str | None) -> PaperRole | None:
    """How a paper that names a trial is labelled, whoever found it; None when not known."""
    snapshot = evidence.latest.get(trial)
    listed = evidence.trial_papers.get(trial, ())
    for known in trial_papers(snapshot, listed, evidence.papers):
        if pmid is not None and known.pmid == pmid:
            return known.role
    return None


def _trial(article: Article, cited: str, evidence: Evidence) -> TrialStanding:
    snapshot = evidence.latest.get(cited)
    checks: list[ClaimCheck] = []
    if snapshot is not None and snapshot.found:
        for claim in (c for c in article.claims if c.trial == cited):
            verdict = judge(claim, snapshot)
            checks.append(ClaimCheck(claim, verdict.registry, verdict.agreement))
    listed = evidence.trial_papers.get(cited, ())
    papers = tuple(
        TrialPaper(p.pmid, p.role, p.paper, p.citation, article.cites_paper(cited, p.pmid))
        for p in trial_papers(snapshot, listed, evidence.papers)
    )
    return TrialStanding(
        cited,
        snapshot,
        tuple(checks),
        papers,
        article.stated(cited),
        article.passages.get(cited, ()),
    )


def _trial_findings(article: Article, trial: TrialStanding) -> list[Finding]:
    def finding(
        kind: FindingKind,
        evidence: str,
        *,
        paper: TrialPaper | None = None,
        claim: ClaimCheck | None = None,
        listed_under: str | None = None,
    ) -> Finding:
        importance = Importance.MEDIUM if kind is FindingKind.RECORD_MERGED else Importance.HIGH
        return Finding(
            article.id,
            kind,
            trial.cited_as,
            evidence,
            importance,
            trial.passages,
            trial.name,
            paper=paper,
            claim=claim.claim if claim else None,
            registry=claim.registry if claim else None,
            listed_under=listed_under,
            stated=trial.stated,
        )

    snapshot = trial.snapshot
    if snapshot is None or not snapshot.found:
        return [finding(FindingKind.RECORD_MISSING, "not returned")]
    found: list[Finding] = []
    if snapshot.nct_id != trial.cited_as:
        found.append(
            finding(FindingKind.RECORD_MERGED, snapshot.nct_id, listed_under=snapshot.nct_id)
        )
    claims_status = any(c.claim.field is ClaimField.STATUS for c in trial.checks)
    if snapshot.status == WITHDRAWN and not claims_status:
        found.append(finding(FindingKind.RECORD_WITHDRAWN, f"status={WITHDRAWN}"))
    for check in trial.checks:
        if check.agreement is Agreement.DISAGREES:
            evidence = f"{check.claim.field.value}={check.registry}"
            found.append(finding(FindingKind.CLAIM_CONTRADICTED, evidence, claim=check))
    results = trial.results
    if results is not None:
        key = f"PMID {results.pmid}" if results.pmid else f"citation {results.citation}"
        if not results.cited:
            found.append(finding(FindingKind.RESULTS_UNCITED, key, paper=results))
        elif trial.stated is StatedOutcome.NOT_STATED:
            found.append(finding(FindingKind.OUTCOME_UNSTATED, key, paper=results))
    return found


def _paper_findings(article: Article, evidence: Evidence) -> list[Finding]:
    """Every notice already on a cited paper: the first look says them too."""
    cited = dict.fromkeys([*article.pmids, *(p for ps in article.papers.values() for p in ps)])
    found: list[Finding] = []
    for pmid in cited:
        paper = evidence.papers.get(pmid)
        if paper is None:
            continue
        notices = list(paper.notices)
        if paper.retracted and not any(n.kind is NoticeKind.RETRACTION for n in notices):
            # PubMed types it "Retracted Publication" before it links the notice itself.
            notices.append(Notice(NoticeKind.RETRACTION, None, "Retracted Publication"))
        for notice in notices:
            found.append(
                Finding(
                    article.id,
                    FindingKind.PAPER_NOTICE,
                    f"PMID {pmid}",
                    notice.key,
                    notice_importance(notice.kind),
                    _passages_of(article, pmid),
                    cited_paper=paper,
                    notice=notice,
                )
            )
    return found


def _passages_of(article: Article, pmid: str) -> tuple[str, ...]:
    """Where the article speaks of a paper: the passages of the trials it cites it for."""
    trials = [t for t, pmids in article.papers.items() if pmid in pmids]
    return tuple(dict.fromkeys(p for t in trials for p in article.passages.get(t, ())))
