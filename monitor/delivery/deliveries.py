"""Who gets which change, and whether they have it yet.

A change is addressed when it is first delivered: one dispatch row per target the routing of
each channel gives it (an e-mail address, a chat room). A delivery then claims unsent rows with
one conditional UPDATE (`WHERE delivery_id IS NULL`), checks that it got every row it meant to,
and only marks them sent once the channel's service accepted the letter; a failed send gives
them back. So two senders can never claim the same row, a crash loses nothing, and each target
gets each change once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, exists, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from monitor.core.errors import StoreError
from monitor.core.models import PendingChange
from monitor.core.routing import Keys, Router
from monitor.delivery.channel import Refusal
from monitor.delivery.holds import Holds, held
from monitor.store.rows import pending_from_row
from monitor.store.schema import DeliveryState, changes, deliveries, dispatches

log = logging.getLogger(__name__)

# A claim older than this belongs to a sender that died; its changes go out again. Far longer
# than a send can take (timeouts and retries included), so a live sender is never overtaken.
STALE_CLAIM = timedelta(minutes=30)
RETRIES = 5
# What else a change's trials are known by (merged ids, the searches that found them), asked of
# the sources inside the claim's transaction.
KeysOf = Callable[[Connection, Sequence[str]], Mapping[str, Keys]]


@dataclass(frozen=True)
class SentDigest:
    """What a sent digest was: its subject, Message-ID, and where it went."""

    subject: str
    message_id: str
    location: str


@dataclass(frozen=True)
class Audience:
    """One channel's targets, as its routing gives each change to them."""

    channel: str  # "email": the key of its rows
    transport: str  # how it sends ("smtp", "outbox"), for `status`
    router: Router


@dataclass(frozen=True)
class Sending:
    """Changes claimed by one delivery, for these targets of one channel."""

    delivery_id: int
    channel: str
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


class _Conflict(Exception):
    """Another process claimed some of the same rows first; claim again."""


@dataclass(frozen=True)
class _Round:
    """One claim's transaction, and what each delivery it opens records."""

    conn: Connection
    now: datetime
    cycle_id: int | None


class Deliveries(Holds):
    """The dispatch rows and their deliveries; the holds (holds.py) keep some back."""

    def __init__(self, engine: Engine, keys_of: KeysOf | None = None) -> None:
        super().__init__(engine)
        self.keys_of = keys_of

    def claim(
        self, audiences: Sequence[Audience], now: datetime, cycle_id: int | None
    ) -> list[Sending]:
        """Address new changes, then claim every unsent one: one Sending per channel and group
        of its targets who get the same changes (so one message each, To: all of them). First
        come the sets that senders which stopped had claimed, each sent again exactly as it
        was: the same changes to the same people, so the same Message-ID, which lets a
        receiving system drop the copy if the first one had reached it."""
        for _ in range(RETRIES):
            try:
                with _CLAIMING, self.engine.begin() as conn:
                    self._address(conn, audiences)
                    round_ = _Round(conn, now, cycle_id)
                    # What a dead sender claimed goes first, exactly as it was.
                    sendings = self._take_over(round_, audiences)
                    for audience in audiences:
                        sendings += self._claim(round_, audience)
                    _SENDING.update(s.delivery_id for s in sendings)
                return sendings
            except (_Conflict, IntegrityError):
                log.info("another process is delivering the same changes; claiming again")
        raise StoreError("another process kept claiming the same changes; try again later")

    def _address(self, conn: Connection, audiences: Sequence[Audience]) -> None:
        """Each new change's rows, on every channel at once: a change is addressed once, so a
        target added later gets what is found from then on, not the past."""
        unaddressed = conn.execute(
            select(changes.c.id, changes.c.nct_id, changes.c.pmid).where(
                ~exists().where(dispatches.c.change_id == changes.c.id), ~held()
            )
        ).all()
        if not unaddressed:
            return
        # A change about a paper alone (no trial) goes to everyone and the desks citing it.
        trials = sorted({row.nct_id for row in unaddressed if row.nct_id is not None})
        known = self.keys_of(conn, trials) if self.keys_of else {}
        rows = []
        for row in unaddressed:
            keys = known.get(row.nct_id, Keys(frozenset({row.nct_id}))) if row.nct_id else Keys()
            for audience in audiences:
                targets = audience.router.recipients(
                    keys.ids, keys.searches, (row.pmid,) if row.pmid else ()
                )
                rows += [
                    {"change_id": row.id, "channel": audience.channel, "target": target}
                    for target in targets
                ]
        if rows:
            conn.execute(insert(dispatches), rows)  # a duplicate key: another process addressed it

    def _claim(self, round_: _Round, audience: Audience) -> list[Sending]:
        rows = round_.conn.execute(
            select(dispatches.c.change_id, dispatches.c.target).where(
                dispatches.c.delivery_id.is_(None), dispatches.c.channel == audience.channel
            )
        ).all()
        wanted: dict[str, set[int]] = {}
        for row in rows:
            wanted.setdefault(row.target, set()).add(row.change_id)
        groups: dict[frozenset[int], list[str]] = {}
        order = {r: i for i, r in enumerate(audience.router.order)}
        for recipient in sorted(wanted, key=lambda r: (order.get(r, len(order)), r)):
            groups.setdefault(frozenset(wanted[recipient]), []).append(recipient)
        return [
            self._claim_group(round_, audience, sorted(ids), tuple(recipients))
            for ids, recipients in groups.items()
        ]

    def _claim_group(
        self, round_: _Round, audience: Audience, ids: list[int], recipients: tuple[str, ...]
    ) -> Sending:
        conn = round_.conn
        delivery_id = self._open_delivery(round_, audience, recipients)
        claimed = conn.execute(
            update(dispatches)
            .where(
                dispatches.c.delivery_id.is_(None),
                dispatches.c.change_id.in_(ids),
                dispatches.c.channel == audience.channel,
                dispatches.c.target.in_(recipients),
            )
            .values(delivery_id=delivery_id)
        )
        if claimed.rowcount != len(ids) * len(recipients):
            raise _Conflict(delivery_id)
        return Sending(delivery_id, audience.channel, recipients, self._changes(conn, ids))

    def _open_delivery(self, round_: _Round, audience: Audience, recipients: Sequence[str]) -> int:
        return int(
            round_.conn.execute(
                insert(deliveries)
                .values(
                    started_at=round_.now,
                    state=DeliveryState.SENDING.value,
                    channel=audience.channel,
                    transport=audience.transport,
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

    def _take_over(self, round_: _Round, audiences: Sequence[Audience]) -> list[Sending]:
        """The claims of senders that stopped (old ones, and at once those of a process on
        this host that no longer runs, or ran before this one, as PID 1 of a restarted
        container did), each moved whole to a new delivery of this process. A claim on a
        channel no longer configured waits for it."""
        conn, now = round_.conn, round_.now
        by_channel = {a.channel: a for a in audiences}
        sending = select(
            deliveries.c.id, deliveries.c.started_at, deliveries.c.claimed_by, deliveries.c.channel
        ).where(deliveries.c.state == DeliveryState.SENDING.value)
        stale = [
            (row.id, by_channel[row.channel])
            for row in conn.execute(sending)
            if row.channel in by_channel
            and (row.started_at < now - STALE_CLAIM or _gone(row.id, row.claimed_by))
        ]
        taken = []
        for old, audience in stale:
            ended = conn.execute(
                update(deliveries)
                .where(deliveries.c.id == old, deliveries.c.state == DeliveryState.SENDING.value)
                .values(state=DeliveryState.ABANDONED.value, finished_at=now)
            )
            if ended.rowcount != 1:
                raise _Conflict(old)  # another process took it over first
            rows = conn.execute(
                select(dispatches.c.change_id, dispatches.c.target).where(
                    dispatches.c.delivery_id == old
                )
            ).all()
            if not rows:
                continue
            order = {r: i for i, r in enumerate(audience.router.order)}
            recipients = tuple(
                sorted({r.target for r in rows}, key=lambda r: (order.get(r, len(order)), r))
            )
            new = self._open_delivery(round_, audience, recipients)
            conn.execute(
                update(dispatches).where(dispatches.c.delivery_id == old).values(delivery_id=new)
            )
            log.warning("sending again, as it was, the digest of abandoned delivery %d", old)
            ids = sorted({r.change_id for r in rows})
            taken.append(Sending(new, audience.channel, recipients, self._changes(conn, ids)))
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
                    dispatches.c.target == refusal.target
                )
                values = {"refused": str(refusal)} if refusal.permanent else {"delivery_id": None}
                conn.execute(update(dispatches).where(mine).values(values))

    def refused_recipients(self) -> dict[str, tuple[str, int]]:
        """Recipients the mail server refused for good: its latest answer, and how many
        changes they did not get."""
        query = (
            select(dispatches.c.target, dispatches.c.refused, dispatches.c.change_id)
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
            unaddressed = unaddressed & ~held()
        query = select(changes).where(waiting | unaddressed).order_by(changes.c.id)
        with self.engine.connect() as conn:
            return [pending_from_row(row) for row in conn.execute(query).mappings()]

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
