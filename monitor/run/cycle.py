"""One monitoring cycle: each source reads what changed (normalized, diffed and stored as it
comes), then each article's standing is kept (its findings), the sanity gate, each new article's
first look, and the digests (sending.py).

The only module that knows the order of the stages, and it names no source and no channel: it
loops over those the composition root opened. Every observation is stored, with the changes it
reveals, before anything is sent; delivery then sends whatever is unsent, this cycle's changes
and any an earlier cycle could not deliver. Each source succeeds or fails on its own: a required
one's failure fails the cycle (its news so far still goes out); another's leaves the cycle done
but not ok (Outcome.SOURCE_UNREAD: `check` exits 4, and health, the ping and the operators'
notices count it as they count a failure).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from monitor.core.errors import SourceError
from monitor.core.models import Outcome
from monitor.delivery.sending import (
    DeliveryReport,
    Outgoing,
    deliver_pending,
    send_article_checks,
    stand_articles,
)
from monitor.sources.base import Reader, Source, Tally, Turn
from monitor.store.journal import CycleFigures

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleDeps(Outgoing):
    # Each source that is on, with its reader opened for this cycle, in the order registered.
    readers: tuple[tuple[Source, Reader], ...] = ()


@dataclass(frozen=True)
class CycleResult:
    cycle_id: int
    outcome: Outcome
    figures: CycleFigures
    delivered_to: tuple[str, ...] = ()
    error: str | None = None  # what failed: the required source, the sending
    held: str | None = None  # why the sanity gate held this cycle's digest
    refused_searches: tuple[str, ...] = ()  # saved searches a source refused, one line each
    newly_refused: tuple[str, ...] = ()  # of those, the ones it answered last time
    stale: str | None = None  # why nothing was read: a source's data went backwards
    bounced: tuple[str, ...] = ()  # targets a service refused for good, one line each
    article_checks: tuple[str, ...] = ()  # where each article check (a first look) went
    kept: bool = False  # a letter was written to a folder (the outbox), not sent
    # The sources that are not required and could not be read: "PubMed could not be read: …".
    unread: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Everything was read and sent: what the ping and the operators' notices go by."""
        return self.outcome is Outcome.OK

    @property
    def trouble(self) -> str | None:
        """What went wrong, failures and unread sources alike, in one line (for operators)."""
        return "; ".join([*([self.error] if self.error else []), *self.unread]) or None


async def run_cycle(deps: CycleDeps) -> CycleResult:
    cycle_id = deps.journal.start_cycle(deps.clock())
    try:
        return await _run(deps, cycle_id)
    except BaseException as exc:
        # Cancelled at shutdown, or a bug: the cycle row still gets its end. Every page already
        # written is whole, and an unfinished delivery has given its changes back.
        deps.journal.finish_cycle(
            cycle_id,
            deps.clock(),
            Outcome.INTERRUPTED,
            CycleFigures(),
            f"{type(exc).__name__}: {exc}",
        )
        raise


@dataclass
class _Read:
    """What the sources' readings came to."""

    tallies: list[Tally]
    failed: list[str]  # the required sources' failures, one line each
    unread: list[tuple[Source, str]]  # the others that could not be read, and why


async def _run(deps: CycleDeps, cycle_id: int) -> CycleResult:
    # Articles new to the config: their claims are judged silently, their first look says it.
    first_look = deps.journal.unchecked_articles([a.key for a in deps.config.articles])
    read = await _read_sources(deps, cycle_id, first_look)
    tallies = read.tallies
    stamp = next((t.data_timestamp for t in tallies if t.data_timestamp), None)
    held = next((t.hold for t in tallies if t.hold), None)
    stale = next((t.stale for t in tallies if t.stale), None)
    # What is wrong with each article now, from what the sources stored: the first looks and
    # the digests' verdicts say it. Not when a required source was not read: a first cycle
    # that never reached the registry would make every cited record look gone. Nor when no
    # source read anything: nothing it stands on moved (a long watch list's quiet day stays
    # one request).
    moved = bool(first_look) or any(t.records or t.changes for t in tallies)
    if not read.failed and stale is None and moved:
        stand_articles(deps, cycle_id)
    if held is not None:
        deps.deliveries.hold(cycle_id, held, deps.clock())
        log.error("digest held for an operator (trial-monitor release): %s", held)
    checks = DeliveryReport()
    # An article's first look is given once, so it waits for every source: without PubMed it
    # would miss the results papers and the notices, and never say them.
    if not read.failed and not read.unread and stale is None:
        checks = await send_article_checks(deps, first_look, stamp)
    # The digest names the sources; the reasons are the operators' (the log, `status`).
    unread = " and ".join(s.label for s, _ in read.unread) or None
    sent = await deliver_pending(deps, cycle_id, stamp, unread)
    sent.failures[:0] = checks.failures
    outcome = Outcome.OK
    if read.failed:
        outcome = Outcome.REGISTRY_FAILED
    elif sent.failures:
        outcome = Outcome.DELIVERY_FAILED
    elif read.unread:
        # Done, the registry's news sent; but what watches the exit code, `health`, the ping
        # and the operators must learn that a source went unread.
        outcome = Outcome.SOURCE_UNREAD
    unread_lines = tuple(f"{s.label} could not be read: {why}" for s, why in read.unread)
    error = "; ".join([*read.failed, *sent.failures]) or None
    figures = _figures(deps, tallies, stamp)
    result = CycleResult(
        cycle_id,
        outcome,
        figures,
        tuple(sent.delivered),
        error,
        held,
        tuple(line for t in tallies for line in t.refused),
        tuple(line for t in tallies for line in t.newly_refused),
        stale,
        tuple(sent.bounced),
        tuple(checks.delivered),
        sent.kept or checks.kept,
        unread_lines,
    )
    names = [s.name for s, _ in read.unread]
    deps.journal.finish_cycle(cycle_id, deps.clock(), outcome, figures, result.trouble, names)
    return result


async def _read_sources(deps: CycleDeps, cycle_id: int, first_look: set[str]) -> _Read:
    """Each source in turn, on its own: what one stored before failing stands, and the next
    one reads all the same."""
    read = _Read([], [], [])
    for source, reader in deps.readers:
        turn = Turn(deps.engine, deps.journal, deps.config, deps.clock, cycle_id, first_look)
        read.tallies.append(turn.tally)
        try:
            await reader.read(turn)
        except SourceError as exc:
            log.error("%s", exc)
            if source.required:
                read.failed.append(f"{exc}; what was read before it is kept, and sent")
            else:
                read.unread.append((source, str(exc)))
    return read


def _figures(deps: CycleDeps, tallies: list[Tally], stamp: str | None) -> CycleFigures:
    """The cycle's figures, summed over the sources; how it read, as the first to say."""
    return CycleFigures(
        requests=sum(reader.stats.requests for _, reader in deps.readers),
        bytes_received=sum(reader.stats.bytes_received for _, reader in deps.readers),
        trials_checked=sum(t.records for t in tallies),
        changes_found=sum(t.changes for t in tallies),
        records_rejected=sum(t.rejected for t in tallies),
        mode=next((t.mode for t in tallies if t.mode), None),
        data_timestamp=stamp,
    )
