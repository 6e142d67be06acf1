"""What an article says beside each change of what it cites, and what in it to re-check; its
name, its verdict, the papers it does not cite."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import assert_never

from monitor.core.articles import Article
from monitor.core.claims import Agreement, ClaimField, judge
from monitor.core.models import (
    Change,
    ChangeKind,
    PaperRole,
    Snapshot,
    notice_of,
)
from monitor.editorial.words.changes import (
    change_role,
    notice_short,
    paper_label,
)
from monitor.editorial.words.claims import claim_field, claim_words, registry_words, subject_name
from monitor.editorial.words.values import date_words, sentence, status_words


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
    change: Change,
    article: Article,
    cited_as: str,
    snapshot: Snapshot | None,
    role: PaperRole | None = None,
) -> ArticleNote:
    """The article's side of a change of a trial it cites (as `cited_as`), against the
    registry's latest."""
    name = article_name(article.title)
    role = role or change_role(change)
    said, flagged = _article_says(change, article, cited_as, snapshot, name, role)
    recheck = None
    if flagged:
        passages = article.passages.get(cited_as, ())
        recheck = recheck_words(passages) or f"Re-check what {name} says about {cited_as}."
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
    change: Change,
    article: Article,
    cited_as: str,
    snapshot: Snapshot | None,
    name: str,
    role: PaperRole | None,
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
        case ChangeKind.PUBLICATION | ChangeKind.RESULTS_PAPER | ChangeKind.TRIAL_PAPER:
            pmid = change.after if change.kind is ChangeKind.PUBLICATION else change.pmid
            paper = f"PMID {pmid}" if pmid else "this reference"
            if article.cites_paper(cited_as, pmid):
                return f"{name} already cites {paper}", False
            if role is PaperRole.RESULTS:
                return f"{name} does not cite this trial's results paper, {paper}", True
            return f"{name} does not cite {paper_label(role or PaperRole.OTHER)}, {paper}", False
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
        case ChangeKind.PAPER_NOTICE:
            return (
                f"{name} cites PMID {change.pmid}, now {notice_short(notice_of(change.after))}",
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
                now = registry_words(claim.field, verdict.registry)
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
        case (
            ChangeKind.CLAIM_CONTRADICTED
            | ChangeKind.CLAIM_RESOLVED
            | ChangeKind.PUBLICATION
            | ChangeKind.RETRACTION
            | ChangeKind.LISTED_UNDER
            | ChangeKind.RECORD_MISSING
            | ChangeKind.RECORD_RESTORED
            | ChangeKind.NEW_TRIAL
            | ChangeKind.RESULTS_PAPER
            | ChangeKind.TRIAL_PAPER
            | ChangeKind.PAPER_NOTICE
            | ChangeKind.NEW_PAPER
        ):
            # A claim another article makes: this one says nothing of that field.
            field = claim_field(change.detail)
            if field is None:
                return f"{name} cites this trial", False
            subject = subject_name(field)
            now = registry_words(field, change.after)
            return (
                f"{name} says nothing of its {subject[:1].lower()}{subject[1:]};"
                f" the registry now says {now}",
                False,
            )
        case _:
            assert_never(change.kind)


def recheck_words(passages: Sequence[str]) -> str | None:
    """ "Re-check: the paragraph on FINAL; Key takeaways." A passage quoted as the config has it
    (“The FINAL study … randomized…”) ends the sentence itself."""
    if not passages:
        return None
    return "Re-check: " + _full_stop("; ".join(p.strip().rstrip(".") for p in passages))


def _full_stop(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?…”\"'" else text + "."


def article_name(title: str) -> str:
    """An article as a sentence names it: “Title”, or "the article" for the unnamed one."""
    return f"“{title}”" if title else "the article"
