"""`trial-monitor verify`: each article against the sources as they are now (the registry and,
when the literature side is on, PubMed), the same comparison its article check mails (words and
all), for an editor to run before publishing.

Asks each source that is on what it says now of what the articles cite (the registry its cited
trials, in one batch; PubMed the papers listing each), and stores nothing, whatever the monitor
last saw. Its exit code says what
an editor's script needs: 0 every article agrees, 1 something disagrees, 3 the registry or
PubMed could not be asked (or a cited record could not be read) and nothing was found to
disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING

from monitor.core.articles import Article, ArticleCheck, Evidence, check_article
from monitor.core.claims import Agreement
from monitor.editorial.render import render_article_check
from monitor.sources.base import Reader

if TYPE_CHECKING:
    from jinja2 import Environment


class Verdict(IntEnum):
    """`verify`'s exit codes: a public interface (README, "Commands")."""

    AGREES = 0
    DISAGREES = 1
    UNCHECKED = 3  # 2 is every command's usage or configuration error


@dataclass(frozen=True)
class Verification:
    checks: tuple[ArticleCheck, ...]
    unreadable: tuple[str, ...] = ()  # cited records the registry sent in a form not usable

    @property
    def disagreements(self) -> int:
        return sum(c.disagreements for c in self.checks)

    @property
    def verdict(self) -> Verdict:
        if self.disagreements:
            return Verdict.DISAGREES
        return Verdict.UNCHECKED if self.unreadable else Verdict.AGREES


async def verify(articles: Sequence[Article], readers: Sequence[Reader]) -> Verification:
    """Raises SourceError when a source it needs cannot be asked."""
    evidence = Evidence()
    for reader in readers:
        evidence = evidence.merged(await reader.evidence(articles))
    unreadable = evidence.unreadable
    checks = []
    for article in articles:
        # A record that came back unreadable is not "missing": it is left out of the check.
        readable = [t for t in article.trials if t not in unreadable]
        shown = replace(article, trials=tuple(readable))
        found = {t: evidence.latest[t] for t in readable if t in evidence.latest}
        checks.append(check_article(shown, found, evidence.trial_papers))
    return Verification(tuple(checks), unreadable)


def verification_text(
    verification: Verification,
    subject_prefix: str,
    env: Environment,
    now: datetime,
) -> str:
    """Each article's comparison as its article check words it, then one line that sums up."""
    parts = [
        render_article_check(check, subject_prefix, env, now, None, verify=True).text.rstrip()
        for check in verification.checks
    ]
    for nct_id in verification.unreadable:
        parts.append(f"! {nct_id}: the registry sent a record that could not be read; not checked")
    # Every claim about a trial checked, those of a record the registry no longer returns too.
    claims = sum(
        c.trial in check.article.trials
        for check in verification.checks
        for c in check.article.claims
    )
    judged = [
        f.agreement
        for check in verification.checks
        for trial in check.trials
        for f in trial.findings
        if f.claim
    ]
    agreeing, untold = judged.count(Agreement.AGREES), judged.count(Agreement.UNKNOWN)
    things = verification.disagreements
    parts.append(
        f"verify: {agreeing} of {claims} claims agree with the registry"
        + (f", {untold} it gives no definite value for" if untold else "")
        + "; "
        + (
            f"{things} thing{'s' if things != 1 else ''} to re-check"
            if things
            else "nothing to re-check"
        )
    )
    return "\n\n".join(parts)
