"""The articles the monitor serves, and the evidence each is weighed against. Pure.

An article cites trials and papers and says things about each trial (its claims, what it says
the trial found). The monitor reports a change once per recipient and names every article it
affects; an article's desk gets the changes of the trials it cites. What is wrong with an
article now, its standing, is standing.py's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from monitor.core.claims import Claim
from monitor.core.importance import Topics
from monitor.core.models import Paper, Snapshot


class StatedOutcome(StrEnum):
    """What an article says a cited trial found (`outcome` of `[[articles.claims]]`): shown
    beside the results paper's conclusion, never judged by the monitor, but "not stated" beside
    a published result is something to re-check. The values are the config's words."""

    BENEFIT = "benefit"
    NO_BENEFIT = "no benefit"
    HARM = "harm"
    MIXED = "mixed"
    NOT_STATED = "not stated"


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
    passages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # trial → the PMIDs the article cites as that trial's papers (besides `pmids`)
    papers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    recipients: tuple[str, ...] = ()  # its desk; everyone on email.recipients gets it anyway
    # Its short id, for `findings --article` and its findings' ids: `id` in [[articles]], else
    # the last segment of its url's path, else a slug of its title; "default" for the unnamed.
    id: str = "default"
    # trial → what the article says it found
    outcomes: Mapping[str, StatedOutcome] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.title or "the article"

    def stated(self, trial: str) -> StatedOutcome:
        return self.outcomes.get(trial, StatedOutcome.NOT_STATED)

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
    # Of every article's trials, only what a digest's words need, when their records are not
    # all at hand (a watch list of 100,000 is gathered a slice at a time: sending.py): what
    # each article's trials study, by article key, and the record each cited id is listed
    # under where the two differ.
    studied: Mapping[str, Topics] | None = None
    records: Mapping[str, str] = field(default_factory=dict)

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
        return snapshot.nct_id if snapshot is not None else self.records.get(cited, cited)

    def article(self, key: str) -> Article | None:
        return next((a for a in self.articles if a.key == key), None)

    def topics(self) -> Mapping[str, Topics]:
        """What each article's trials study, by article key."""
        if self.studied is not None:
            return self.studied
        return {
            article.key: Topics.of(
                s for t in article.trials if (s := self.latest.get(t)) is not None and s.found
            )
            for article in self.articles
        }
