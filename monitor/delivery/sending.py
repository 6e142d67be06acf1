"""Sending the digests: claim what is unsent, compose each group of recipients' digest, hand it
to the transport, and record what the mail server took.

Persist first, deliver second: a change is marked sent for a recipient only once the server
accepted that recipient; one it refused for now goes out with the next delivery, one it refused
for good is kept aside and named to the operators. A set of changes claimed by a sender that
died is sent again exactly as it was (same changes, same Message-ID) before anything newer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.core.articles import Evidence, check_article
from monitor.core.errors import DeliveryError
from monitor.core.importance import Ranking
from monitor.core.models import Digest, PendingChange, RenderedMessage
from monitor.core.routing import Router
from monitor.delivery.deliveries import OUTBOX, Deliveries, Sending, SentDigest
from monitor.delivery.email.transport import Sender, Transport, build_message
from monitor.editorial.render import (
    build_digest,
    make_environment,
    render_article_check,
    render_digest,
)
from monitor.settings.config import Config, list_header
from monitor.sources.ctgov.tables import Store
from monitor.sources.pubmed.tables import Library
from monitor.store.journal import Journal

if TYPE_CHECKING:
    from jinja2 import Environment

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Mailing:
    """Who digests are from and to; the transport decides how they travel."""

    transport: Transport
    sender: Sender
    router: Router


@dataclass(frozen=True)
class Outgoing:
    """What sending messages needs: the cycle's deps without the registry (see `release`)."""

    config: Config
    store: Store
    library: Library
    deliveries: Deliveries
    journal: Journal
    mailing: Mailing
    clock: Clock

    @property
    def templates(self) -> Environment:
        return make_environment()  # made once, when a message is first rendered


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)  # where each digest went
    failures: list[str] = field(default_factory=list)  # one line each; kept for the next cycle
    bounced: list[str] = field(default_factory=list)  # recipients refused for good, one line each


async def deliver_pending(
    out: Outgoing, cycle_id: int | None, data_timestamp: str | None, unread: str | None = None
) -> DeliveryReport:
    """One digest per group of recipients who get the same changes; a failed digest keeps its
    changes for the next cycle, the others go. `unread`: the source this cycle could not read
    ("PubMed"), named in the digest so its readers know what it may be missing."""
    mailing = out.mailing
    sendings = out.deliveries.claim(mailing.router, out.clock(), mailing.transport.name, cycle_id)
    report = DeliveryReport()
    for index, sending in enumerate(sendings):
        try:
            await _send(out, data_timestamp, sending, report, unread)
        except DeliveryError as exc:
            report.failures.append(str(exc))
            log.error("%s", exc)
        except BaseException:
            # Cancelled at shutdown, or a bug: the digests not yet sent go out next time.
            for unsent in sendings[index + 1 :]:
                out.deliveries.release(unsent.delivery_id, out.clock(), "not sent: interrupted")
            raise
    return report


def compose_digest(
    out: Outgoing,
    pending: Sequence[PendingChange],
    data_timestamp: str | None,
    unread: str | None = None,
) -> tuple[Digest, RenderedMessage]:
    """The digest of these changes and its words, as sent (and as `preview` shows it)."""
    config = out.config
    trials = {p.change.nct_id for p in pending if p.change.nct_id}
    evidence = Evidence(
        config.articles,
        out.store.latest([*trials, *config.cited_trials]),
        out.library.papers(p.change.pmid for p in pending if p.change.pmid),
    )
    digest = build_digest(
        pending,
        out.store.titles(trials),
        out.clock(),
        data_timestamp,
        Ranking(config.digest.importance),
        evidence,
    )
    rendered = render_digest(
        digest, config.digest.subject_prefix, out.templates, evidence, unread=unread
    )
    return digest, rendered


async def send_article_checks(
    out: Outgoing, keys: Collection[str], data_timestamp: str | None
) -> DeliveryReport:
    """The first look at each of these articles, to its editors (everyone who gets every
    change, and its desk): what it says beside what the registry says now. Recorded as given
    only once the mail server took it; until then each cycle tries again."""
    report = DeliveryReport()
    for article in (a for a in out.config.articles if a.key in keys):
        check = check_article(
            article, out.store.latest(article.trials), out.library.trial_papers(article.trials)
        )
        now = out.clock()
        rendered = render_article_check(
            check, out.config.digest.subject_prefix, out.templates, now, data_timestamp
        )
        everyone = [r for r in out.mailing.router.everyone if r != OUTBOX]
        recipients = tuple(dict.fromkeys([*everyone, *article.recipients]))
        message = build_message(
            rendered,
            out.mailing.sender.address,
            recipients,
            out.mailing.sender.message_id("article-check", article.key, *recipients),
            now,
            list_header(out.config.digest),
        )
        try:
            delivered = await out.mailing.transport.deliver(message)
        except DeliveryError as exc:
            report.failures.append(f"the article check of {article.name}: {exc}")
            log.error("the article check of %s: %s", article.name, exc)
            continue
        out.journal.article_checked(article.key, article.title, out.clock())
        report.delivered.append(delivered.where)
        log.info("article check of %s delivered: %s", article.name, delivered.where)
    return report


async def _send(
    out: Outgoing,
    data_timestamp: str | None,
    sending: Sending,
    report: DeliveryReport,
    unread: str | None,
) -> None:
    mailing = out.mailing
    recipients = tuple(r for r in sending.recipients if r != OUTBOX)
    try:
        digest, rendered = compose_digest(out, sending.pending, data_timestamp, unread)
        message_id = mailing.sender.digest_id(digest.change_ids, recipients)
        message = build_message(
            rendered,
            mailing.sender.address,
            recipients,
            message_id,
            digest.generated_at,
            list_header(out.config.digest),
            digest.change_ids,
        )
        delivered = await mailing.transport.deliver(message)
    except BaseException as exc:
        # Whatever stopped the send, the changes stay unsent and go out next time.
        out.deliveries.release(sending.delivery_id, out.clock(), str(exc) or type(exc).__name__)
        raise
    sent = SentDigest(rendered.subject, message_id, delivered.where)
    out.deliveries.mark_sent(sending.delivery_id, out.clock(), sent, delivered.refused)
    log.info("digest of %d changes delivered: %s", digest.change_count, delivered.where)
    report.delivered.append(delivered.where)
    for refusal in delivered.refused:
        if refusal.permanent:
            report.bounced.append(str(refusal))
            report.failures.append(f"the mail server refused {refusal} for good")
        else:
            report.failures.append(
                f"the mail server refused {refusal} for now; their copy goes out next cycle"
            )
