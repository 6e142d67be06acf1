"""`trial-monitor verify`: each article against the registry (and, when the literature side is
on, PubMed) as they are now, the same comparison its article check mails (words and all), for
an editor to run before publishing.

Reads the registry directly (the cited trials, in one batch) and PubMed's papers of each cited
trial (`NCT…[si]`), and stores nothing, whatever the monitor last saw. Its exit code says what
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

from monitor.core.articles import Article, ArticleCheck, check_article
from monitor.core.claims import Agreement
from monitor.core.models import Paper, Snapshot
from monitor.editorial.render import render_article_check
from monitor.sources.ctgov.client import RegistryClient
from monitor.sources.ctgov.normalize import RejectedRecord, normalize, study_id

if TYPE_CHECKING:
    from jinja2 import Environment

    from monitor.sources.pubmed.client import PubmedClient


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


async def verify(
    articles: Sequence[Article], registry: RegistryClient, pubmed: PubmedClient | None = None
) -> Verification:
    """Raises RegistryError when the registry cannot be asked, PubmedError when PubMed
    cannot."""
    trials = sorted({t for a in articles for t in a.trials})
    found: dict[str, Snapshot] = {}
    unreadable: list[str] = []
    for batch in registry.batches(trials):
        async for page in registry.studies(batch):
            for study in page:
                try:
                    snapshot = normalize(study).snapshot
                except RejectedRecord:
                    unreadable.append(study_id(study) or "a record without an NCT id")
                    continue
                # A cited id that became an alias comes back under the record it is listed
                # under; the article's claims are about that record now.
                for nct_id in (snapshot.nct_id, *snapshot.aliases):
                    found[nct_id] = snapshot
    papers = await _papers(pubmed, trials) if pubmed is not None else {}
    checks = []
    for article in articles:
        # A record that came back unreadable is not "missing": it is left out of the check.
        readable = [t for t in article.trials if t not in unreadable]
        shown = replace(article, trials=tuple(readable))
        checks.append(check_article(shown, {t: found[t] for t in readable if t in found}, papers))
    return Verification(tuple(checks), tuple(unreadable))


async def _papers(pubmed: PubmedClient, trials: Sequence[str]) -> dict[str, list[Paper]]:
    """The papers PubMed lists for each trial (MEDLINE's `[si]`), as PubMed has them now."""
    from monitor.sources.pubmed.normalize import RejectedDocument, parse_articles

    listing = {t: (await pubmed.search(f"{t}[si]")).pmids for t in trials}
    read: dict[str, Paper] = {}
    async for document in pubmed.fetch(sorted({p for ps in listing.values() for p in ps})):
        try:
            read.update((p.pmid, p) for p in parse_articles(document).papers)
        except RejectedDocument:
            continue  # its papers are left out, as an unreadable registry record is
    return {t: [read[p] for p in pmids if p in read] for t, pmids in listing.items()}


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
