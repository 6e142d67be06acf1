"""Pending changes → Digest → one email (subject, plain text, HTML), assembled from templates.

Pure: no I/O beyond reading the templates, no clock. The words come from words.py; the layout
lives in templates/ (NAME_subject.txt, NAME.txt and NAME.html for every message).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from monitor.importance import Ranking, category
from monitor.models import (
    ChangeKind,
    Digest,
    Importance,
    PendingChange,
    Ranked,
    RenderedMessage,
    TrialChanges,
)
from monitor.words import (
    ChangeWords,
    change_words,
    data_timestamp_words,
    headline,
    importance_name,
    moment_words,
    summary,
)

# Installed, the templates ride inside the package; in a checkout they sit at the top level.
TEMPLATE_DIRS = [
    Path(__file__).parent / "templates",
    Path(__file__).parent.parent / "templates",
]
SUBJECT_LIMIT = 200


@dataclass(frozen=True)
class ChangeView:
    """One change as the templates show it: its words, and its importance by name."""

    words: ChangeWords
    importance: Importance

    @property
    def level(self) -> str:
        """The importance as the reader sees it (the colours are keyed by `importance`)."""
        return importance_name(self.importance)


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
    only_new = all(c.kind is ChangeKind.NEW_TRIAL for t in digest.trials for c in t.changes)
    context = {
        "prefix": subject_prefix,
        "summary": summary(len(digest.trials), only_new),
        "headline": _headline(digest),
        "highlights": [
            Highlight(t.nct_id, c.words.short)
            for t in trials
            for c in t.changes
            if c.importance is Importance.HIGH
        ],
        "trials": trials,
        "change_count": digest.change_count,
        "generated_at": moment_words(digest.generated_at),
        "data_timestamp": data_timestamp_words(digest.data_timestamp),
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


def _headline(digest: Digest) -> str:
    """The weightiest kind of change in this digest and which trials it concerns."""
    top = digest.trials[0].items[0]
    ids = [t.nct_id for t in digest.trials if any(i.category == top.category for i in t.items)]
    return headline(top.category, ids, top.change)


def _trial_view(trial: TrialChanges) -> TrialView:
    return TrialView(
        nct_id=trial.nct_id,
        title=trial.title,
        url=trial.url,
        history_url=trial.history_url,
        changes=tuple(
            ChangeView(change_words(item.change, trial.cited), item.importance)
            for item in trial.items
        ),
    )
