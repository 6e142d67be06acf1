"""Sending a cycle's letters: claim what is unsent on every channel, compose each group of
targets' digest, hand it to its channel, and record what the service took; and each new
article's first look (the article check).

Persist first, deliver second: a change is marked sent for a target only once the service
accepted that target; one it refused for now goes out with the next delivery, one it refused for
good is kept aside and named to the operators. A set of changes claimed by a sender that died is
sent again exactly as it was (same changes, same Message-ID) before anything newer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine

from monitor.core.articles import Article, Evidence
from monitor.core.counted import counted
from monitor.core.digest import Digest
from monitor.core.errors import DeliveryError
from monitor.core.importance import Ranking, Topics
from monitor.core.models import PendingChange
from monitor.core.standing import Finding, Standing, gathered, stand
from monitor.delivery.channel import Channel, CheckLetter, DigestLetter
from monitor.delivery.deliveries import Audience, Deliveries, Sending, SentDigest
from monitor.editorial.checkview import TRIALS_SHOWN
from monitor.editorial.digest import build_digest
from monitor.editorial.words import where_words
from monitor.settings.config import Config
from monitor.sources.base import Source, Wanted
from monitor.store.findings import Findings, Kept
from monitor.store.journal import Journal

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Outgoing:
    """What sending letters needs: the cycle's deps without the sources' clients (see
    `release`), each source for what it stored, each channel opened."""

    config: Config
    engine: Engine
    sources: tuple[Source, ...]
    channels: tuple[Channel, ...]
    deliveries: Deliveries
    journal: Journal
    clock: Clock

    @property
    def audiences(self) -> list[Audience]:
        return [Audience(c.name, c.transport, c.router) for c in self.channels]

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

    def evidence(self, wanted: Wanted) -> Evidence:
        """What the sources stored of these trials and papers, with the articles."""
        found = Evidence(self.config.articles)
        for source in self.sources:
            found = found.merged(source.stored(self.engine, self.config, wanted))
        return found


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)  # where each letter went
    # One line each, saying what became of what failed (kept for the next cycle, or dropped).
    failures: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)  # targets refused for good, one line each
    kept: bool = False  # a letter was written to a folder, not sent


async def deliver_pending(
    out: Outgoing, cycle_id: int | None, data_timestamp: str | None, unread: str | None = None
) -> DeliveryReport:
    """One digest per channel and group of targets who get the same changes; a failed digest
    keeps its changes for the next cycle, the others go. `unread`: the sources this cycle
    could not read ("PubMed"), named in the digest so its readers know what it may miss."""
    sendings = out.deliveries.claim(out.audiences, out.clock(), cycle_id)
    report = DeliveryReport()
    # The findings to say again after the news: chosen once, so that every digest of this
    # cycle carries its readers' share, and the articles marked once one of them has gone.
    due = Findings(out.engine).due(out.clock() - REMIND_AFTER) if sendings else {}
    reminded: set[str] = set()
    for index, sending in enumerate(sendings):
        try:
            reminded |= await _send(out, data_timestamp, sending, report, unread, due)
        except DeliveryError as exc:
            report.failures.append(f"{exc}; its changes are kept and sent next cycle")
            log.error("%s", exc)
        except BaseException:
            # Cancelled at shutdown, or a bug: the digests not yet sent go out next time.
            for unsent in sendings[index + 1 :]:
                out.deliveries.release(unsent.delivery_id, out.clock(), "not sent: interrupted")
            raise
    if reminded:
        Findings(out.engine).reminded(reminded, out.clock())
    return report


def compose_digest(
    out: Outgoing,
    pending: Sequence[PendingChange],
    data_timestamp: str | None,
    unread: str | None = None,
    reminders: Sequence[tuple[Standing, tuple[Finding, ...]]] = (),
) -> DigestLetter:
    """The digest of these changes, with what they are worded against, as sent (and as
    `preview` shows it); `reminders`, findings still open to say again after the news."""
    config = out.config
    trials = [p.change.nct_id for p in pending if p.change.nct_id]
    pmids = [p.change.pmid for p in pending if p.change.pmid]
    studied, records = _cited_words(out)
    evidence = replace(
        out.evidence(
            Wanted(list(dict.fromkeys(trials)), list(dict.fromkeys([*pmids, *config.cited_pmids])))
        ),
        studied=studied,
        records=records,
    )
    digest = build_digest(
        pending,
        evidence.titles,
        out.clock(),
        data_timestamp,
        Ranking(config.digest.importance),
        evidence,
    )
    verdicts = _verdicts(out, pending, evidence)
    return DigestLetter(digest, evidence, _where(out, digest), unread, verdicts, tuple(reminders))


def _cited_words(out: Outgoing) -> tuple[dict[str, Topics], dict[str, str]]:
    """Of every article's trials, what a digest's words need beside the records of its own
    changes (Evidence.studied, .records), read a slice at a time: a watch list of 100,000
    trials is one article, and a digest of ten changes does not hold all their records."""
    studied: dict[str, Topics] = {}
    records: dict[str, str] = {}
    for article in out.config.articles:
        topics = Topics(frozenset(), frozenset())
        for part in _trial_slices(article):
            latest = out.evidence(Wanted(part)).latest
            topics |= Topics.of(s for s in latest.values() if s.found)
            records.update((cited, s.nct_id) for cited, s in latest.items() if s.nct_id != cited)
        studied[article.key] = topics
    return studied, records


def _verdicts(
    out: Outgoing, pending: Sequence[PendingChange], evidence: Evidence
) -> tuple[tuple[Standing, tuple[Finding, ...]], ...]:
    """Each article these changes concern, with the findings that stand since the oldest of
    them: what is newly wrong with it, which the digest says first."""
    if not pending:
        return ()
    since = min(p.detected_at for p in pending)
    concerned = [a for a in out.config.articles if _concerns(a, pending, evidence)]
    found = []
    for article in concerned:
        # The findings first seen since then, stood again for the trials they are about only.
        kept = Findings(out.engine).since(article.id, since)
        if not kept:
            continue
        ids = {k.id for k in kept}
        about = {k.subject for k in kept} & set(article.trials)
        papers = cited_papers(article)
        standing = stand(article, out.evidence(Wanted(list(about), papers)), only=about)
        new = tuple(f for f in standing.findings if f.id in ids)
        if new:
            found.append((standing, new))
    return tuple(found)


def _reminders(
    out: Outgoing, due: Mapping[str, Sequence[Kept]], channel: Channel, targets: Sequence[str]
) -> tuple[tuple[Standing, tuple[Finding, ...]], ...]:
    """Of the findings due to be said again (Findings.due), those of the articles these targets
    follow (each article's desk, or everything), worded against the evidence now."""
    found = []
    for article in out.config.articles:
        kept = due.get(article.id)
        if not kept or not set(channel.desk(article)) & set(targets):
            continue
        about = {k.subject for k in kept} & set(article.trials)
        evidence = out.evidence(Wanted(list(about), cited_papers(article)))
        ids = {k.id for k in kept}
        still = tuple(f for f in stand(article, evidence, only=about).findings if f.id in ids)
        if still:
            found.append((Standing(article, still, ()), still))
    return tuple(found)


def _concerns(article: Article, pending: Sequence[PendingChange], evidence: Evidence) -> bool:
    cited = {evidence.record_of(t) for t in article.trials}
    papers = {*article.pmids, *(p for ps in article.papers.values() for p in ps)}
    return any(
        (p.change.nct_id in cited) or (p.change.nct_id is None and p.change.pmid in papers)
        for p in pending
    )


def _where(out: Outgoing, digest: Digest) -> str:
    """Where the digest's changes were found, in the sources' own words, in their order."""
    found = {c.source for t in digest.trials for c in t.changes}
    return where_words([s.where for s in out.sources if s.name in found])


async def send_article_checks(
    out: Outgoing, keys: Collection[str], data_timestamp: str | None
) -> DeliveryReport:
    """The first look at each of these articles, to its editors on every channel (everyone
    who gets every change, and its desk): what it says beside what the sources say now.
    Recorded as given only once every channel took it; until then each cycle tries again."""
    report = DeliveryReport()
    for article in (a for a in out.config.articles if a.key in keys):
        letter = CheckLetter(_check_standing(out, article), out.clock(), data_timestamp)
        failed = False
        for channel in out.channels:
            try:
                accepted = await channel.send(letter, channel.desk(article))
            except DeliveryError as exc:
                report.failures.append(
                    f"the article check of {article.name}: {exc}; it is sent next cycle"
                )
                log.error("the article check of %s: %s", article.name, exc)
                failed = True
                continue
            report.delivered.append(accepted.where)
            report.kept |= accepted.kept
            log.info("article check of %s delivered: %s", article.name, accepted.where)
        if not failed:
            out.journal.article_checked(article.key, article.title, out.clock())
    return report


def cited_papers(article: Article) -> list[str]:
    """The papers an article cites: its `pmids` and each trial's `publications`."""
    return list(dict.fromkeys([*article.pmids, *(p for ps in article.papers.values() for p in ps)]))


# A finding still open this long after it was first seen is said again after a digest's news,
# at most once in this time per article, and only in a digest that goes anyway.
REMIND_AFTER = timedelta(days=7)

# How many of an article's trials are stood at once: a watch list of 100,000 in one
# `watch.trials` is one article, and its evidence is read and let go a slice at a time.
STAND_SLICE = 2000


def _trial_slices(article: Article) -> list[list[str]]:
    """The article's trials, STAND_SLICE at a time."""
    trials = list(article.trials)
    return [trials[start : start + STAND_SLICE] for start in range(0, len(trials), STAND_SLICE)]


def _slices(out: Outgoing, article: Article) -> Iterator[Standing]:
    """The article's standing, a slice of its trials at a time (an article citing papers
    alone is stood once, for its papers' findings)."""
    papers = cited_papers(article)
    for part in _trial_slices(article) or [[]]:
        yield stand(article, out.evidence(Wanted(part, papers)), only=set(part))


def _check_standing(out: Outgoing, article: Article) -> Standing:
    """What an article check says, stood in slices: it shows TRIALS_SHOWN trials, so it keeps
    those (and the ones with claims judged) and counts the rest."""
    return gathered(article, _slices(out, article), TRIALS_SHOWN)


def stand_articles(out: Outgoing, cycle_id: int) -> dict[str, list[Finding]]:
    """Each article's standing on what the sources stored, kept (store/findings.py): the
    findings new this cycle, by article id."""
    articles = out.config.articles
    if not articles:
        return {}
    standing: list[Finding] = []
    for article in articles:
        for part in _slices(out, article):
            standing.extend(part.findings)
    new = Findings(out.engine).keep([a.id for a in articles], standing, out.clock(), cycle_id)
    found: dict[str, list[Finding]] = {}
    for finding in new:
        found.setdefault(finding.article, []).append(finding)
    return found


async def _send(
    out: Outgoing,
    data_timestamp: str | None,
    sending: Sending,
    report: DeliveryReport,
    unread: str | None,
    due: Mapping[str, Sequence[Kept]],
) -> set[str]:
    """Send one digest; returns the articles whose still-open findings it said again."""
    try:
        channel = out.channel(sending.channel)
        if channel is None:  # claimed only for the channels configured: see Deliveries.claim
            raise DeliveryError(f"no channel {sending.channel!r} is configured")
        reminders = _reminders(out, due, channel, sending.recipients)
        letter = compose_digest(out, sending.pending, data_timestamp, unread, reminders)
        accepted = await channel.send(letter, sending.recipients)
    except BaseException as exc:
        # Whatever stopped the send, the changes stay unsent and go out next time.
        out.deliveries.release(sending.delivery_id, out.clock(), str(exc) or type(exc).__name__)
        raise
    sent = SentDigest(accepted.subject, accepted.message_id, accepted.where)
    out.deliveries.mark_sent(sending.delivery_id, out.clock(), sent, accepted.refused)
    count = letter.digest.change_count
    log.info("digest of %s delivered: %s", counted(count, "change"), accepted.where)
    report.delivered.append(accepted.where)
    report.kept |= accepted.kept
    for refusal in accepted.refused:
        if refusal.permanent:
            report.bounced.append(str(refusal))
            # Said as it is: this recipient's copy is dropped (docs/guarantees.md), the rest
            # went; nothing of it is kept for the next cycle.
            report.failures.append(
                f"the mail server refused {refusal} for good: {refusal.target} does not get"
                " this digest (the other recipients did); fix or remove the address"
            )
        else:
            report.failures.append(
                f"the mail server refused {refusal} for now; their copy goes out next cycle"
            )
    return {standing.article.id for standing, _ in reminders}
