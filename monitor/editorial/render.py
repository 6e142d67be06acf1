"""A Digest, an article check or a notice → its words laid out (subject, plain text, HTML), from
the templates; the views the templates show (a trial, a change, a section).

Pure: no I/O beyond reading the templates, no clock. The words come from words/; the grouping
from digest.py; the layout lives in templates/ (NAME_subject.txt, NAME.txt and NAME.html for
every message).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.core.articles import Article, Evidence
from monitor.core.counted import counted
from monitor.core.digest import Digest, Ranked, TrialChanges
from monitor.core.models import (
    ChangeKind,
    Importance,
    Relation,
    RenderedMessage,
)
from monitor.core.standing import Finding, Standing, paper_role
from monitor.editorial.digest import SECTION
from monitor.editorial.words import (
    ArticleNote,
    ChangeWords,
    article_name,
    article_note,
    change_words,
    data_timestamp_words,
    finding_words,
    headline,
    importance_name,
    index_words,
    moment_words,
    nearness_words,
    off_topic_intro,
    section_heading,
    sentence,
    summary,
    trial_facts,
    verdict,
    verdict_short,
)

if TYPE_CHECKING:
    from jinja2 import Environment

# Installed, the templates ride inside the package; in a checkout they sit at the top level.
TEMPLATE_DIRS = [
    Path(__file__).parents[1] / "templates",
    Path(__file__).parents[2] / "templates",
]
SUBJECT_LIMIT = 200


@dataclass(frozen=True)
class ChangeView:
    """One change as the templates show it: its words, its importance by name, and what each
    article citing the trial says of it."""

    words: ChangeWords
    importance: Importance
    notes: tuple[ArticleNote, ...] = ()

    @property
    def level(self) -> str:
        """The importance as the reader sees it (the colours are keyed by `importance`)."""
        return importance_name(self.importance)


@dataclass(frozen=True)
class TrialView:
    nct_id: str  # or a paper's name, "PMID 32068870"
    title: str
    url: str
    history_url: str | None  # none for a paper
    changes: tuple[ChangeView, ...]
    facts: str | None = None  # a new trial's phase, enrollment, sponsor, conditions, start
    nearness: str | None = None  # why a search's find stands where it does
    name: str = ""  # as the digest names it: "NCT09806440, cited as NCT02806440"

    @property
    def anchor(self) -> str:
        return anchor(self.nct_id)

    @property
    def line(self) -> str:
        """The trial and its changes on one line, for the section off topic."""
        return f"{self.name} — {self.title}: " + "; ".join(c.words.line for c in self.changes)


@dataclass(frozen=True)
class Section:
    relation: Relation
    heading: str
    trials: tuple[TrialView, ...]
    intro: str | None = None

    @property
    def summarised(self) -> bool:
        """Off topic: one line per trial, not the full entries."""
        return self.relation is Relation.OFF_TOPIC


@dataclass(frozen=True)
class ReminderView:
    """One article's high findings still open after a week, said again after the news."""

    article: str  # “Title”
    url: str | None
    findings: tuple[tuple[str, str, str | None], ...]  # (id, sentence, link) each


@dataclass(frozen=True)
class VerdictView:
    """What is newly wrong with one article the digest concerns."""

    article: str  # “Title”
    url: str | None
    verdict: str


@dataclass(frozen=True)
class IndexEntry:
    """A line of "What matters most": which trial, and what kinds of high change it has; the
    changes themselves are written once, below."""

    nct_id: str
    what: str
    name: str = ""  # as the digest names the trial

    @property
    def anchor(self) -> str:
        return anchor(self.nct_id)


# Each section, by the relation that names it.
_SECTIONS = (
    Relation.CITED,
    Relation.CITED_PAPER,
    Relation.CLOSE,
    Relation.LITERATURE,
    Relation.OFF_TOPIC,
)


def anchor(name: str) -> str:
    """An HTML id for a trial or a paper: "NCT04270877", "PMID-32068870" (an id has no spaces)."""
    return "-".join(name.split())


@cache
def make_environment() -> Environment:
    """The templates' environment, made once per process, and only by a command that renders
    a message: importing Jinja is a tenth of a no-op cycle's start-up."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

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
    env.filters["counted"] = lambda count, noun: counted(int(count), noun)
    return env


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


def render_digest(
    digest: Digest,
    subject_prefix: str,
    env: Environment,
    evidence: Evidence | None = None,
    *,
    where: str = "",
    unread: str | None = None,
    verdicts: Sequence[tuple[Standing, Sequence[Finding]]] = (),
    reminders: Sequence[tuple[Standing, Sequence[Finding]]] = (),
) -> RenderedMessage:
    """The digest in words; `where` its changes were found ("on ClinicalTrials.gov"),
    `unread` the sources this cycle could not read, `verdicts` what is newly wrong with each
    article the changes concern: said first, and named in the subject; `reminders` what is
    still open after a week: said last, briefly, never as news."""
    evidence = evidence or Evidence()
    articles = len(evidence.articles)
    views = [(t.relation, _trial_view(t, evidence)) for t in digest.trials]
    sections = [
        Section(
            relation,
            section_heading(relation, articles),
            tuple(view for r, view in views if SECTION[r] == SECTION[relation]),
            off_topic_intro(articles) if relation is Relation.OFF_TOPIC else None,
        )
        for relation in _SECTIONS
        if any(SECTION[r] == SECTION[relation] for r, _ in views)
    ]
    only_new = all(c.kind is ChangeKind.NEW_TRIAL for t in digest.trials for c in t.changes)
    papers = sum(t.pmid is not None for t in digest.trials)
    context = {
        "prefix": subject_prefix,
        "summary": summary(len(digest.trials) - papers, only_new, papers),
        "where": where,
        "headline": _headline(digest, evidence),
        "index": [
            IndexEntry(
                t.nct_id,
                _and_words(
                    dict.fromkeys(
                        index_words(i.category, i.change)
                        for i in t.items
                        if i.importance is Importance.HIGH
                    )
                ),
                shown_as(t, evidence),
            )
            for t in digest.trials
            if any(i.importance is Importance.HIGH for i in t.items)
        ],
        "sections": sections,
        "change_count": digest.change_count,
        "unread": unread,
        "generated_at": moment_words(digest.generated_at),
        "data_timestamp": data_timestamp_words(digest.data_timestamp),
        "verdicts": [
            VerdictView(article_name(s.article.title), s.article.url, verdict(s, found))
            for s, found in verdicts
        ],
        "reminders": [
            ReminderView(
                article_name(s.article.title),
                s.article.url,
                tuple((f.id, w.sentence, w.link) for f in found for w in [finding_words(f)]),
            )
            for s, found in reminders
        ],
        "verdict_short": (
            sentence(
                f"{article_name(verdicts[0][0].article.title)}: "
                f"{verdict_short(verdicts[0][0], verdicts[0][1])}"
            )
            if verdicts
            else None
        ),
    }
    return render_message(env, "digest", context)


def _and_words(words: Iterable[str]) -> str:
    return ", ".join(words)


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


def _headline(digest: Digest, evidence: Evidence) -> str:
    """The weightiest kind of change in this digest and which trials it concerns."""
    top = digest.trials[0].items[0]
    ids = [
        shown_as(t, evidence)
        for t in digest.trials
        if any(i.category == top.category for i in t.items)
    ]
    return headline(top.category, ids, top.change)


def shown_as(trial: TrialChanges, evidence: Evidence) -> str:
    """A trial as the digest names it: its id, and the ids the articles cite it by when the
    registry has since merged those into it, so that an editor finds it in the article."""
    if trial.pmid is not None or not trial.cited:
        return trial.nct_id
    cited = sorted({c for _, c in evidence.citing(trial.nct_id) if c != trial.nct_id})
    return f"{trial.nct_id}, cited as {' and '.join(cited)}" if cited else trial.nct_id


def _change_view(
    item: Ranked,
    trial: TrialChanges,
    evidence: Evidence,
    citing: Sequence[tuple[Article, str]],
) -> ChangeView:
    """A change in words, a paper said as what it is to the trial whoever found it."""
    change = item.change
    paper = evidence.papers.get(change.pmid) if change.pmid else None
    role = None
    if change.nct_id is not None and change.pmid is not None:
        cited = citing[0][1] if citing else change.nct_id
        role = paper_role(evidence, cited, change.pmid)
    return ChangeView(
        change_words(change, trial.cited, paper, role),
        item.importance,
        tuple(article_note(change, a, cited_as, trial.snapshot, role) for a, cited_as in citing),
    )


def _trial_view(trial: TrialChanges, evidence: Evidence) -> TrialView:
    if trial.pmid is not None:
        citing = evidence.citing_paper(trial.pmid)
    else:
        citing = evidence.citing(trial.nct_id) if trial.cited else ()
    closest = evidence.article(trial.articles[0]) if trial.articles and not trial.cited else None
    new = any(c.kind is ChangeKind.NEW_TRIAL for c in trial.changes)
    snapshot = trial.snapshot
    return TrialView(
        nct_id=trial.nct_id,
        name=shown_as(trial, evidence),
        title=trial.title,
        url=trial.url,
        history_url=trial.history_url,
        changes=tuple(_change_view(item, trial, evidence, citing) for item in trial.items),
        facts=trial_facts(snapshot) if new and snapshot is not None and snapshot.found else None,
        nearness=(
            nearness_words(trial.relation, article_name(closest.title), trial.shared)
            if closest is not None
            else None
        ),
    )
