"""How much each change matters to the people who edit the article, and so the digest's order.

Every change falls in one category; each category has an importance (high, medium, low) that
`[digest.importance]` may change. The digest lists high before medium before low, and within a
level keeps the order of `Category`: what most often makes an article wrong comes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

from monitor.models import Category, Change, ChangeKind, Importance

# A status that means the trial stopped short: what an article citing it must reconsider.
STOPPED = frozenset({"TERMINATED", "WITHDRAWN", "SUSPENDED"})

_ORDER = {category: index for index, category in enumerate(Category)}
_LEVEL = {level: index for index, level in enumerate(Importance)}


def default_importance(category: Category) -> Importance:
    """The documented rules (README, "What matters most")."""
    match category:
        case (
            Category.RESULTS_POSTED
            | Category.PUBLICATION
            | Category.RETRACTION
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
        case _:
            assert_never(change.kind)


class Ranking:
    """Importance of each category (the rules, then the config's), and the sort key it implies."""

    def __init__(self, overrides: Mapping[Category, Importance] | None = None) -> None:
        self.levels = {c: default_importance(c) for c in Category} | dict(overrides or {})

    def importance(self, change: Change) -> Importance:
        return self.levels[category(change)]

    def key(self, change: Change) -> tuple[int, int]:
        """Sorts the weightiest change first."""
        kind = category(change)
        return _LEVEL[self.levels[kind]], _ORDER[kind]
