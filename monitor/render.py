"""Pending changes → Digest → the words of one email (subject, plain text, HTML).

Pure: no I/O beyond reading the templates, no clock. The wording of each change lives here (the
registry's enum values turned into the words its website shows); the layout lives in templates/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from monitor.models import (
    KIND_ORDER,
    PUBMED_URL,
    Change,
    ChangeKind,
    Digest,
    PendingChange,
    RenderedMessage,
    TrialChanges,
)

# Installed, the templates ride inside the package; in a checkout they sit at the top level.
TEMPLATE_DIRS = [
    Path(__file__).parent / "templates",
    Path(__file__).parent.parent / "templates",
]
SUBJECT_LIMIT = 200

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
MONTHS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)


@dataclass(frozen=True)
class ChangeView:
    """One change in words: `label: before → after`, then an optional note and link."""

    label: str
    before: str | None
    after: str | None
    note: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class TrialView:
    nct_id: str
    title: str
    url: str
    history_url: str
    changes: tuple[ChangeView, ...]


def build_digest(
    pending: Sequence[PendingChange],
    titles: Mapping[str, str],
    generated_at: datetime,
    data_timestamp: str | None,
) -> Digest:
    """Group changes by trial, the trial with the weightiest change first."""
    by_trial: dict[str, list[Change]] = {}
    for item in pending:
        by_trial.setdefault(item.change.nct_id, []).append(item.change)
    groups = [
        TrialChanges(
            nct_id=nct_id,
            title=titles.get(nct_id, "(title not known)"),
            changes=tuple(sorted(found, key=lambda c: KIND_ORDER.index(c.kind))),
        )
        for nct_id, found in by_trial.items()
    ]
    groups.sort(key=lambda t: (KIND_ORDER.index(t.changes[0].kind), t.nct_id))
    return Digest(
        trials=tuple(groups),
        generated_at=generated_at,
        data_timestamp=data_timestamp,
        change_ids=tuple(item.id for item in pending),
    )


def make_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader([str(d) for d in TEMPLATE_DIRS]),
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_digest(digest: Digest, subject_prefix: str, env: Environment) -> RenderedMessage:
    context = {
        "prefix": subject_prefix,
        "summary": summary(digest),
        "headline": headline(digest),
        "trials": [_trial_view(t) for t in digest.trials],
        "change_count": digest.change_count,
        "generated_at": _moment(digest.generated_at),
        "data_timestamp": _data_timestamp(digest.data_timestamp),
    }
    return render_message(env, "digest", context)


def render_message(env: Environment, name: str, context: Mapping[str, object]) -> RenderedMessage:
    """Any email: templates NAME_subject.txt, NAME.txt and NAME.html, with the same context."""
    subject = env.get_template(f"{name}_subject.txt").render(context)
    return RenderedMessage(
        subject=one_line(subject, SUBJECT_LIMIT),
        text=env.get_template(f"{name}.txt").render(context),
        html=env.get_template(f"{name}.html").render(context),
    )


def one_line(text: str, limit: int) -> str:
    """Header-safe: no CR/LF can survive, whatever the registry put in a title."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def summary(digest: Digest) -> str:
    count = len(digest.trials)
    if all(c.kind is ChangeKind.NEW_TRIAL for t in digest.trials for c in t.changes):
        return f"{count} new trial{'s' if count != 1 else ''} found"
    return f"{count} trial{'s' if count != 1 else ''} changed"


HEADLINES = {
    ChangeKind.RESULTS_POSTED: "results posted for {ids}",
    ChangeKind.PUBLICATION: "results published for {ids}",
    ChangeKind.RECORD_MISSING: "record not found: {ids}",
    ChangeKind.RECORD_RESTORED: "record back: {ids}",
    ChangeKind.STATUS: "status changed for {ids}",
    ChangeKind.ENROLLMENT: "enrollment changed for {ids}",
    ChangeKind.PRIMARY_COMPLETION: "completion date moved for {ids}",
    ChangeKind.NEW_TRIAL: "{ids}",
}


def headline(digest: Digest) -> str:
    """The weightiest kind of change in this digest and which trials it concerns."""
    top = min((c.kind for t in digest.trials for c in t.changes), key=KIND_ORDER.index)
    ids = [t.nct_id for t in digest.trials if any(c.kind is top for c in t.changes)]
    if top is ChangeKind.STATUS and len(ids) == 1:
        status = next(c.after for t in digest.trials for c in t.changes if c.kind is top)
        return f"{ids[0]} now {status_words(status)}"
    named = ", ".join(ids[:2]) + (f" and {len(ids) - 2} more" if len(ids) > 2 else "")
    return HEADLINES[top].format(ids=named)


def status_words(status: str | None) -> str:
    if status is None:
        return "no status"
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


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
    if not count.isdigit():
        count, kind = "number not given", count
    return f"{count} ({kind.lower()})" if kind else count


def change_view(change: Change) -> ChangeView:
    kind = change.kind
    if kind is ChangeKind.STATUS:
        note = f"Reason given: {change.detail}" if change.detail else None
        return ChangeView(
            "Status", status_words(change.before), status_words(change.after), note=note
        )
    if kind is ChangeKind.ENROLLMENT:
        return ChangeView(
            "Enrollment", enrollment_words(change.before), enrollment_words(change.after)
        )
    if kind is ChangeKind.PRIMARY_COMPLETION:
        return ChangeView("Primary completion", date_words(change.before), date_words(change.after))
    if kind is ChangeKind.RESULTS_POSTED:
        when = f"first posted {date_words(change.after)}" if change.after else "posted"
        return ChangeView("Results posted on ClinicalTrials.gov", None, when)
    if kind is ChangeKind.PUBLICATION:
        ref_type, _, citation = (change.detail or "").partition(" ")
        label = "Results publication linked" if ref_type == "RESULT" else "Publication linked"
        return ChangeView(
            label,
            None,
            f"PMID {change.after}",
            note=citation or None,
            link=PUBMED_URL.format(pmid=change.after),
        )
    if kind is ChangeKind.RECORD_MISSING:
        return ChangeView(
            "Record not found",
            None,
            "the registry no longer returns this trial (removed, or merged into another record)",
        )
    if kind is ChangeKind.RECORD_RESTORED:
        return ChangeView("Record found again", None, f"status {status_words(change.after)}")
    return ChangeView(
        "New trial",
        None,
        f"found by the search “{change.after}”",
        note=f"Status: {status_words(change.detail)}" if change.detail else None,
    )


def _trial_view(trial: TrialChanges) -> TrialView:
    return TrialView(
        nct_id=trial.nct_id,
        title=trial.title,
        url=trial.url,
        history_url=trial.history_url,
        changes=tuple(change_view(c) for c in trial.changes),
    )


def _moment(value: datetime) -> str:
    return value.strftime("%d %B %Y, %H:%M UTC").lstrip("0")


def _data_timestamp(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return _moment(datetime.fromisoformat(value))
    except ValueError:
        return value
