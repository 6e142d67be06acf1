"""An article's standing laid out: the article check (its first look, and what `verify` prints),
and the verdict block that opens a digest. The words come from words/findings.py; the layout
from templates/article_check.* and the digest's own templates.

Proportion: the findings are listed in full up to a number, the trials' detail up to another; a
longer standing says how many more and where the whole list is (`trial-monitor verify --all`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.core.models import STUDY_URL, Importance, RenderedMessage
from monitor.core.standing import Finding, Standing, TrialStanding
from monitor.editorial.render import render_message
from monitor.editorial.words import (
    FindingWords,
    agreements,
    article_name,
    data_timestamp_words,
    finding_words,
    importance_name,
    moment_words,
    other_papers,
    undecided,
    verdict,
    verdict_short,
)

if TYPE_CHECKING:
    from jinja2 import Environment

# What one article check shows in full; the rest is counted, and `verify --all` lists it.
FINDINGS_SHOWN = 15
TRIALS_SHOWN = 10


@dataclass(frozen=True)
class FindingView:
    words: FindingWords
    importance: Importance
    id: str

    @property
    def level(self) -> str:
        return importance_name(self.importance)


@dataclass(frozen=True)
class TrialView:
    name: str  # "FINAL (NCT04270877)", or the NCT id alone
    title: str
    url: str
    results_url: str | None  # the registry's results tab, when results are posted
    found: bool
    also: tuple[str, ...]  # the other papers that name it, one line each
    undecided: tuple[str, ...]  # claims the registry gives no definite value to judge


def findings_views(findings: Sequence[Finding]) -> list[FindingView]:
    return [FindingView(finding_words(f), f.importance, f.id) for f in findings]


def render_article_check(
    standing: Standing,
    subject_prefix: str,
    env: Environment,
    generated_at: datetime,
    data_timestamp: str | None,
    *,
    verify: bool = False,
    everything: bool = False,
) -> RenderedMessage:
    """The first look at an article: the verdict first, then each finding with its evidence and
    what to re-check, the agreements in one line, and the trials it cites. `verify`: for
    `trial-monitor verify`, which prints the same words without the mail's footer;
    `everything`: no finding or trial left out (`verify --all`)."""
    article = standing.article
    findings = list(standing.findings)
    trials = list(standing.trials)
    shown_findings = findings if everything else findings[:FINDINGS_SHOWN]
    shown_trials = trials if everything else trials[:TRIALS_SHOWN]
    context = {
        "prefix": subject_prefix,
        "article": article_name(article.title),
        "url": article.url,
        "verdict": verdict(standing),
        "short": verdict_short(standing),
        "count": standing.count,
        "findings": findings_views(shown_findings),
        "more_findings": len(findings) - len(shown_findings),
        "agreements": agreements(standing),
        "trials": [_trial_view(t) for t in shown_trials],
        "more_trials": len(trials) - len(shown_trials) + standing.more,
        "unreadable": standing.unreadable,
        "generated_at": moment_words(generated_at),
        "data_timestamp": data_timestamp_words(data_timestamp),
        "verify": verify,
    }
    return render_message(env, "article_check", context)


def _trial_view(trial: TrialStanding) -> TrialView:
    snapshot = trial.snapshot
    record = snapshot.nct_id if snapshot is not None else trial.cited_as
    url = STUDY_URL.format(nct_id=record)
    return TrialView(
        name=f"{trial.name} ({trial.cited_as})" if trial.name != trial.cited_as else trial.name,
        title=snapshot.title if snapshot and snapshot.title else "(title not known)",
        url=url,
        results_url=f"{url}?tab=results" if snapshot and snapshot.has_results else None,
        found=trial.found,
        also=tuple(other_papers(trial)),
        undecided=tuple(undecided(trial)),
    )
