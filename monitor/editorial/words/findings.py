"""An article's standing in words: its verdict (one or two sentences of what is now wrong with
it, most important first), each finding as a sentence with its evidence and what to re-check,
and the agreements in one line. The article check, each digest's opening and `verify` say them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import assert_never

from monitor.core.articles import StatedOutcome
from monitor.core.claims import Agreement, ClaimField
from monitor.core.models import PUBMED_URL, STUDY_URL, NoticeKind, PaperRole
from monitor.core.standing import Finding, FindingKind, Standing, TrialPaper, TrialStanding
from monitor.editorial.words.articles import recheck_words
from monitor.editorial.words.changes import (
    conclusion_words,
    notice_short,
    paper_citation,
    paper_label,
)
from monitor.editorial.words.claims import claim_words, registry_words, subject_name
from monitor.editorial.words.values import and_words, sentence

# How many of a kind the verdict names before it says "and N more".
NAMED = 3


@dataclass(frozen=True)
class FindingWords:
    """One finding: a sentence, the lines that show its evidence, a link, what to re-check."""

    sentence: str
    detail: tuple[str, ...] = ()
    link: str | None = None
    recheck: str | None = None


def finding_words(finding: Finding) -> FindingWords:
    """A finding in full, for the article check, the digest and `verify`."""
    name = finding.trial or finding.subject
    # "FINAL (NCT04270877)"; a trial without an acronym by its id alone.
    named = name if name == finding.subject else f"{name} ({finding.subject})"
    recheck = recheck_words(finding.passages)
    match finding.kind:
        case FindingKind.RESULTS_UNCITED | FindingKind.OUTCOME_UNSTATED:
            paper = finding.paper
            assert paper is not None
            what = (
                "the article does not cite it"
                if finding.kind is FindingKind.RESULTS_UNCITED
                else "the article cites it but does not say what the trial found"
            )
            return FindingWords(
                f"{named} has published results: {what}.",
                _paper_detail(paper, finding.stated),
                _link(paper.pmid),
                recheck,
            )
        case FindingKind.PAPER_NOTICE:
            notice, cited = finding.notice, finding.cited_paper
            assert notice is not None
            source = f"PMID {notice.pmid}" if notice.pmid else notice.source
            title = cited.title if cited and cited.title else None
            return FindingWords(
                f"A paper the article cites, {finding.subject}, was {_notice_done(notice.kind)}.",
                tuple(
                    line
                    for line in (f"“{title}”" if title else None, f"The notice: {source}")
                    if line
                ),
                _link(finding.subject.removeprefix("PMID ")),
                recheck,
            )
        case FindingKind.CLAIM_CONTRADICTED:
            claim = finding.claim
            assert claim is not None
            said = claim_words(claim.field, claim.expected)
            now = registry_words(claim.field, finding.registry)
            about = _lower(subject_name(claim.field))
            return FindingWords(
                f"The registry contradicts what the article says of {name}'s {about}:"
                f" the article says {said}; the registry now says {now}.",
                (),
                STUDY_URL.format(nct_id=finding.subject),
                recheck,
            )
        case FindingKind.RECORD_MISSING:
            return FindingWords(
                f"The registry no longer returns {finding.subject}, a trial the article cites"
                " (removed, or merged into another record).",
                link=STUDY_URL.format(nct_id=finding.subject),
                recheck=recheck,
            )
        case FindingKind.RECORD_WITHDRAWN:
            return FindingWords(
                f"{named}, a trial the article cites, was withdrawn: it"
                " stopped before enrolling anyone.",
                link=STUDY_URL.format(nct_id=finding.subject),
                recheck=recheck,
            )
        case FindingKind.RECORD_MERGED:
            return FindingWords(
                f"{finding.subject} is now listed under {finding.listed_under}: the registry"
                " merged the two registrations.",
                link=STUDY_URL.format(nct_id=finding.listed_under),
                recheck=recheck,
            )
        case _:
            assert_never(finding.kind)


def finding_short(finding: Finding) -> str:
    """A finding in a few words, for a subject line: "FINAL's results are not cited"."""
    name = finding.trial or finding.subject
    match finding.kind:
        case FindingKind.RESULTS_UNCITED:
            return f"{name} has published results it does not cite"
        case FindingKind.OUTCOME_UNSTATED:
            return f"it does not say what {name} found"
        case FindingKind.PAPER_NOTICE:
            assert finding.notice is not None
            return f"cited paper {finding.subject} {notice_short(finding.notice.kind)}"
        case FindingKind.CLAIM_CONTRADICTED:
            about = _lower(subject_name(finding.claim.field)) if finding.claim else "a claim"
            return f"the registry contradicts it on {name}'s {about}"
        case FindingKind.RECORD_MISSING:
            return f"{finding.subject} is no longer in the registry"
        case FindingKind.RECORD_WITHDRAWN:
            return f"{name} was withdrawn"
        case FindingKind.RECORD_MERGED:
            return f"{finding.subject} is now listed under {finding.listed_under}"
        case _:
            assert_never(finding.kind)


def verdict(standing: Standing, findings: Sequence[Finding] | None = None) -> str:
    """One or two sentences of what is wrong with the article now, most important first:
    its findings (or those given) grouped by kind."""
    shown = list(standing.findings if findings is None else findings)
    if not shown:
        return (
            "Nothing to re-check: what the article says agrees with the evidence the monitor reads."
        )
    groups: dict[FindingKind, list[Finding]] = {}
    for finding in shown:
        groups.setdefault(finding.kind, []).append(finding)
    said = [_group_sentence(kind, found, standing) for kind, found in list(groups.items())[:2]]
    rest = sum(len(found) for found in list(groups.values())[2:])
    if rest:
        said.append(f"And {rest} more thing{'s' if rest != 1 else ''} to re-check, below.")
    return " ".join(said)


def verdict_short(standing: Standing, findings: Sequence[Finding] | None = None) -> str:
    """The verdict in a few words, for the subject line."""
    shown = list(standing.findings if findings is None else findings)
    if not shown:
        return "nothing to re-check"
    kinds = [f.kind for f in shown]
    top = shown[0]
    if top.kind in (FindingKind.RESULTS_UNCITED, FindingKind.OUTCOME_UNSTATED):
        many = [f for f in shown if f.kind is top.kind]
        if len(many) > 1:
            does = "does not cite" if top.kind is FindingKind.RESULTS_UNCITED else "does not state"
            return f"{_count_trials(len(many), standing)} have published results it {does}"
    more = len(kinds) - 1
    return finding_short(top) + (f" (and {more} more)" if more else "")


def agreements(standing: Standing) -> str | None:
    """The claims that agree, in one line: "Status, enrollment and phase agree for both
    trials; completion (2022) agrees for FINAL"."""
    by_field: dict[ClaimField, list[TrialStanding]] = {}
    for trial in standing.trials:
        for check in trial.checks:
            if check.agreement is Agreement.AGREES:
                by_field.setdefault(check.claim.field, []).append(trial)
    if not by_field:
        return None
    groups: dict[tuple[str, ...], list[ClaimField]] = {}
    for field, trials in by_field.items():
        groups.setdefault(tuple(t.cited_as for t in trials), []).append(field)
    parts = []
    for cited, fields in groups.items():
        names = [t.name for t in standing.trials if t.cited_as in cited]
        who = _count_trials(len(names), standing, names)
        subjects = and_words([_lower(subject_name(f)) for f in fields])
        # "Results on ClinicalTrials.gov" reads as plural on its own.
        plural = len(fields) > 1 or fields == [ClaimField.RESULTS_POSTED]
        parts.append(f"{subjects} agree{'' if plural else 's'} for {who}")
    return sentence("; ".join(parts)) + "."


def undecided(trial: TrialStanding) -> list[str]:
    """The claims the registry gives no definite value to judge (an enrollment of 99999999):
    neither agreeing nor contradicting, one line each."""
    return [
        f"{subject_name(check.claim.field)}: the article says"
        f" {claim_words(check.claim.field, check.claim.expected)}; the registry says"
        f" {registry_words(check.claim.field, check.registry)}, neither agreeing nor not"
        for check in trial.checks
        if check.agreement is Agreement.UNKNOWN
    ]


# A paper that is not a finding is named in a line or two, so that a trial naming many stays
# short in a long article check; its PubMed link has the rest.
PAPER_WIDTH = 100
PAPERS_NAMED = 3


def other_papers(trial: TrialStanding) -> list[str]:
    """The papers that name a trial besides its results paper, one short line each, the first
    few of them."""
    others = [p for p in trial.papers if p.role is not PaperRole.RESULTS]
    lines = [f"{sentence(paper_label(p.role))}: {_paper_short(p)}" for p in others[:PAPERS_NAMED]]
    if len(others) > PAPERS_NAMED:
        rest = len(others) - PAPERS_NAMED
        lines.append(f"And {rest} more paper{'s' if rest != 1 else ''} that name it.")
    return lines


def _paper_short(paper: TrialPaper) -> str:
    """ "“Title…” (Journal, 2021), PMID 34050000": PubMed's record, its title cut short, else
    the registry's citation."""
    known = paper.paper
    if known is not None and known.title:
        short = replace(known, title=_shortened(known.title))
        return paper_citation(paper.pmid, short)
    shown = paper_citation(paper.pmid, None)
    return shown + (f": {_cited_title(paper.citation)}" if paper.citation else "")


def _cited_title(citation: str) -> str:
    """The title out of a registry reference's citation, which is mostly NLM's "Authors.
    Title. Journal. Date;volume." (a list of 20 authors says nothing in one line); the
    citation cut short when it is not."""
    parts = citation.split(". ")
    if len(parts) >= 3 and re.search(r"(?:\b[A-Z]{1,3}|et al)$", parts[0]):
        title = _shortened(parts[1].rstrip("."))
        return f"“{title}”" if title.endswith("…") else f"“{title}.”"
    return _shortened(citation)


def _shortened(text: str) -> str:
    if len(text) <= PAPER_WIDTH:
        return text
    return text[: PAPER_WIDTH - 1].rsplit(" ", 1)[0] + "…"


def stated_words(stated: StatedOutcome) -> str:
    """What the article says a trial found."""
    match stated:
        case StatedOutcome.BENEFIT:
            return "the article says it found a benefit"
        case StatedOutcome.NO_BENEFIT:
            return "the article says it found no benefit"
        case StatedOutcome.HARM:
            return "the article says it found harm"
        case StatedOutcome.MIXED:
            return "the article says its findings were mixed"
        case StatedOutcome.NOT_STATED:
            return "the article does not say what it found"
        case _:
            assert_never(stated)


def _group_sentence(kind: FindingKind, found: list[Finding], standing: Standing) -> str:
    named = found[:NAMED]
    more = f"; and {len(found) - NAMED} more" if len(found) > NAMED else ""
    match kind:
        case FindingKind.RESULTS_UNCITED | FindingKind.OUTCOME_UNSTATED:
            who = _count_trials(len(found), standing)
            does = (
                "does not mention"
                if kind is FindingKind.RESULTS_UNCITED
                else "cites but does not say what they found"
            )
            each = "; ".join(_concluded(f) for f in named)
            plural = "have" if len(found) > 1 else "has"
            return _full_stop(
                f"{sentence(who)} {plural} published results that it {does}: {each}{more}"
            )
        case FindingKind.PAPER_NOTICE:
            done = [(f.subject, _notice_done(f.notice.kind)) for f in named if f.notice]
            if len(found) == 1:
                subject, what = done[0]
                return f"A paper it cites, {subject}, was {what}."
            each = "; ".join(f"{subject} was {what}" for subject, what in done)
            return f"Papers it cites have notices: {each}{more}."
        case FindingKind.CLAIM_CONTRADICTED:
            # By trial, the fields only: "… of FINAL's enrollment and results on
            # ClinicalTrials.gov, and of LDN-in-FM's status"; each is written out below.
            fields: dict[str, list[str]] = {}
            for f in found:
                about = _lower(subject_name(f.claim.field)) if f.claim else "a claim"
                fields.setdefault(f.trial or f.subject, []).append(about)
            trials = list(fields.items())
            each = and_words([f"of {name}'s {and_words(about)}" for name, about in trials[:NAMED]])
            rest = len(trials) - NAMED
            more = f"; and of {rest} more trial{'s' if rest != 1 else ''}" if rest > 0 else ""
            return f"The registry now contradicts what it says {each}{more}."
        case FindingKind.RECORD_MISSING | FindingKind.RECORD_WITHDRAWN | FindingKind.RECORD_MERGED:
            return " ".join(finding_words(f).sentence for f in named) + (
                f" And {len(found) - NAMED} more." if more else ""
            )
        case _:
            assert_never(kind)


def _concluded(finding: Finding) -> str:
    """ "FINAL (2024) concluded “…”", or its citation when PubMed's record is not at hand."""
    paper = finding.paper
    name = finding.trial or finding.subject
    if paper is None:
        return name
    year = f" ({paper.year})" if paper.year else ""
    if paper.paper is not None and paper.paper.conclusion:
        return f"{name}{year} concluded “{paper.paper.conclusion}”"
    return f"{name} ({paper_citation(paper.pmid, paper.paper)})"


def _count_trials(count: int, standing: Standing, names: Sequence[str] = ()) -> str:
    """ "both trials this article relies on", "2 of the 5 trials …"; with `names`, the trials
    by name when there are few: "FINAL and LDN-in-FM"."""
    total = len(standing.article.trials)
    relies = "" if names else " this article relies on"
    if count == total == 1:
        return f"the trial{relies}"
    if count == total == 2:
        return f"both trials{relies}"
    if count == total:
        return f"all {total} trials{relies}"
    if names and count <= 2:
        return and_words(list(names))
    if count == 1:
        return f"a trial{relies}"
    return f"{count} of the {total} trials{relies}"


def _paper_detail(paper: TrialPaper, stated: StatedOutcome | None) -> tuple[str, ...]:
    conclusion = conclusion_words(paper.paper)
    lines = [
        sentence(paper_label(paper.role)) + ": " + paper_citation(paper.pmid, paper.paper),
        *([paper.citation] if paper.paper is None and paper.citation else []),
        *([conclusion] if conclusion else []),
        *([sentence(stated_words(stated)) + "."] if stated is not None else []),
    ]
    return tuple(lines)


def _lower(subject: str) -> str:
    """A claim's subject inside a sentence: "results on ClinicalTrials.gov"."""
    return subject[:1].lower() + subject[1:]


def _full_stop(text: str) -> str:
    """A sentence ended once, whether or not its last quotation ended it."""
    return text if text.endswith((".”", "!”", "?”", ".")) else text + "."


def _notice_done(kind: NoticeKind) -> str:
    return notice_short(kind)


def _link(pmid: str | None) -> str | None:
    return PUBMED_URL.format(pmid=pmid) if pmid else None
