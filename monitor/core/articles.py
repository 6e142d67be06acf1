"""The articles the monitor serves, and the comparison of what each says with what the registry
says now: the first look an editor gets (the article check) and what `verify` prints. Pure.

An article cites trials and papers and says things about each trial (its claims). The monitor
reports a change once per recipient and names every article it affects; an article's desk gets
the changes of the trials it cites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from monitor.core.claims import Agreement, Claim, ClaimField, judge, registry_value
from monitor.core.importance import Topics
from monitor.core.models import Paper, PaperRole, Publication, Snapshot


@dataclass(frozen=True)
class Article:
    """An article: what it cites, what it says about each cited trial, who edits it."""

    key: str  # its name in the store: its URL, else its title; "" for the unnamed article
    title: str  # "" for the article the legacy keys describe
    url: str | None = None
    trials: tuple[str, ...] = ()
    pmids: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = ()
    # trial → where the article discusses it ("the paragraph on FINAL"), for what to re-check
    passages: Mapping[str, str] = field(default_factory=dict)
    # trial → the PMIDs the article cites as that trial's papers (besides `pmids`)
    papers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    recipients: tuple[str, ...] = ()  # its desk; everyone on email.recipients gets it anyway

    @property
    def name(self) -> str:
        return self.title or "the article"

    def cites_paper(self, trial: str, pmid: str | None) -> bool:
        return pmid is not None and (pmid in self.pmids or pmid in self.papers.get(trial, ()))


@dataclass(frozen=True)
class Evidence:
    """The articles, and what the sources say of the trials and papers at hand (those of a
    digest, and every trial an article cites): what each change is weighed and worded against.
    Each source gives its part; `merged` puts them together."""

    articles: tuple[Article, ...] = ()
    latest: Mapping[str, Snapshot] = field(default_factory=dict)  # under the id asked for
    papers: Mapping[str, Paper] = field(default_factory=dict)  # each paper's latest, by PMID
    # The latest title each trial had (a record that vanished keeps its old one).
    titles: Mapping[str, str] = field(default_factory=dict)
    # The papers that list each trial (PubMed's `[si]`), by the trial's cited id.
    trial_papers: Mapping[str, Sequence[Paper]] = field(default_factory=dict)
    # Cited records a source sent in a form that could not be read (`verify` says so).
    unreadable: tuple[str, ...] = ()

    def merged(self, other: Evidence) -> Evidence:
        return replace(
            self,
            articles=self.articles or other.articles,
            latest={**self.latest, **other.latest},
            papers={**self.papers, **other.papers},
            titles={**self.titles, **other.titles},
            trial_papers={**self.trial_papers, **other.trial_papers},
            unreadable=(*self.unreadable, *other.unreadable),
        )

    def citing_paper(self, pmid: str) -> tuple[tuple[Article, str], ...]:
        """The articles that cite this paper (as `pmids`, or as one of a trial's papers),
        each with the paper's name as it says what to re-check ("PMID 32068870")."""
        return tuple(
            (article, f"PMID {pmid}")
            for article in self.articles
            if pmid in article.pmids or any(pmid in ps for ps in article.papers.values())
        )

    def citing(self, nct_id: str) -> tuple[tuple[Article, str], ...]:
        """The articles that cite this record, each with the id it cites it by: its own, or
        one the registry has since merged into it."""
        found: list[tuple[Article, str]] = []
        for article in self.articles:
            cited = next((t for t in article.trials if self.record_of(t) == nct_id), None)
            if cited is not None:
                found.append((article, cited))
        return tuple(found)

    def record_of(self, cited: str) -> str:
        snapshot = self.latest.get(cited)
        return snapshot.nct_id if snapshot is not None else cited

    def article(self, key: str) -> Article | None:
        return next((a for a in self.articles if a.key == key), None)

    def topics(self) -> dict[str, Topics]:
        """What each article's trials study, by article key."""
        return {
            article.key: Topics.of(
                s for t in article.trials if (s := self.latest.get(t)) is not None and s.found
            )
            for article in self.articles
        }


@dataclass(frozen=True)
class Finding:
    """One thing the article says (or could say) about a trial, beside the registry."""

    subject: ClaimField
    claim: Claim | None  # None: the article says nothing about it
    registry: str | None  # the registry's value, canonical like a claim's
    agreement: Agreement | None  # None when there is no claim to judge

    @property
    def disagrees(self) -> bool:
        return self.agreement is Agreement.DISAGREES


@dataclass(frozen=True)
class TrialCheck:
    nct_id: str
    snapshot: Snapshot | None  # None: the registry returned no record
    findings: tuple[Finding, ...]
    uncited: tuple[Publication, ...]  # papers linked to the trial that the article does not cite
    passage: str | None
    # Its results papers in PubMed (papers listing it, typed as trial reports) that the article
    # does not cite: only a minority are ever linked on the registry.
    results_papers: tuple[Paper, ...] = ()

    @property
    def disagreements(self) -> int:
        missing = self.snapshot is None or not self.snapshot.found
        found = sum(f.disagrees for f in self.findings)
        return int(missing) + found + len(self.uncited) + len(self.results_papers)


@dataclass(frozen=True)
class ArticleCheck:
    article: Article
    trials: tuple[TrialCheck, ...]

    @property
    def disagreements(self) -> int:
        return sum(t.disagreements for t in self.trials)


# What the article check shows for every trial, said or not: the registry's side is news to an
# editor either way.
SHOWN = (
    ClaimField.STATUS,
    ClaimField.ENROLLMENT,
    ClaimField.PHASE,
    ClaimField.COMPLETION_YEAR,
    ClaimField.RESULTS_POSTED,
)


def check_article(
    article: Article,
    snapshots: Mapping[str, Snapshot],
    papers: Mapping[str, Sequence[Paper]] | None = None,
) -> ArticleCheck:
    """What the article says beside what the registry says now, trial by trial. `snapshots`
    holds each cited trial's latest (under its cited id, even once it is listed under another
    record); a trial without one is a record the registry did not return. `papers`: the papers
    PubMed lists for each cited trial, when the literature side is on."""
    papers = papers or {}
    return ArticleCheck(
        article,
        tuple(
            _check_trial(article, t, snapshots.get(t), papers.get(t, ())) for t in article.trials
        ),
    )


def _check_trial(
    article: Article, trial: str, snapshot: Snapshot | None, papers: Sequence[Paper]
) -> TrialCheck:
    claims = {c.field: c for c in article.claims if c.trial == trial}
    fields: Sequence[ClaimField] = [*SHOWN, *(f for f in claims if f not in SHOWN)]
    findings: list[Finding] = []
    uncited: tuple[Publication, ...] = ()
    if snapshot is not None and snapshot.found:
        for subject in fields:
            claim = claims.get(subject)
            verdict = judge(claim, snapshot) if claim else None
            registry = verdict.registry if verdict else registry_value(subject, snapshot)
            findings.append(
                Finding(subject, claim, registry, verdict.agreement if verdict else None)
            )
        uncited = tuple(p for p in snapshot.publications if not article.cites_paper(trial, p.pmid))
    results = tuple(
        p for p in papers if p.role is PaperRole.RESULTS and not article.cites_paper(trial, p.pmid)
    )
    # A results paper the registry links too is said once, as PubMed has it (its conclusion).
    shown = {p.pmid for p in results}
    uncited = tuple(p for p in uncited if p.pmid not in shown)
    return TrialCheck(
        trial, snapshot, tuple(findings), uncited, article.passages.get(trial), results
    )
