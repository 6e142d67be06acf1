"""ClinicalTrials.gov's own words: how the monitor names it, and a trial's tracked state on one
line for the operator's `status` and `history`. The words for the registry's values (statuses,
phases, dates) are the editor's, in editorial/words, since every message says them."""

from __future__ import annotations

from monitor.core.models import Snapshot
from monitor.editorial.words import date_words, enrollment_words, status_words

LABEL = "ClinicalTrials.gov"
WHERE = "on ClinicalTrials.gov"  # where a digest's changes were found
HISTORY_EXAMPLE = "an NCT id like NCT04270877"


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
