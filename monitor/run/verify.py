"""`trial-monitor verify`: each article against the sources as they are now (the registry and,
when the literature side is on, PubMed), the same comparison its article check mails (words and
all), for an editor to run before publishing.

Asks each source that is on what it says now of what the articles cite (the registry its cited
trials, in one batch; PubMed the papers listing each), and stores nothing, whatever the monitor
last saw. Its exit code says what an editor's script needs: 0 nothing to re-check, 1 something
to re-check, 3 could not check: a source it needs could not be asked (what the others found is
still printed: an article that looks right may be wrong in what went unread), or a cited record
could not be read and nothing was found to re-check. The registry failing leaves nothing to
judge the articles by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING

from monitor.core.articles import Article, Evidence
from monitor.core.claims import Agreement
from monitor.core.errors import SourceError
from monitor.core.standing import Finding, Standing, stand
from monitor.editorial.checkview import render_article_check
from monitor.editorial.words import finding_words
from monitor.operator.findings import state_line
from monitor.sources.base import Reader, Source
from monitor.store.findings import Kept

if TYPE_CHECKING:
    from jinja2 import Environment


class Verdict(IntEnum):
    """`verify`'s exit codes: a public interface (docs/operating.md, "Commands")."""

    AGREES = 0
    DISAGREES = 1
    UNCHECKED = 3  # 2 is every command's usage or configuration error


@dataclass(frozen=True)
class Verification:
    standings: tuple[Standing, ...]
    unreadable: tuple[str, ...] = ()  # cited records the registry sent in a form not usable
    unread: tuple[str, ...] = ()  # "PubMed could not be read: …", a source not required
    # Findings editors handled or dismissed: said as such, not counted (set_aside).
    decided: tuple[tuple[Finding, Kept], ...] = ()

    def set_aside(self, decided: Mapping[str, Kept]) -> Verification:
        """The same, with the findings editors handled or dismissed (`decided`, by id) taken
        out of each standing and listed apart."""
        standings = tuple(
            replace(s, findings=tuple(f for f in s.findings if f.id not in decided))
            for s in self.standings
        )
        moved = tuple(
            (f, decided[f.id]) for s in self.standings for f in s.findings if f.id in decided
        )
        return replace(self, standings=standings, decided=(*self.decided, *moved))

    @property
    def findings(self) -> int:
        return sum(s.count for s in self.standings)

    @property
    def verdict(self) -> Verdict:
        if self.unread:
            return Verdict.UNCHECKED  # what was found is said; the check is not whole
        if self.findings:
            return Verdict.DISAGREES
        return Verdict.UNCHECKED if self.unreadable else Verdict.AGREES


async def verify(
    articles: Sequence[Article], readers: Sequence[tuple[Source, Reader]]
) -> Verification:
    """Each article's standing on the evidence as the sources give it now. Raises
    SourceError when a required source (the registry) cannot be asked; another's failure is
    said beside what the rest found."""
    evidence = Evidence()
    unread = []
    for source, reader in readers:
        try:
            evidence = evidence.merged(await reader.evidence(articles))
        except SourceError as exc:
            if source.required:
                raise
            unread.append(f"{source.label} could not be read: {exc}")
    standings = tuple(stand(article, evidence) for article in articles)
    return Verification(standings, evidence.unreadable, tuple(unread))


def verification_text(
    verification: Verification,
    subject_prefix: str,
    env: Environment,
    now: datetime,
    *,
    everything: bool = False,
) -> str:
    """Each article's standing as its article check words it (`everything`: no finding or
    trial left out), then one line that sums up."""
    parts = [
        render_article_check(
            standing, subject_prefix, env, now, None, verify=True, everything=everything
        ).text.rstrip()
        for standing in verification.standings
    ]
    # Every claim about a trial checked, those of a record the registry no longer returns too.
    claims = sum(
        c.trial in standing.article.trials
        for standing in verification.standings
        for c in standing.article.claims
    )
    judged = [
        check.agreement
        for standing in verification.standings
        for trial in standing.trials
        for check in trial.checks
    ]
    agreeing, untold = judged.count(Agreement.AGREES), judged.count(Agreement.UNKNOWN)
    things = verification.findings
    if verification.decided:
        parts.append(
            "\n".join(
                [
                    "Handled or dismissed, not counted:",
                    *(
                        f"  {kept.id}  {finding_words(finding).sentence}"
                        + (f"\n              {state_line(kept.last)}" if kept.last else "")
                        for finding, kept in verification.decided
                    ),
                ]
            )
        )
    parts.extend(
        f"verify: {line}; what it would say is not checked (exit 3)" for line in verification.unread
    )
    parts.append(
        f"verify: {agreeing} of {claims} claims agree with the registry"
        + (f", {untold} it gives no definite value for" if untold else "")
        + "; "
        + (
            f"{things} thing{'s' if things != 1 else ''} to re-check"
            if things
            else "nothing to re-check"
        )
        + (f" ({len(verification.decided)} handled or dismissed)" if verification.decided else "")
    )
    return "\n\n".join(parts)
