"""Who gets which change, and whether they have it yet.

A change is addressed when it is first delivered: one dispatch row per recipient the routing
gives it. A delivery then claims unsent rows with one conditional UPDATE
(`WHERE delivery_id IS NULL`), checks that it got every row it meant to, and only marks them
sent once the mail server accepted the message; a failed send gives them back. So two senders
can never claim the same row, a crash loses nothing, and each desk gets each change once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, Engine, exists, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from monitor.core.errors import StoreError
from monitor.core.models import PendingChange
from monitor.core.routing import Router
from monitor.delivery.email.transport import Refusal
from monitor.store.db import changes, deliveries, dispatches, holds, search_hits
from monitor.store.db import trials as trials_table
from monitor.store.rows import pending_from_row

log = logging.getLogger(__name__)

# A claim older than this belongs to a sender that died; its changes go out again. Far longer
# than a send can take (timeouts and retries included), so a live sender is never overtaken.
STALE_CLAIM = timedelta(minutes=30)
RETRIES = 5
OUTBOX = ""  # the one recipient of digests written to the outbox without an [email] section


class DeliveryState(StrEnum):
    """Where one digest's send stands. Stored in `deliveries.state`."""

    SENDING = "sending"  # claimed; the message is on its way
    SENT = "sent"  # the mail server accepted it (or it is in the outbox)
    FAILED = "failed"  # refused or unreachable: its changes were given back
    ABANDONED = "abandoned"  # its sender died: its changes were given back


@dataclass(frozen=True)
class SentDigest:
    """What a sent digest was: its subject, Message-ID, and where it went."""

    subject: str
    message_id: str
    location: str


@dataclass(frozen=True)
class Sending:
    """Changes claimed by one delivery, for these recipients."""

    delivery_id: int
    recipients: tuple[str, ...]
    pending: tuple[PendingChange, ...]


CLAIMER = f"{socket.gethostname()}:{os.getpid()}"
# The deliveries this process is sending now; any other claim in its name is from before it
# started (PID 1 of a restarted container has the same pid as its predecessor).
_SENDING: set[int] = set()
_CLAIMING = threading.Lock()  # so that one thread never takes another's claim for abandoned


def _gone(delivery_id: int, claimed_by: str | None) -> bool:
    """Whether the process that made a claim is known to have stopped."""
    host, _, pid = (claimed_by or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's process: only the age tells
    if int(pid) == os.getpid():
        return delivery_id not in _SENDING
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


@dataclass(frozen=True)
class Hold:
    cycle_id: int
    reason: str
    held_at: datetime
    changes: int


def _held() -> ColumnElement[bool]:
    """A change of a cycle whose hold is not released, or whose changes were discarded."""
    return exists().where(
        holds.c.cycle_id == changes.c.cycle_id,
        holds.c.released_at.is_(None) | holds.c.discarded,
    )


class _Conflict(Exception):
    """Another process claimed some of the same rows first; claim again."""


@dataclass(frozen=True)
class _Round:
    """One claim's transaction, and what each delivery it opens records."""

    conn: Connection
    now: datetime
    transport: str
    cycle_id: int | None


class Deliveries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(
        self, router: Router, now: datetime, transport: str, cycle_id: int | None
    ) -> list[Sending]:
        """Address new changes, then claim every unsent one: one Sending per group of
        recipients who get the same changes (so one message each, To: all of them). First come
        the sets that senders which stopped had claimed, each sent again exactly as it was: the
        same changes to the same people, so the same Message-ID, which lets a receiving system
        drop the copy if the first one had reached it."""
        for _ in range(RETRIES):
            try:
                with _CLAIMING, self.engine.begin() as conn:
                    self._address(conn, router)
                    round_ = _Round(conn, now, transport, cycle_id)
                    # What a dead sender claimed goes first, exactly as it was.
                    sendings = self._take_over(round_, router) + self._claim(round_, router)
                    _SENDING.update(s.delivery_id for s in sendings)
                return sendings
            except (_Conflict, IntegrityError):
                log.info("another process is delivering the same changes; claiming again")
        raise StoreError("another process kept claiming the same changes; try again later")

    def _address(self, conn: Connection, router: Router) -> None:
        unaddressed = conn.execute(
            select(changes.c.id, changes.c.nct_id, changes.c.pmid).where(
                ~exists().where(dispatches.c.change_id == changes.c.id), ~_held()
            )
        ).all()
        if not unaddressed:
            return
        # A change about a paper alone (no trial) goes to everyone and the desks citing it.
        trials = sorted({row.nct_id for row in unaddressed if row.nct_id is not None})
        found_by: dict[str, set[str]] = {}
        for hit in conn.execute(select(search_hits).where(search_hits.c.nct_id.in_(trials))):
            found_by.setdefault(hit.nct_id, set()).add(hit.term)
        # A desk that named a registration merged into this record wants the record's news.
        known_as: dict[str, set[str]] = {nct_id: {nct_id} for nct_id in trials}
        merged = select(trials_table.c.nct_id, trials_table.c.listed_under).where(
            trials_table.c.listed_under.in_(trials)
        )
        for alias, canonical in conn.execute(merged):
            known_as[canonical].add(alias)
        rows = [
            {"change_id": row.id, "recipient": recipient}
            for row in unaddressed
            for recipient in router.recipients(
                known_as.get(row.nct_id, set()),
                found_by.get(row.nct_id, set()),
                (row.pmid,) if row.pmid else (),
            )
        ]
        conn.execute(insert(dispatches), rows)  # a duplicate key: another process addressed it

    def _claim(self, round_: _Round, router: Router) -> list[Sending]:
        rows = round_.conn.execute(
            select(dispatches.c.change_id, dispatches.c.recipient).where(
                dispatches.c.delivery_id.is_(None)
            )
        ).all()
        wanted: dict[str, set[int]] = {}
        for row in rows:
            wanted.setdefault(row.recipient, set()).add(row.change_id)
        groups: dict[frozenset[int], list[str]] = {}
        order = {r: i for i, r in enumerate(router.order)}
        for recipient in sorted(wanted, key=lambda r: (order.get(r, len(order)), r)):
            groups.setdefault(frozenset(wanted[recipient]), []).append(recipient)
        return [
            self._claim_group(round_, sorted(ids), tuple(recipients))
            for ids, recipients in groups.items()
        ]

    def _claim_group(self, round_: _Round, ids: list[int], recipients: tuple[str, ...]) -> Sending:
        conn = round_.conn
        delivery_id = self._open_delivery(round_, recipients)
        claimed = conn.execute(
            update(dispatches)
            .where(
                dispatches.c.delivery_id.is_(None),
                dispatches.c.change_id.in_(ids),
                dispatches.c.recipient.in_(recipients),
            )
            .values(delivery_id=delivery_id)
        )
        if claimed.rowcount != len(ids) * len(recipients):
            raise _Conflict(delivery_id)
        return Sending(delivery_id, recipients, self._changes(conn, ids))

    def _open_delivery(self, round_: _Round, recipients: Sequence[str]) -> int:
        return int(
            round_.conn.execute(
                insert(deliveries)
                .values(
                    started_at=round_.now,
                    state=DeliveryState.SENDING.value,
                    transport=round_.transport,
                    cycle_id=round_.cycle_id,
                    recipients=", ".join(r or "(outbox)" for r in recipients),
                    claimed_by=CLAIMER,
                )
                .returning(deliveries.c.id)
            ).scalar_one()
        )

    def _changes(self, conn: Connection, ids: Sequence[int]) -> tuple[PendingChange, ...]:
        found = conn.execute(select(changes).where(changes.c.id.in_(ids)).order_by(changes.c.id))
        return tuple(pending_from_row(row) for row in found.mappings())

    def _take_over(self, round_: _Round, router: Router) -> list[Sending]:
        """The claims of senders that stopped (old ones, and at once those of a process on
        this host that no longer runs, or ran before this one, as PID 1 of a restarted
        container did), each moved whole to a new delivery of this process."""
        conn, now = round_.conn, round_.now
        sending = select(deliveries.c.id, deliveries.c.started_at, deliveries.c.claimed_by).where(
            deliveries.c.state == DeliveryState.SENDING.value
        )
        stale = [
            row.id
            for row in conn.execute(sending)
            if row.started_at < now - STALE_CLAIM or _gone(row.id, row.claimed_by)
        ]
        order = {r: i for i, r in enumerate(router.order)}
        taken = []
        for old in stale:
            ended = conn.execute(
                update(deliveries)
                .where(deliveries.c.id == old, deliveries.c.state == DeliveryState.SENDING.value)
                .values(state=DeliveryState.ABANDONED.value, finished_at=now)
            )
            if ended.rowcount != 1:
                raise _Conflict(old)  # another process took it over first
            rows = conn.execute(
                select(dispatches.c.change_id, dispatches.c.recipient).where(
                    dispatches.c.delivery_id == old
                )
            ).all()
            if not rows:
                continue
            recipients = tuple(
                sorted({r.recipient for r in rows}, key=lambda r: (order.get(r, len(order)), r))
            )
            new = self._open_delivery(round_, recipients)
            conn.execute(
                update(dispatches).where(dispatches.c.delivery_id == old).values(delivery_id=new)
            )
            log.warning("sending again, as it was, the digest of abandoned delivery %d", old)
            ids = sorted({r.change_id for r in rows})
            taken.append(Sending(new, recipients, self._changes(conn, ids)))
        return taken

    def _give_back(self, conn: Connection, delivery_ids: Sequence[int]) -> None:
        conn.execute(
            update(dispatches)
            .where(dispatches.c.delivery_id.in_(delivery_ids))
            .values(delivery_id=None)
        )

    def mark_sent(
        self,
        delivery_id: int,
        now: datetime,
        sent: SentDigest,
        refused: Sequence[Refusal] = (),
    ) -> None:
        """The server took the message. A recipient it refused for now gets their copy back
        for the next delivery; one it refused for good keeps the refusal, for the operators."""
        _SENDING.discard(delivery_id)
        with self.engine.begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(
                    state=DeliveryState.SENT.value,
                    finished_at=now,
                    subject=sent.subject,
                    message_id=sent.message_id,
                    location=sent.location,
                )
            )
            for refusal in refused:
                mine = (dispatches.c.delivery_id == delivery_id) & (
                    dispatches.c.recipient == refusal.recipient
                )
                values = {"refused": str(refusal)} if refusal.permanent else {"delivery_id": None}
                conn.execute(update(dispatches).where(mine).values(values))

    def refused_recipients(self) -> dict[str, tuple[str, int]]:
        """Recipients the mail server refused for good: its latest answer, and how many
        changes they did not get."""
        query = (
            select(dispatches.c.recipient, dispatches.c.refused, dispatches.c.change_id)
            .where(dispatches.c.refused.is_not(None))
            .order_by(dispatches.c.change_id)
        )
        found: dict[str, tuple[str, int]] = {}
        with self.engine.connect() as conn:
            for recipient, answer, _ in conn.execute(query):
                found[recipient] = (answer, found.get(recipient, ("", 0))[1] + 1)
        return found

    def release(self, delivery_id: int, now: datetime, error: str) -> None:
        """The send failed: its changes wait for the next delivery."""
        _SENDING.discard(delivery_id)
        with self.engine.begin() as conn:
            self._give_back(conn, [delivery_id])
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(state=DeliveryState.FAILED.value, finished_at=now, error=error)
            )

    def pending(self, include_held: bool = False) -> list[PendingChange]:
        """Changes some recipient still waits for, not claimed by a send in flight, and (unless
        asked) not held by the sanity gate."""
        waiting = exists().where(
            dispatches.c.change_id == changes.c.id, dispatches.c.delivery_id.is_(None)
        )
        unaddressed = ~exists().where(dispatches.c.change_id == changes.c.id)
        if not include_held:
            unaddressed = unaddressed & ~_held()
        query = select(changes).where(waiting | unaddressed).order_by(changes.c.id)
        with self.engine.connect() as conn:
            return [pending_from_row(row) for row in conn.execute(query).mappings()]

    # -- the sanity gate's holds ------------------------------------------------------------

    def hold(self, cycle_id: int, reason: str, now: datetime) -> None:
        """Keep this cycle's changes from the content digest until an operator releases them."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(holds).values(cycle_id=cycle_id, reason=reason, held_at=now, discarded=False)
            )

    def holds(self) -> list[Hold]:
        """The holds waiting for an operator, with how many changes each keeps back."""
        count = (
            select(func.count())
            .select_from(changes)
            .where(changes.c.cycle_id == holds.c.cycle_id)
            .scalar_subquery()
        )
        query = (
            select(holds.c.cycle_id, holds.c.reason, holds.c.held_at, count.label("changes"))
            .where(holds.c.released_at.is_(None))
            .order_by(holds.c.cycle_id)
        )
        with self.engine.connect() as conn:
            return [Hold(*row) for row in conn.execute(query)]

    def release_holds(self, now: datetime, discard: bool) -> list[Hold]:
        """Let the held changes go out with the next delivery, or (discard) never."""
        waiting = self.holds()
        with self.engine.begin() as conn:
            conn.execute(
                update(holds)
                .where(holds.c.released_at.is_(None))
                .values(released_at=now, discarded=discard)
            )
        return waiting

    def sent(self) -> dict[int, datetime | None]:
        """For each addressed change: when the last of its recipients got it, or None while
        one still waits."""
        query = select(
            dispatches.c.change_id, deliveries.c.state, deliveries.c.finished_at
        ).select_from(dispatches.outerjoin(deliveries))
        last: dict[int, datetime | None] = {}
        waiting: set[int] = set()
        with self.engine.connect() as conn:
            for change_id, state, finished in conn.execute(query):
                # A recipient not yet served (no delivery, or one that failed) has no time.
                if state != DeliveryState.SENT.value or finished is None:
                    waiting.add(change_id)
                    last.setdefault(change_id, None)
                    continue
                previous = last.get(change_id)
                last[change_id] = finished if previous is None else max(previous, finished)
        return {i: None if i in waiting else when for i, when in last.items()}
