"""The registry's values in words: statuses and phases as its website shows them, dates,
enrollment, moments. What every other module of words says a value with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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


def short_moment(value: datetime | None) -> str:
    """ "2026-11-25 09:00", as the operator's tables show a moment; "-" for none."""
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


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


def sentence(text: str) -> str:
    """The first letter up, the rest as written (Jinja's capitalize lowers a title's)."""
    return text[:1].upper() + text[1:]


def and_words(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + f" and {items[-1]}"
