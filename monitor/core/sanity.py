"""The sanity gate: when a cycle's findings look like a fault rather than news, the digest to
content staff is held until an operator has looked (`trial-monitor release`). Pure.

Two signs: an implausible share of the watched trials changed at once (a registry that renamed a
field makes every trial "change"), or records arrived without the fields that define a trial
(an API format change, a partial response).
"""

from __future__ import annotations

from typing import Protocol


class Thresholds(Protocol):
    """When to hold (`[sanity]`, settings/config.py's SanityConfig)."""

    @property
    def max_changed_share(self) -> float: ...
    @property
    def min_changed_trials(self) -> int: ...
    @property
    def hold_on_incomplete_records(self) -> bool: ...


def hold_reason(
    changed_trials: int, watched_trials: int, incomplete_records: int, config: Thresholds
) -> str | None:
    """Why this cycle's digest should be held, or None when it looks like ordinary news."""
    if config.hold_on_incomplete_records and incomplete_records:
        return (
            f"{incomplete_records} registry record(s) came without an NCT id or a status: "
            "an API change or a partial response?"
        )
    share = changed_trials / watched_trials if watched_trials else 0.0
    if changed_trials >= config.min_changed_trials and share > config.max_changed_share:
        return (
            f"{changed_trials} of {watched_trials} watched trials changed at once "
            f"({share:.0%}, more than sanity.max_changed_share {config.max_changed_share:.0%})"
        )
    return None
