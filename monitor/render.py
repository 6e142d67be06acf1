"""Pending changes → Digest → the words of one email (subject, plain text, HTML).

Pure: no I/O beyond reading the templates, no clock. The wording of each change lives here (the
registry's enum values turned into the words its website shows); the layout lives in templates/.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from monitor.importance import HIGH, Ranking, category
from monitor.models import (
    PHASE_WORDS,
    PUBMED_URL,
    STATUS_WORDS,
    Change,
    ChangeKind,
    Digest,
    PendingChange,
    Ranked,
    RenderedMessage,
    TrialChanges,
)

# Installed, the templates ride inside the package; in a checkout they sit at the top level.
TEMPLATE_DIRS = [
    Path(__file__).parent / "templates",
    Path(__file__).parent.parent / "templates",
]
SUBJECT_LIMIT = 200

MONTHS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)


@dataclass(frozen=True)
class ChangeView:
    """One change in words: `label: before → after`, then an optional note and link; `short`
    is the few words the top of the digest uses."""

    label: str
    before: str | None
    after: str | None
    note: str | None = None
    link: str | None = None
    short: str = ""
    importance: str = "medium"


@dataclass(frozen=True)
class TrialView:
    nct_id: str
    title: str
    url: str
    history_url: str
    changes: tuple[ChangeView, ...]


@dataclass(frozen=True)
class Highlight:
    nct_id: str
    text: str


def build_digest(
    pending: Sequence[PendingChange],
    titles: Mapping[str, str],
    generated_at: datetime,
    data_timestamp: str | None,
    ranking: Ranking | None = None,
    cited: Collection[str] = (),
) -> Digest:
    """Group changes by trial, weightiest first within a trial and across trials."""
    ranking = ranking or Ranking()
    by_trial: dict[str, list[Ranked]] = {}
    for item in pending:
        change = item.change
        ranked = Ranked(change, category(change), ranking.importance(change))
        by_trial.setdefault(change.nct_id, []).append(ranked)
    groups = [
        TrialChanges(
            nct_id=nct_id,
            title=titles.get(nct_id, "(title not known)"),
            items=tuple(sorted(items, key=lambda r: ranking.key(r.change))),
            cited=nct_id in cited,
        )
        for nct_id, items in by_trial.items()
    ]
    groups.sort(key=lambda t: (ranking.key(t.items[0].change), t.nct_id))
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
    trials = [_trial_view(t) for t in digest.trials]
    context = {
        "prefix": subject_prefix,
        "summary": summary(digest),
        "headline": headline(digest),
        "highlights": [
            Highlight(t.nct_id, c.short) for t in trials for c in t.changes if c.importance == HIGH
        ],
        "trials": trials,
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
    "results_posted": "results posted for {ids}",
    "publication": "results published for {ids}",
    "stopped": "{ids} stopped",
    "claim_contradicted": "the article is contradicted on {ids}",
    "record_missing": "record not found: {ids}",
    "status": "status changed for {ids}",
    "enrollment": "enrollment changed for {ids}",
    "primary_completion": "completion date moved for {ids}",
    "claim_resolved": "the registry agrees with the article again on {ids}",
    "record_restored": "record back: {ids}",
    "new_trial": "{ids}",
}


def headline(digest: Digest) -> str:
    """The weightiest kind of change in this digest and which trials it concerns."""
    top = digest.trials[0].items[0]
    ids = [t.nct_id for t in digest.trials if any(i.category == top.category for i in t.items)]
    if top.category in ("status", "stopped") and len(ids) == 1:
        return f"{ids[0]} now {status_words(top.change.after)}"
    named = ", ".join(ids[:2]) + (f" and {len(ids) - 2} more" if len(ids) > 2 else "")
    return HEADLINES[top.category].format(ids=named)


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


def change_view(change: Change, cited: bool = False) -> ChangeView:
    """The words for one change; `cited` when the article cites the trial."""
    kind, before, after = change.kind, change.before, change.after
    if kind is ChangeKind.STATUS:
        note = f"Reason given: {change.detail}" if change.detail else None
        now = status_words(after)
        return ChangeView("Status", status_words(before), now, note=note, short=f"now {now}")
    if kind is ChangeKind.ENROLLMENT:
        now = enrollment_words(after)
        return ChangeView(
            "Enrollment", enrollment_words(before), now, short=f"enrollment now {now}"
        )
    if kind is ChangeKind.PRIMARY_COMPLETION:
        now = date_words(after)
        return ChangeView(
            "Primary completion", date_words(before), now, short=f"primary completion {now}"
        )
    if kind is ChangeKind.RESULTS_POSTED:
        when = f"first posted {date_words(after)}" if after else "posted"
        return ChangeView(
            "Results posted on ClinicalTrials.gov", None, when, short="results posted"
        )
    if kind is ChangeKind.PUBLICATION:
        return _publication_view(change, cited)
    if kind in (ChangeKind.CLAIM_CONTRADICTED, ChangeKind.CLAIM_RESOLVED):
        sentence = claim_sentence(change.detail or "", before or "", after)
        if kind is ChangeKind.CLAIM_CONTRADICTED:
            return ChangeView("The article is contradicted", None, sentence, short=sentence)
        label = "The registry agrees with the article again"
        return ChangeView(label, None, sentence, short=label.lower())
    if kind is ChangeKind.RECORD_MISSING:
        return ChangeView(
            "Record not found",
            None,
            "the registry no longer returns this trial (removed, or merged into another record)",
            short="record not found in the registry",
        )
    if kind is ChangeKind.RECORD_RESTORED:
        return ChangeView(
            "Record found again", None, f"status {status_words(after)}", short="record back"
        )
    return ChangeView(
        "New trial",
        None,
        f"found by the search “{after}”",
        note=f"Status: {status_words(change.detail)}" if change.detail else None,
        short="new trial",
    )


def _publication_view(change: Change, cited: bool) -> ChangeView:
    ref_type, _, citation = (change.detail or "").partition(" ")
    pmid = f"PMID {change.after}"
    if ref_type == "RESULT":
        label = (
            "Results of this cited trial have been published"
            if cited
            else "Results have been published"
        )
        short = "results published" + (" (a cited trial)" if cited else "")
    else:
        label, short = "A paper derived from this trial was linked", "paper linked"
    return ChangeView(
        label,
        None,
        pmid,
        note=citation or None,
        link=PUBMED_URL.format(pmid=change.after),
        short=f"{short}, {pmid}",
    )


def claim_sentence(field: str, said: str, registry: str | None) -> str:
    """ "The article says 99 participants; the registry now says 101 (actual)"."""
    article, now = claim_words(field, said), claim_words(field, registry)
    return f"The article says {article}; the registry now says {now}"


def claim_words(field: str, value: str | None) -> str:
    if value is None:
        return "nothing" if field != "completion_year" else "no completion date"
    if field == "status":
        return status_words(value)
    if field == "enrollment":
        count, _, kind = value.partition(" ")
        return f"{count} participants" + (f" ({kind.lower()})" if kind else "")
    if field == "enrollment_type":
        return f"the enrollment is {value.lower()}"
    if field == "phase":
        return "/".join(PHASE_WORDS.get(p, p) for p in value.split("|"))
    if field == "results_posted":
        return "results are posted" if value == "true" else "no results are posted"
    if field == "completion_year":
        return f"completion in {value}" if len(value) == 4 else f"completion {date_words(value)}"
    return value


def _trial_view(trial: TrialChanges) -> TrialView:
    return TrialView(
        nct_id=trial.nct_id,
        title=trial.title,
        url=trial.url,
        history_url=trial.history_url,
        changes=tuple(
            replace(change_view(item.change, trial.cited), importance=item.importance)
            for item in trial.items
        ),
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
