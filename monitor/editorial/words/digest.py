"""The digest's own words: its sections and headings, the subject's headline and summary, a new
trial's facts, why a search's find stands where it does, each category and importance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from monitor.core.claims import ClaimField
from monitor.core.models import (
    Category,
    Change,
    Importance,
    Relation,
    Snapshot,
    notice_of,
)
from monitor.editorial.words.changes import notice_short
from monitor.editorial.words.claims import claim_words
from monitor.editorial.words.values import (
    and_words,
    date_words,
    phase_words,
    sentence,
    status_words,
)


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
    studies = and_words(list(shared))
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


def index_words(category: Category, change: Change) -> str:
    """One change in the index's few words: its category's, but a cited paper's notice by
    what it is ("cited paper corrected by an erratum")."""
    if category is Category.PAPER_NOTICE:
        return f"cited paper {notice_short(notice_of(change.after))}"
    return category_words(category)


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
            return f"cited paper {ids[0]} {notice_short(notice_of(top.after))}"
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


def where_words(places: Sequence[str]) -> str:
    """Where a digest's changes were found, as each source says it: "on ClinicalTrials.gov and
    in PubMed"; nothing when no source is named."""
    return " and ".join(places)


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
