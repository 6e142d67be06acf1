"""Pending changes → Digest → one email (subject, plain text, HTML), assembled from templates.

Pure: no I/O beyond reading the templates, no clock. The words come from words.py; the layout
lives in templates/ (NAME_subject.txt, NAME.txt and NAME.html for every message).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from monitor.articles import ArticleCheck, TrialCheck
from monitor.importance import Ranking, category
from monitor.models import (
    PUBMED_URL,
    STUDY_URL,
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
    FindingWords,
    article_name,
    article_verdict,
    change_words,
    data_timestamp_words,
    finding_words,
    headline,
    importance_name,
    moment_words,
    paper_words,
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
    env = Environment(
        loader=FileSystemLoader([str(d) for d in TEMPLATE_DIRS]),
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = wrap
    env.filters["sentence"] = sentence
    return env


def sentence(text: str) -> str:
    """The first letter up, the rest as written (Jinja's capitalize lowers a title's)."""
    return text[:1].upper() + text[1:]


TEXT_WIDTH = 76


def wrap(text: str, indent: int = 0, first: str = "") -> str:
    """Plain text for a terminal mail reader: lines of at most TEXT_WIDTH columns, the first
    starting with `first` (a bullet, say), the rest indented under it (a hanging indent). A
    word longer than a line (a URL) stays whole on a line of its own."""
    lines = textwrap.wrap(
        text,
        width=TEXT_WIDTH,
        initial_indent=" " * indent + first,
        subsequent_indent=" " * (indent + len(first)),
        break_long_words=False,
        break_on_hyphens=False,
    )
    return "\n".join(lines) or " " * indent + first


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


@dataclass(frozen=True)
class TrialCheckView:
    nct_id: str
    title: str
    url: str
    passage: str | None
    found: bool
    findings: tuple[FindingWords, ...]
    uncited: tuple[tuple[str, str | None], ...]  # (words, PubMed link)


def render_article_check(
    check: ArticleCheck,
    subject_prefix: str,
    env: Environment,
    generated_at: datetime,
    data_timestamp: str | None,
) -> RenderedMessage:
    """The first look at an article: for each trial it cites, what it says beside what the
    registry says now, each disagreement flagged."""
    article = check.article
    name = article_name(article.title)
    context = {
        "prefix": subject_prefix,
        "article": name,
        "url": article.url,
        "verdict": article_verdict(check.disagreements, name),
        "disagreements": check.disagreements,
        "trials": [_trial_check_view(t) for t in check.trials],
        "generated_at": moment_words(generated_at),
        "data_timestamp": data_timestamp_words(data_timestamp),
    }
    return render_message(env, "article_check", context)


def _trial_check_view(trial: TrialCheck) -> TrialCheckView:
    snapshot = trial.snapshot
    found = snapshot is not None and snapshot.found
    return TrialCheckView(
        nct_id=trial.nct_id,
        title=(snapshot.title if snapshot and snapshot.title else "(title not known)"),
        url=STUDY_URL.format(nct_id=snapshot.nct_id if snapshot else trial.nct_id),
        passage=trial.passage,
        found=found,
        findings=tuple(
            finding_words(f.subject, f.claim.expected if f.claim else None, f.registry, f.disagrees)
            for f in trial.findings
        ),
        uncited=tuple(
            (
                paper_words(p.pmid, p.type, p.citation),
                PUBMED_URL.format(pmid=p.pmid) if p.pmid else None,
            )
            for p in trial.uncited
        ),
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
