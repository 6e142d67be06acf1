"""Each kind of change in words: `label: before → after`, with a note and a link; a new kind
that has no words yet is a type error here, not a wrong email."""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from monitor.core.models import (
    BACKGROUND_REFERENCE,
    PUBMED_URL,
    STUDY_URL,
    Change,
    ChangeKind,
    NoticeKind,
    Paper,
    PaperRole,
    notice_of,
)
from monitor.editorial.words.claims import claim_field, claim_sentence
from monitor.editorial.words.values import date_words, enrollment_words, status_words


@dataclass(frozen=True)
class ChangeWords:
    """One change in words: `label: before → after`, then an optional note and link; `short`
    is the few words the top of the digest uses."""

    label: str
    before: str | None
    after: str | None
    note: str | None = None
    link: str | None = None
    short: str = ""

    @property
    def line(self) -> str:
        """The change on one line, as `status` and `history` show it."""
        if self.before:
            return f"{self.label}: {self.before} → {self.after}"
        return f"{self.label}: {self.after}"


def change_words(
    change: Change,
    cited: bool = False,
    paper: Paper | None = None,
    role: PaperRole | None = None,
) -> ChangeWords:
    """The words for one change; `cited` when the article cites the trial; `paper` what PubMed
    says of the paper a change is about, when it is known; `role` what that paper is to the
    trial, worked out from every paper that names it (core/standing.py), so that a paper is
    said the same way whoever found it."""
    before, after = change.before, change.after
    match change.kind:
        case ChangeKind.STATUS:
            note = f"Reason given: {change.detail}" if change.detail else None
            now = status_words(after)
            return ChangeWords("Status", status_words(before), now, note=note, short=f"now {now}")
        case ChangeKind.ENROLLMENT:
            now = enrollment_words(after)
            return ChangeWords(
                "Enrollment", enrollment_words(before), now, short=f"enrollment now {now}"
            )
        case ChangeKind.PRIMARY_COMPLETION:
            now = date_words(after)
            return ChangeWords(
                "Primary completion", date_words(before), now, short=f"primary completion {now}"
            )
        case ChangeKind.RESULTS_POSTED:
            when = f"first posted {date_words(after)}" if after else "the registry gives no date"
            results = STUDY_URL.format(nct_id=change.nct_id) + "?tab=results"
            return ChangeWords(
                "Results posted on ClinicalTrials.gov",
                None,
                when,
                link=results if change.nct_id else None,
                short="results posted",
            )
        case ChangeKind.PUBLICATION:
            citation = (change.detail or "").partition(" ")[2]
            given = role or change_role(change) or PaperRole.OTHER
            return _trial_paper_words(change.after, given, cited, paper, citation)
        case ChangeKind.RETRACTION:
            notice, _, source = (change.detail or "").partition(" ")
            linked = f"PMID {after}" if (after or "").isdigit() else (after or "a linked paper")
            background = change.before == BACKGROUND_REFERENCE
            return ChangeWords(
                "A paper this trial's record cites as background was retracted"
                if background
                else "A paper linked to this trial was retracted",
                None,
                linked,
                note=f"Retraction notice: PMID {notice}" + (f" ({source})" if source else ""),
                link=PUBMED_URL.format(pmid=after) if (after or "").isdigit() else None,
                short=f"{'background' if background else 'linked'} paper retracted, {linked}",
            )
        case ChangeKind.LISTED_UNDER:
            return ChangeWords(
                "Now listed under another NCT number",
                None,
                f"{change.nct_id} is now listed under {after}",
                note="The registry merged this registration into that record; the monitor"
                " follows it from now on.",
                link=STUDY_URL.format(nct_id=after),
                short=f"now listed under {after}",
            )
        case ChangeKind.CLAIM_CONTRADICTED:
            sentence = claim_sentence(claim_field(change.detail), before or "", after)
            return ChangeWords("The article is contradicted", None, sentence, short=sentence)
        case ChangeKind.CLAIM_RESOLVED:
            sentence = claim_sentence(claim_field(change.detail), before or "", after)
            label = "The registry agrees with the article again"
            return ChangeWords(label, None, sentence, short=label.lower())
        case ChangeKind.RECORD_MISSING:
            return ChangeWords(
                "Record not found",
                None,
                "the registry no longer returns this trial"
                " (removed, or merged into another record)",
                short="record not found in the registry",
            )
        case ChangeKind.RECORD_RESTORED:
            return ChangeWords(
                "Record found again", None, f"status {status_words(after)}", short="record back"
            )
        case ChangeKind.NEW_TRIAL:
            return ChangeWords(
                "New trial",
                None,
                f"found by the search “{after}”",
                note=f"Status: {status_words(change.detail)}" if change.detail else None,
                short="new trial",
            )
        case ChangeKind.RESULTS_PAPER | ChangeKind.TRIAL_PAPER:
            given = role or change_role(change) or PaperRole.OTHER
            return _trial_paper_words(change.pmid, given, cited, paper, None)
        case ChangeKind.PAPER_NOTICE:
            kind = notice_of(after)
            notice, _, source = (change.detail or "").partition(" ")
            where = f"PMID {notice}" if notice.isdigit() else ""
            shown = ", ".join(p for p in (where, source) if p)
            return ChangeWords(
                notice_label(kind),
                None,
                f"PMID {change.pmid}",  # its title heads the paper's entry
                note=f"The notice: {shown}" if shown else None,
                link=_pubmed(change.pmid),
                short=notice_short(kind),
            )
        case ChangeKind.NEW_PAPER:
            return ChangeWords(
                "New in PubMed",
                None,
                f"found by the literature search “{after}”",
                note=conclusion_words(paper),
                link=_pubmed(change.pmid),
                short="new paper",
            )
        case _:
            assert_never(change.kind)


def paper_citation(pmid: str | None, paper: Paper | None) -> str:
    """“Title” (Journal, 2024), PMID 38258677; the PMID alone when PubMed's record is not at
    hand."""
    shown = f"PMID {pmid}" if pmid else "a paper"
    if paper is None or not paper.title:
        return shown
    source = ", ".join(p for p in (paper.journal, paper.year) if p)
    return f"“{paper.title}”" + (f" ({source})" if source else "") + f", {shown}"


def conclusion_words(paper: Paper | None) -> str | None:
    """What the paper found, in its own words (its abstract's conclusion)."""
    if paper is None or not paper.conclusion:
        return None
    return f"Its conclusion: “{paper.conclusion}”"


def paper_label(role: PaperRole) -> str:
    """What a paper is to a trial, said the same way wherever it was found."""
    match role:
        case PaperRole.RESULTS:
            return "the results paper"
        case PaperRole.FURTHER_REPORT:
            return "another report of this trial"
        case PaperRole.PROTOCOL:
            return "a protocol"
        case PaperRole.REVIEW:
            return "a review"
        case PaperRole.OTHER:
            return "a paper that names this trial"
        case _:
            assert_never(role)


def notice_label(kind: NoticeKind) -> str:
    match kind:
        case NoticeKind.RETRACTION:
            return "This cited paper was retracted"
        case NoticeKind.EXPRESSION_OF_CONCERN:
            return "The journal published an expression of concern about this cited paper"
        case NoticeKind.ERRATUM:
            return "An erratum to this cited paper was published"
        case NoticeKind.UPDATE:
            return "This cited paper was updated"
        case NoticeKind.CORRECTED_AND_REPUBLISHED:
            return "This cited paper was corrected and republished"
        case NoticeKind.RETRACTED_AND_REPUBLISHED:
            return "This cited paper was retracted and republished"
        case _:
            assert_never(kind)


def notice_short(kind: NoticeKind) -> str:
    """What became of a cited paper, in the few words after its name."""
    match kind:
        case NoticeKind.RETRACTION:
            return "retracted"
        case NoticeKind.EXPRESSION_OF_CONCERN:
            return "under an expression of concern"
        case NoticeKind.ERRATUM:
            return "corrected by an erratum"
        case NoticeKind.UPDATE:
            return "updated"
        case NoticeKind.CORRECTED_AND_REPUBLISHED:
            return "corrected and republished"
        case NoticeKind.RETRACTED_AND_REPUBLISHED:
            return "retracted and republished"
        case _:
            assert_never(kind)


def change_role(change: Change) -> PaperRole | None:
    """What a paper is to a trial as the change itself says it, when nothing better is known:
    the registry's reference type, or what PubMed's finder made of its types."""
    match change.kind:
        case ChangeKind.PUBLICATION:
            results = (change.detail or "").startswith("RESULT ")
            return PaperRole.RESULTS if results else PaperRole.OTHER
        case ChangeKind.RESULTS_PAPER:
            return PaperRole.RESULTS
        case ChangeKind.TRIAL_PAPER:
            return role_of(change.detail)
        case (
            ChangeKind.RESULTS_POSTED
            | ChangeKind.RETRACTION
            | ChangeKind.LISTED_UNDER
            | ChangeKind.RECORD_MISSING
            | ChangeKind.RECORD_RESTORED
            | ChangeKind.STATUS
            | ChangeKind.ENROLLMENT
            | ChangeKind.PRIMARY_COMPLETION
            | ChangeKind.NEW_TRIAL
            | ChangeKind.CLAIM_CONTRADICTED
            | ChangeKind.CLAIM_RESOLVED
            | ChangeKind.PAPER_NOTICE
            | ChangeKind.NEW_PAPER
        ):
            return None  # not about a paper naming a trial
        case _:
            assert_never(change.kind)


def role_of(value: str | None) -> PaperRole:
    try:
        return PaperRole(value or "")
    except ValueError:
        return PaperRole.OTHER


def _pubmed(pmid: str | None) -> str | None:
    return PUBMED_URL.format(pmid=pmid) if pmid else None


def _trial_paper_words(
    pmid: str | None,
    role: PaperRole,
    cited: bool,
    paper: Paper | None,
    citation: str | None,
) -> ChangeWords:
    """A paper newly naming a trial, whether the registry linked it or PubMed listed it: one
    label for one paper, its conclusion quoted when PubMed's record is at hand."""
    shown = paper_citation(pmid, paper) if pmid else "a reference without a PMID"
    note = conclusion_words(paper) or (citation or None if paper is None else None)
    link = _pubmed(pmid)
    match role:
        case PaperRole.RESULTS:
            label = (
                "Results of this cited trial have been published"
                if cited
                else "Results have been published"
            )
            short = "results published" + (" (a cited trial)" if cited else "")
            return ChangeWords(label, None, shown, note, link, f"{short}, {shown}")
        case PaperRole.FURTHER_REPORT:
            label = "Another report of this trial has been published"
        case PaperRole.PROTOCOL:
            label = "A protocol of this trial has been published"
        case PaperRole.REVIEW:
            label = "A review naming this trial has been published"
        case PaperRole.OTHER:
            label = "A paper that names this trial has been published"
        case _:
            assert_never(role)
    return ChangeWords(label, None, shown, note, link, f"{label[0].lower()}{label[1:]}")
