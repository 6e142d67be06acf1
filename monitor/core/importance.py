"""How much each change matters to the people who edit the articles, and so the digest's order.

Importance follows the article: a change of a trial an article cites is high when it can make
the article wrong (results, a paper, a retraction, a stop, a record gone) or when it moves a
field the article makes a claim about; a change of a field no claim covers (a completion date
the article never states) keeps its category's rule. A trial a search found is weighed by how
close it is to the articles (its conditions and interventions beside those of the articles'
trials): close or related, by its category's rule below; off topic, low, and summarised at the
end. `[digest.importance]` sets a category's level over the rules. The digest lists high before
medium before low, and within a level keeps the order of `Category`: what most often makes an
article wrong comes first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import assert_never

from monitor.core.models import (
    BACKGROUND_REFERENCE,
    Category,
    Change,
    ChangeKind,
    Importance,
    NoticeKind,
    Relation,
    Snapshot,
    notice_of,
)

# A status that means the trial stopped short: what an article citing it must reconsider.
STOPPED = frozenset({"TERMINATED", "WITHDRAWN", "SUSPENDED"})

_ORDER = {category: index for index, category in enumerate(Category)}
_LEVEL = {level: index for index, level in enumerate(Importance)}


def default_importance(category: Category) -> Importance:
    """The documented rules (docs/editors.md, "What matters most")."""
    match category:
        case (
            Category.RESULTS_POSTED
            | Category.PUBLICATION
            | Category.RETRACTION
            | Category.PAPER_NOTICE
            | Category.PAPER_LINKED
            | Category.STOPPED
            | Category.CLAIM_CONTRADICTED
            | Category.RECORD_MISSING
            | Category.LISTED_UNDER
        ):
            return Importance.HIGH
        case (
            Category.STATUS
            | Category.ENROLLMENT
            | Category.PRIMARY_COMPLETION
            | Category.CLAIM_RESOLVED
            | Category.RECORD_RESTORED
            | Category.NEW_PAPER  # found by the editors' own literature search
        ):
            return Importance.MEDIUM
        case Category.NEW_TRIAL:
            return Importance.LOW
        case _:
            assert_never(category)


def category(change: Change) -> Category:
    match change.kind:
        case ChangeKind.STATUS:
            stopped = (change.after or "").split(" ")[0] in STOPPED
            return Category.STOPPED if stopped else Category.STATUS
        case ChangeKind.RESULTS_POSTED:
            return Category.RESULTS_POSTED
        case ChangeKind.PUBLICATION:
            # Only a RESULT reference is the trial's results paper; a DERIVED one is any paper
            # that names the trial (a review, a protocol, a preclinical study).
            result = (change.detail or "").startswith("RESULT ")
            return Category.PUBLICATION if result else Category.PAPER_LINKED
        case ChangeKind.RETRACTION:
            return Category.RETRACTION
        case ChangeKind.LISTED_UNDER:
            return Category.LISTED_UNDER
        case ChangeKind.RECORD_MISSING:
            return Category.RECORD_MISSING
        case ChangeKind.RECORD_RESTORED:
            return Category.RECORD_RESTORED
        case ChangeKind.ENROLLMENT:
            return Category.ENROLLMENT
        case ChangeKind.PRIMARY_COMPLETION:
            return Category.PRIMARY_COMPLETION
        case ChangeKind.NEW_TRIAL:
            return Category.NEW_TRIAL
        case ChangeKind.CLAIM_CONTRADICTED:
            return Category.CLAIM_CONTRADICTED
        case ChangeKind.CLAIM_RESOLVED:
            return Category.CLAIM_RESOLVED
        case ChangeKind.RESULTS_PAPER:
            return Category.PUBLICATION
        case ChangeKind.TRIAL_PAPER:
            return Category.PAPER_LINKED
        case ChangeKind.PAPER_NOTICE:
            return Category.PAPER_NOTICE
        case ChangeKind.NEW_PAPER:
            return Category.NEW_PAPER
        case _:
            assert_never(change.kind)


def rule(kind: Category, relation: Relation, claimed: bool = False) -> Importance:
    """The documented rules (docs/editors.md, "What matters most"), before `[digest.importance]`;
    `claimed`: an article citing the trial makes a claim about the field that moved."""
    match relation:
        case Relation.CITED:
            return Importance.HIGH if claimed else default_importance(kind)
        case Relation.CITED_PAPER:
            return Importance.HIGH
        case Relation.CLOSE:
            # A new trial of the article's own question is news its editors want to weigh.
            return Importance.MEDIUM if kind is Category.NEW_TRIAL else default_importance(kind)
        case Relation.RELATED | Relation.LITERATURE:
            return default_importance(kind)
        case Relation.OFF_TOPIC:
            return Importance.LOW
        case _:
            assert_never(relation)


def notice_importance(kind: NoticeKind) -> Importance:
    """A retraction or an expression of concern undoes what a paper can be trusted for; an
    erratum or an update asks for a look."""
    match kind:
        case (
            NoticeKind.RETRACTION
            | NoticeKind.EXPRESSION_OF_CONCERN
            | NoticeKind.RETRACTED_AND_REPUBLISHED
        ):
            return Importance.HIGH
        case NoticeKind.ERRATUM | NoticeKind.UPDATE | NoticeKind.CORRECTED_AND_REPUBLISHED:
            return Importance.MEDIUM
        case _:
            assert_never(kind)


class Ranking:
    """Importance of each change (the rules, then the config's levels), and the sort key it
    implies."""

    def __init__(self, overrides: Mapping[Category, Importance] | None = None) -> None:
        self.overrides = dict(overrides or {})

    def importance(
        self, change: Change, relation: Relation = Relation.RELATED, claimed: bool = False
    ) -> Importance:
        kind = category(change)
        if relation is Relation.OFF_TOPIC:
            return Importance.LOW  # summarised apart, whatever the levels say
        if kind is Category.PAPER_NOTICE and kind not in self.overrides:
            # As the finding it raises says it (an erratum asks for a look, a retraction more).
            return notice_importance(notice_of(change.after))
        if kind is Category.RETRACTION and change.before == BACKGROUND_REFERENCE:
            # What the record cites for context, not the trial's own paper: worth a note.
            return Importance.LOW
        return self.overrides.get(kind) or rule(kind, relation, claimed)

    def key(
        self, change: Change, relation: Relation = Relation.RELATED, claimed: bool = False
    ) -> tuple[int, int]:
        """Sorts the weightiest change first."""
        return _LEVEL[self.importance(change, relation, claimed)], _ORDER[category(change)]


# Words too common among conditions and interventions to say that two trials study one thing.
GENERIC = frozenset(
    {
        *("placebo", "sham", "control", "controls", "standard", "care", "usual", "dose"),
        *("doses", "dosage", "oral", "tablet", "tablets", "capsule", "capsules", "pill"),
        *("pills", "drug", "drugs", "treatment", "therapy", "group", "arm", "healthy"),
        *("volunteers", "volunteer", "patients", "disease", "diseases", "disorder"),
        *("disorders", "syndrome", "chronic", "acute", "other", "with", "without", "daily"),
        *("behavioral", "procedure", "device", "dietary", "supplement", "combination"),
    }
)


def topic_words(names: Iterable[str]) -> frozenset[str]:
    """The telling words of some conditions or interventions ("Low dose naltrexone" →
    naltrexone): letters only, four or more, lower case, the generic ones left out."""
    words = re.findall(r"[^\W\d_]{4,}", " ".join(names).casefold())
    return frozenset(w for w in words if w not in GENERIC)


@dataclass(frozen=True)
class Topics:
    """What an article's trials study: the telling words of their conditions and interventions."""

    conditions: frozenset[str]
    interventions: frozenset[str]

    @classmethod
    def of(cls, snapshots: Iterable[Snapshot]) -> Topics:
        studied = list(snapshots)
        return cls(
            topic_words(c for s in studied for c in s.conditions),
            topic_words(i for s in studied for i in s.interventions),
        )

    def __or__(self, other: Topics) -> Topics:
        return Topics(self.conditions | other.conditions, self.interventions | other.interventions)


@dataclass(frozen=True)
class Nearness:
    """How close a trial a search found is to the articles, and to which one."""

    relation: Relation
    article: str | None = None  # the key of the closest article
    shared: tuple[str, ...] = ()  # the words it shares with that article's trials


def nearness(snapshot: Snapshot | None, articles: Mapping[str, Topics]) -> Nearness:
    """Close: it shares a condition and an intervention with an article's trials; related: one
    of the two; off topic: neither. With nothing to compare (a record without conditions or
    interventions, articles whose trials the monitor has not read) it is related: never hidden
    at the end on a guess."""
    if snapshot is None:
        return Nearness(Relation.RELATED)
    conditions = topic_words(snapshot.conditions)
    interventions = topic_words(snapshot.interventions)
    comparable = {k: t for k, t in articles.items() if t.conditions or t.interventions}
    if not (conditions or interventions) or not comparable:
        return Nearness(Relation.RELATED)
    best: tuple[tuple[int, int], str, tuple[str, ...]] | None = None
    for key, topics in comparable.items():
        same_conditions = sorted(conditions & topics.conditions)
        same_interventions = sorted(interventions & topics.interventions)
        shared = (*same_conditions, *same_interventions)
        score = (bool(same_conditions) + bool(same_interventions), len(shared))
        if best is None or score > best[0]:
            best = (score, key, shared)
    assert best is not None
    (kinds, _), key, shared = best
    match kinds:
        case 2:
            return Nearness(Relation.CLOSE, key, shared)
        case 1:
            return Nearness(Relation.RELATED, key, shared)
        case _:
            return Nearness(Relation.OFF_TOPIC)
