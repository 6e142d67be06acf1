"""How much each change matters to the people who edit the article, and so the digest's order.

Every change falls in one category; each category has an importance (high, medium, low) that
`[digest.importance]` may change. The digest lists high before medium before low, and within a
level keeps the order of CATEGORIES: what most often makes an article wrong comes first.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.models import Change, ChangeKind

HIGH, MEDIUM, LOW = "high", "medium", "low"
LEVELS = (HIGH, MEDIUM, LOW)

# A status that means the trial stopped short: what an article citing it must reconsider.
STOPPED = frozenset({"TERMINATED", "WITHDRAWN", "SUSPENDED"})

# category → default importance, in the order the digest lists them within one level.
DEFAULTS: dict[str, str] = {
    "results_posted": HIGH,  # results posted on ClinicalTrials.gov
    "publication": HIGH,  # a results (or derived) paper linked to the record
    "stopped": HIGH,  # status became terminated, withdrawn or suspended
    "claim_contradicted": HIGH,  # the registry now contradicts what the article says
    "record_missing": HIGH,  # the registry no longer returns the record
    "status": MEDIUM,  # any other status change
    "enrollment": MEDIUM,  # enrollment count or type
    "primary_completion": MEDIUM,  # primary completion date or its type
    "claim_resolved": MEDIUM,  # the registry agrees with the article again
    "record_restored": MEDIUM,  # a missing record is back
    "new_trial": LOW,  # a saved search found a trial for the first time
}
CATEGORIES = tuple(DEFAULTS)


def category(change: Change) -> str:
    if change.kind is ChangeKind.STATUS and change.after in STOPPED:
        return "stopped"
    return change.kind.value


class Ranking:
    """Importance of each category (defaults, then the config's), and the sort key it implies."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self.levels = {**DEFAULTS, **(overrides or {})}

    def importance(self, change: Change) -> str:
        return self.levels[category(change)]

    def key(self, change: Change) -> tuple[int, int]:
        """Sorts the weightiest change first."""
        kind = category(change)
        return LEVELS.index(self.levels[kind]), CATEGORIES.index(kind)
