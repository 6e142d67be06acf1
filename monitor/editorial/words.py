"""The words an editor reads: each kind of change, each claim, each registry value, in plain
English. Every message, `status`, `history` and `verify` take their wording from here.

Depends on the typed values only (no templates, no database), so each phrase is a one-line test
and a new kind of change that has no words yet is a type error here, not a wrong email.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import assert_never

from monitor.core.articles import Article
from monitor.core.claims import Agreement, ClaimField, judge
from monitor.core.models import (
    PUBMED_URL,
    STUDY_URL,
    Category,
    Change,
    ChangeKind,
    Importance,
    NoticeKind,
    Paper,
    PaperRole,
    Relation,
    Snapshot,
)

# The registry's statuses and phases, in the words its website shows.
STATUS_WORDS = {
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "COMPLETED": "Completed",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "RECRUITING": "Recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "WITHDRAWN": "Withdrawn",
    "AVAILABLE": "Available",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
    "UNKNOWN": "Unknown status",
}
PHASE_WORDS = {
    "NA": "not applicable",
    "EARLY_PHASE1": "early phase 1",
    "PHASE1": "phase 1",
    "PHASE2": "phase 2",
    "PHASE3": "phase 3",
    "PHASE4": "phase 4",
}
MONTHS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)


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


def change_words(change: Change, cited: bool = False, paper: Paper | None = None) -> ChangeWords:
    """The words for one change; `cited` when the article cites the trial; `paper` what PubMed
    says of the paper a change is about (PubMed's side), when it is known."""
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
            return ChangeWords(
                "Results posted on ClinicalTrials.gov", None, when, short="results posted"
            )
        case ChangeKind.PUBLICATION:
            return _publication_words(change, cited)
        case ChangeKind.RETRACTION:
            notice, _, source = (change.detail or "").partition(" ")
            linked = f"PMID {after}" if (after or "").isdigit() else (after or "a linked paper")
            return ChangeWords(
                "A paper linked to this trial was retracted",
                None,
                linked,
                note=f"Retraction notice: PMID {notice}" + (f" ({source})" if source else ""),
                link=PUBMED_URL.format(pmid=after) if (after or "").isdigit() else None,
                short=f"linked paper retracted, {linked}",
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
        case ChangeKind.RESULTS_PAPER:
            label = "Results of this cited trial published" if cited else "Results published"
            return ChangeWords(
                label,
                None,
                paper_citation(change.pmid, paper),
                note=conclusion_words(paper),
                link=_pubmed(change.pmid),
                short="results published in PubMed",
            )
        case ChangeKind.TRIAL_PAPER:
            what = role_words(_role(change.detail))
            return ChangeWords(
                f"A {what} naming this trial is in PubMed",
                None,
                paper_citation(change.pmid, paper),
                link=_pubmed(change.pmid),
                short=f"{what} in PubMed",
            )
        case ChangeKind.PAPER_NOTICE:
            kind = _notice(after)
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


def role_words(role: PaperRole) -> str:
    match role:
        case PaperRole.RESULTS:
            return "results paper"
        case PaperRole.PROTOCOL:
            return "protocol"
        case PaperRole.REVIEW:
            return "review"
        case PaperRole.OTHER:
            return "paper"
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


def _notice(value: str | None) -> NoticeKind:
    try:
        return NoticeKind(value or "")
    except ValueError:
        return NoticeKind.RETRACTION  # only "Retracted Publication" comes without its notice


def _role(value: str | None) -> PaperRole:
    try:
        return PaperRole(value or "")
    except ValueError:
        return PaperRole.OTHER


def _pubmed(pmid: str | None) -> str | None:
    return PUBMED_URL.format(pmid=pmid) if pmid else None


def _publication_words(change: Change, cited: bool) -> ChangeWords:
    ref_type, _, citation = (change.detail or "").partition(" ")
    paper = f"PMID {change.after}" if change.after else "a reference without a PMID"
    if ref_type == "RESULT":
        label = (
            "Results of this cited trial have been published"
            if cited
            else "Results have been published"
        )
        short = "results published" + (" (a cited trial)" if cited else "")
    else:
        # A DERIVED reference is any PubMed paper that names the trial: not necessarily its
        # results, so it is never called so.
        label, short = "A paper that names this trial was linked", "paper naming it linked"
    return ChangeWords(
        label,
        None,
        paper,
        note=citation or None,
        link=PUBMED_URL.format(pmid=change.after) if change.after else None,
        short=f"{short}, {paper}",
    )


@dataclass(frozen=True)
class ArticleNote:
    """What one article says about a change beside what the registry now says and, when the
    article may no longer be right, what in it to re-check."""

    article: str  # “Title”, or "the article"
    url: str | None
    rest: str  # the sentence after the article's name: " says 99 participants; the …"
    recheck: str | None = None

    @property
    def said(self) -> str:
        """One sentence: what the article says, and what the registry now says."""
        return sentence(self.article) + self.rest

    @property
    def line(self) -> str:
        return self.said + (f" {self.recheck}" if self.recheck else "")


def article_note(
    change: Change, article: Article, cited_as: str, snapshot: Snapshot | None
) -> ArticleNote:
    """The article's side of a change of a trial it cites (as `cited_as`), against the
    registry's latest."""
    name = article_name(article.title)
    said, flagged = _article_says(change, article, cited_as, snapshot, name)
    recheck = None
    if flagged:
        passage = article.passages.get(cited_as)
        recheck = (
            f"Re-check: {_full_stop(passage)}"
            if passage
            else f"Re-check what {name} says about {cited_as}."
        )
    # Each sentence starts with the article's name, which the HTML makes a link.
    assert said.startswith(name), said
    return ArticleNote(name, article.url, said[len(name) :] + ".", recheck)


# The claims a change of each kind is weighed against, first the one that says most.
_CLAIMS_OF = {
    ChangeKind.STATUS: (ClaimField.STATUS,),
    ChangeKind.ENROLLMENT: (ClaimField.ENROLLMENT, ClaimField.ENROLLMENT_TYPE),
    ChangeKind.RESULTS_POSTED: (ClaimField.RESULTS_POSTED,),
    ChangeKind.PRIMARY_COMPLETION: (ClaimField.COMPLETION_YEAR,),
}


def _article_says(
    change: Change, article: Article, cited_as: str, snapshot: Snapshot | None, name: str
) -> tuple[str, bool]:
    """One sentence, and whether the article may need re-checking because of it."""
    match change.kind:
        case ChangeKind.STATUS | ChangeKind.ENROLLMENT | ChangeKind.RESULTS_POSTED:
            fields = _CLAIMS_OF[change.kind]
            return _beside_claim(change, article, cited_as, snapshot, name, fields)
        case ChangeKind.PRIMARY_COMPLETION:
            fields = _CLAIMS_OF[change.kind]
            return _beside_claim(change, article, cited_as, snapshot, name, fields)
        case ChangeKind.CLAIM_CONTRADICTED | ChangeKind.CLAIM_RESOLVED:
            field = claim_field(change.detail)
            fields = (field,) if field else ()
            return _beside_claim(change, article, cited_as, snapshot, name, fields)
        case ChangeKind.PUBLICATION:
            paper = f"PMID {change.after}" if change.after else "this reference"
            if article.cites_paper(cited_as, change.after):
                return f"{name} already cites {paper}", False
            results = (change.detail or "").startswith("RESULT ")
            what = "this trial's results paper" if results else "this paper"
            return f"{name} does not cite {what}, {paper}", results
        case ChangeKind.RETRACTION:
            if article.cites_paper(cited_as, change.after):
                return f"{name} cites PMID {change.after}, which is now retracted", True
            return f"{name} does not cite the retracted paper", False
        case ChangeKind.RECORD_MISSING:
            return f"{name} cites {cited_as}, which the registry no longer returns", True
        case ChangeKind.RECORD_RESTORED:
            return f"{name} cites {cited_as}, which the registry returns again", False
        case ChangeKind.LISTED_UNDER:
            return (
                f"{name} cites {cited_as}, which the registry now lists under {change.after}",
                True,
            )
        case ChangeKind.NEW_TRIAL:
            return f"{name} cites this trial", False
        case ChangeKind.RESULTS_PAPER | ChangeKind.TRIAL_PAPER:
            paper = f"PMID {change.pmid}"
            if article.cites_paper(cited_as, change.pmid):
                return f"{name} already cites {paper}", False
            if change.kind is ChangeKind.RESULTS_PAPER:
                return f"{name} does not cite this trial's results paper, {paper}", True
            return f"{name} does not cite this {role_words(_role(change.detail))}, {paper}", False
        case ChangeKind.PAPER_NOTICE:
            return (
                f"{name} cites PMID {change.pmid}, now {notice_short(_notice(change.after))}",
                True,
            )
        case ChangeKind.NEW_PAPER:
            return f"{name} does not cite this paper yet", False
        case _:
            assert_never(change.kind)


def _beside_claim(
    change: Change,
    article: Article,
    cited_as: str,
    snapshot: Snapshot | None,
    name: str,
    fields: Sequence[ClaimField],
) -> tuple[str, bool]:
    """What the article claims beside the registry's latest; without a claim, that it says
    nothing of it and what the registry says now."""
    claim = next(
        (c for f in fields for c in article.claims if c.trial == cited_as and c.field is f), None
    )
    if claim is not None and snapshot is not None and snapshot.found:
        verdict = judge(claim, snapshot)
        says = claim_words(claim.field, claim.expected)
        match verdict.agreement:
            case Agreement.DISAGREES:
                now = _registry_words(claim.field, verdict.registry)
                return f"{name} says {says}; the registry now says {now}", True
            case Agreement.AGREES:
                return f"{name} says {says}, as the registry now does", False
            case Agreement.UNKNOWN:
                return f"{name} says {says}; the registry now gives no definite figure", False
            case _:
                assert_never(verdict.agreement)
    match change.kind:
        case ChangeKind.STATUS:
            now = status_words(change.after)
            return f"{name} does not state its status; the registry now says {now}", True
        case ChangeKind.RESULTS_POSTED:
            return f"{name} does not say that results are posted; the registry now has them", True
        case ChangeKind.ENROLLMENT:
            now = claim_words(ClaimField.ENROLLMENT, change.after)
            return f"{name} does not state its enrollment; the registry now says {now}", False
        case ChangeKind.PRIMARY_COMPLETION:
            now = date_words(change.after)
            return f"{name} does not date its completion; the registry now says {now}", False
        case _:
            # A claim another article makes: this one says nothing of that field.
            field = claim_field(change.detail)
            if field is None:
                return f"{name} cites this trial", False
            subject = _subject_name(field)
            now = _registry_words(field, change.after)
            return (
                f"{name} says nothing of its {subject[:1].lower()}{subject[1:]};"
                f" the registry now says {now}",
                False,
            )


def _full_stop(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?…”\"'" else text + "."


def trial_facts(snapshot: Snapshot) -> str:
    """What a new trial is, on one line: "Phase 2 · 160 participants (estimated) · Sponsor: …
    · Conditions: … · Start: March 2025"."""
    facts = [
        sentence(phase_words(snapshot.phases)) if snapshot.phases else "Phase not given",
        claim_words(ClaimField.ENROLLMENT, snapshot.enrollment)
        if snapshot.enrollment
        else "enrollment not given",
        f"Sponsor: {snapshot.sponsor or 'not given'}",
        f"Conditions: {', '.join(snapshot.conditions) or 'not given'}",
        f"Start: {date_words(snapshot.start_date)}",
    ]
    return " · ".join(facts)


def nearness_words(relation: Relation, article: str, shared: Sequence[str]) -> str | None:
    """Why a trial a search found is shown where it is: "Close to “LDN”: it also studies
    fibromyalgia and naltrexone."."""
    studies = _and(list(shared))
    match relation:
        case Relation.CLOSE:
            return f"Close to {article}: it too studies {studies}."
        case Relation.RELATED:
            return f"Related to {article}: it too studies {studies}." if shared else None
        case Relation.CITED | Relation.OFF_TOPIC | Relation.CITED_PAPER | Relation.LITERATURE:
            return None
        case _:
            assert_never(relation)


def section_heading(relation: Relation, articles: int) -> str:
    """The digest's sections: the cited trials, the searches' finds, and the finds off topic."""
    mine = "the article" if articles <= 1 else "your articles"
    match relation:
        case Relation.CITED:
            return "Trials the article cites" if articles <= 1 else "Trials your articles cite"
        case Relation.CITED_PAPER:
            return "Papers the article cites" if articles <= 1 else "Papers your articles cite"
        case Relation.CLOSE | Relation.RELATED:
            return "Trials your searches found"
        case Relation.LITERATURE:
            return "New in PubMed, from your literature searches"
        case Relation.OFF_TOPIC:
            return f"Further from {mine}"
        case _:
            assert_never(relation)


def off_topic_intro(articles: int) -> str:
    trials = "the article's trials" if articles <= 1 else "your articles' trials"
    return f"Found by a search, but sharing no condition or intervention with {trials}:"


def category_words(category: Category) -> str:
    """A category in the index's few words."""
    match category:
        case Category.RESULTS_POSTED:
            return "results posted"
        case Category.PUBLICATION:
            return "results published"
        case Category.RETRACTION:
            return "linked paper retracted"
        case Category.PAPER_NOTICE:
            return "cited paper retracted or corrected"
        case Category.PAPER_LINKED:
            return "paper linked"
        case Category.STOPPED:
            return "stopped"
        case Category.CLAIM_CONTRADICTED:
            return "article contradicted"
        case Category.RECORD_MISSING:
            return "record not found"
        case Category.LISTED_UNDER:
            return "listed under another number"
        case Category.STATUS:
            return "status"
        case Category.ENROLLMENT:
            return "enrollment"
        case Category.PRIMARY_COMPLETION:
            return "completion date"
        case Category.CLAIM_RESOLVED:
            return "article agrees again"
        case Category.RECORD_RESTORED:
            return "record back"
        case Category.NEW_PAPER:
            return "new paper"
        case Category.NEW_TRIAL:
            return "new trial"
        case _:
            assert_never(category)


def _and(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + f" and {items[-1]}"


def sentence(text: str) -> str:
    """The first letter up, the rest as written (Jinja's capitalize lowers a title's)."""
    return text[:1].upper() + text[1:]


def headline(category: Category, ids: Sequence[str], top: Change) -> str:
    """The subject's few words: the weightiest kind of change and the trials it concerns."""
    named = ", ".join(ids[:2]) + (f" and {len(ids) - 2} more" if len(ids) > 2 else "")
    match category:
        case Category.STATUS | Category.STOPPED if len(ids) == 1:
            return f"{ids[0]} now {status_words(top.after)}"
        case Category.RESULTS_POSTED:
            return f"results posted for {named}"
        case Category.PUBLICATION:
            return f"results published for {named}"
        case Category.PAPER_LINKED:
            return f"a paper naming {named} was linked"
        case Category.RETRACTION:
            return f"a paper linked to {named} was retracted"
        case Category.PAPER_NOTICE if len(ids) == 1:
            return f"cited paper {ids[0]} {notice_short(_notice(top.after))}"
        case Category.PAPER_NOTICE:
            return f"cited papers retracted or corrected: {named}"
        case Category.LISTED_UNDER:
            return f"{named} now listed under another NCT number"
        case Category.STOPPED:
            return f"{named} stopped"
        case Category.CLAIM_CONTRADICTED:
            return f"the article is contradicted on {named}"
        case Category.RECORD_MISSING:
            return f"record not found: {named}"
        case Category.STATUS:
            return f"status changed for {named}"
        case Category.ENROLLMENT:
            return f"enrollment changed for {named}"
        case Category.PRIMARY_COMPLETION:
            return f"completion date moved for {named}"
        case Category.CLAIM_RESOLVED:
            return f"the registry agrees with the article again on {named}"
        case Category.RECORD_RESTORED:
            return f"record back: {named}"
        case Category.NEW_PAPER:
            return f"new in PubMed: {named}"
        case Category.NEW_TRIAL:
            return named
        case _:
            assert_never(category)


def summary(trial_count: int, only_new_trials: bool, paper_count: int = 0) -> str:
    """ "3 trials changed", "2 new trials found" when that is all there is, "1 trial and 2
    papers changed" when PubMed's side has news of papers no trial is known for."""
    plural = "s" if trial_count != 1 else ""
    papers = f"{paper_count} paper{'s' if paper_count != 1 else ''}"
    if not trial_count:
        return f"{papers} changed"
    if only_new_trials and not paper_count:
        return f"{trial_count} new trial{plural} found"
    trials = f"{trial_count} trial{plural}"
    return f"{trials} and {papers} changed" if paper_count else f"{trials} changed"


def sources_words(registry: bool, pubmed: bool) -> str:
    """Where a digest's changes were found: "on ClinicalTrials.gov", "in PubMed", or both."""
    where = [*(["on ClinicalTrials.gov"] if registry else []), *(["in PubMed"] if pubmed else [])]
    return " and ".join(where) or "on ClinicalTrials.gov"


def importance_name(level: Importance) -> str:
    match level:
        case Importance.HIGH:
            return "high"
        case Importance.MEDIUM:
            return "medium"
        case Importance.LOW:
            return "low"
        case _:
            assert_never(level)


def claim_sentence(field: ClaimField | None, said: str, registry: str | None) -> str:
    """ "The article says 99 participants; the registry now says 101 (actual)"."""
    article, now = claim_words(field, said), claim_words(field, registry)
    return f"The article says {article}; the registry now says {now}"


def claim_words(field: ClaimField | None, value: str | None) -> str:
    """What a claim's value means, e.g. enrollment "99" → "99 participants"."""
    if value is None:
        return "no completion date" if field is ClaimField.COMPLETION_YEAR else "nothing"
    match field:
        case ClaimField.STATUS:
            return status_words(value)
        case ClaimField.ENROLLMENT:
            count, _, kind = value.partition(" ")
            count = "an unknown number of" if count == "unknown" else count
            return f"{count} participants" + (f" ({kind.lower()})" if kind else "")
        case ClaimField.ENROLLMENT_TYPE:
            return f"the enrollment is {value.lower()}"
        case ClaimField.PHASE:
            return phase_words(value)
        case ClaimField.RESULTS_POSTED:
            return "results are posted" if value == "true" else "no results are posted"
        case ClaimField.COMPLETION_YEAR:
            return (
                f"completion in {value}" if len(value) == 4 else f"completion {date_words(value)}"
            )
        case None:
            return value
        case _:
            assert_never(field)


def agreement_words(agreement: Agreement) -> str:
    """Whether the registry agrees with a claim, as `verify`'s table says it."""
    match agreement:
        case Agreement.AGREES:
            return "yes"
        case Agreement.DISAGREES:
            return "NO"
        case Agreement.UNKNOWN:
            return "unknown"
        case _:
            assert_never(agreement)


@dataclass(frozen=True)
class FindingWords:
    """One line of an article check: what the article says about a subject beside what the
    registry says, and whether that is something to re-check."""

    subject: str
    article: str | None  # None: the article says nothing about it
    registry: str
    flagged: bool

    @property
    def line(self) -> str:
        if self.article is None:
            return f"{self.subject}: the registry says {self.registry} (the article says nothing)"
        return f"{self.subject}: the article says {self.article}; the registry says {self.registry}"


def finding_words(
    subject: ClaimField, said: str | None, registry: str | None, flagged: bool
) -> FindingWords:
    """A line of the article check, from a claim's canonical values (see claims.py)."""
    article = claim_words(subject, said) if said is not None else None
    return FindingWords(
        _subject_name(subject), article, _registry_words(subject, registry), flagged
    )


def _subject_name(subject: ClaimField) -> str:
    match subject:
        case ClaimField.STATUS:
            return "Status"
        case ClaimField.ENROLLMENT:
            return "Enrollment"
        case ClaimField.ENROLLMENT_TYPE:
            return "Enrollment type"
        case ClaimField.PHASE:
            return "Phase"
        case ClaimField.RESULTS_POSTED:
            return "Results on ClinicalTrials.gov"
        case ClaimField.COMPLETION_YEAR:
            return "Completion"
        case _:
            assert_never(subject)


def _registry_words(subject: ClaimField, value: str | None) -> str:
    """The registry's side, said as a claim about it would be (phase 2, 99 participants)."""
    if value is None:
        return "nothing" if subject is not ClaimField.COMPLETION_YEAR else "no completion date"
    if subject is ClaimField.COMPLETION_YEAR:
        return date_words(value)
    return claim_words(subject, value)


def paper_words(pmid: str | None, kind: str, citation: str) -> str:
    """A paper linked to a trial, for a list: "PMID 38258677, the results paper: Bruun KD…"."""
    what = "the trial's results paper" if kind == "RESULT" else "a paper that names the trial"
    name = f"PMID {pmid}" if pmid else "a reference without a PMID"
    return f"{name}, {what}" + (f": {citation}" if citation else "")


def results_paper_words(paper: Paper) -> str:
    """A trial's results paper in PubMed, for the article check's list, with what it found."""
    said = paper_citation(paper.pmid, paper)
    conclusion = conclusion_words(paper)
    return f"the trial's results paper in PubMed: {said}" + (
        f". {conclusion}" if conclusion else ""
    )


def article_verdict(disagreements: int, article: str) -> str:
    """The article check's headline: "2 things to re-check in “LDN”"."""
    if disagreements == 0:
        return f"everything {article} says agrees with the registry"
    plural = "s" if disagreements != 1 else ""
    return f"{disagreements} thing{plural} to re-check in {article}"


def article_name(title: str) -> str:
    """An article as a sentence names it: “Title”, or "the article" for the unnamed one."""
    return f"“{title}”" if title else "the article"


def claim_field_name(field: ClaimField) -> str:
    """The claim's subject as a table heading: "enrollment type"."""
    return field.value.replace("_", " ")


def claim_field(stored: str | None) -> ClaimField | None:
    """A claim change keeps its field in `detail`; anything else there gets plain words."""
    try:
        return ClaimField(stored or "")
    except ValueError:
        return None


def status_words(status: str | None) -> str:
    """ "COMPLETED" → "Completed"; "UNKNOWN RECRUITING" → "Unknown status (last known:
    Recruiting)"."""
    if status is None:
        return "no status"
    value, _, last_known = status.partition(" ")
    words = STATUS_WORDS.get(value, value.replace("_", " ").capitalize())
    return f"{words} (last known: {status_words(last_known)})" if last_known else words


def phase_words(phases: str) -> str:
    """ "PHASE2|PHASE3" → "phase 2/phase 3"."""
    return "/".join(PHASE_WORDS.get(p, p) for p in phases.split("|"))


def date_words(value: str | None) -> str:
    """ "2022-06" → "June 2022"; "2022-06-15 ACTUAL" → "15 June 2022 (actual)"."""
    if not value:
        return "not given"
    date, _, kind = value.partition(" ")
    parts = date.split("-")
    words = date
    if len(parts) >= 2 and parts[1].isdigit() and 1 <= int(parts[1]) <= 12:
        month = MONTHS[int(parts[1]) - 1]
        words = f"{month} {parts[0]}" if len(parts) == 2 else f"{int(parts[2])} {month} {parts[0]}"
    return f"{words} ({kind.lower()})" if kind else words


def enrollment_words(value: str | None) -> str:
    """ "120 ESTIMATED" → "120 (estimated)"."""
    if not value:
        return "not given"
    count, _, kind = value.partition(" ")
    if not count.isdigit() and count != "unknown":
        count, kind = "number not given", count
    return f"{count} ({kind.lower()})" if kind else count


def snapshot_line(snapshot: Snapshot) -> str:
    """A trial's tracked state on one line, as `status` and `history` show it."""
    if not snapshot.found:
        return "record not found in the registry"
    results = "results posted" if snapshot.has_results else "no results"
    status, enrollment = status_words(snapshot.status_value), enrollment_words(snapshot.enrollment)
    return (
        f"{status} · {enrollment} · {results}"
        f" · primary completion {date_words(snapshot.primary_completion)} · {snapshot.title or ''}"
    )


def moment_words(value: datetime) -> str:
    """ "25 November 2026, 09:00 UTC"."""
    return value.strftime("%d %B %Y, %H:%M UTC").lstrip("0")


def data_timestamp_words(value: str | None) -> str | None:
    """The registry's data timestamp as a moment, or as it came when it is not ISO 8601."""
    if not value:
        return None
    try:
        return moment_words(datetime.fromisoformat(value))
    except ValueError:
        return value
