"""What the operator's commands show: `status`, `history` and `health`, read from the database.

Read-only queries and their plain-text layout for a terminal; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, RowMapping, select

from monitor.config import ScheduleConfig
from monitor.db import changes, cycles, deliveries, snapshots, trials
from monitor.deliveries import Deliveries
from monitor.journal import Journal
from monitor.rows import change_from_row, snapshot_from_row
from monitor.schedule import last_due, make_trigger
from monitor.store import Store
from monitor.words import change_words, snapshot_line


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str


def status_text(engine: Engine, cycle_count: int = 10) -> str:
    return "\n".join(
        [
            *_cycles_section(engine, cycle_count),
            "",
            *_trials_section(engine),
            "",
            *_unsent_section(engine),
            *_held_section(engine),
            *_refused_section(engine),
            *_bounced_section(engine),
        ]
    )


def history_text(engine: Engine, nct_id: str) -> str | None:
    """The stored snapshots and reported changes of one trial; None if it was never seen."""
    with engine.connect() as conn:
        rows = list(
            conn.execute(
                select(snapshots).where(snapshots.c.nct_id == nct_id).order_by(snapshots.c.id)
            ).mappings()
        )
        reported = list(
            conn.execute(
                select(changes).where(changes.c.nct_id == nct_id).order_by(changes.c.id)
            ).mappings()
        )
    sent = Deliveries(engine).sent()
    if not rows:
        return None
    title = next((r["title"] for r in reversed(rows) if r["title"]), "(no title)")
    lines = [f"{nct_id} — {title}", "", f"Snapshots ({len(rows)})"]
    for row in rows:
        lines.append(f"  {_when(row['observed_at'])}  {_trial_state(row)}")
    lines += ["", f"Reported changes ({len(reported)})"]
    for row in reported:
        when = sent.get(row["id"])
        state = f"sent {_when(when)}" if when else "not sent yet"
        words = change_words(change_from_row(row)).line
        lines.append(f"  {_when(row['detected_at'])}  {words}  [{state}]")
    if not reported:
        lines.append("  none")
    return "\n".join(lines)


def health(engine: Engine, schedule: ScheduleConfig, now: datetime) -> Health:
    """Healthy unless a scheduled cycle is overdue: none succeeded since the latest due time."""
    trigger = make_trigger(schedule, jitter=False)
    allowance = timedelta(seconds=schedule.jitter_seconds, minutes=schedule.health_grace_minutes)
    due = last_due(trigger, now, allowance)
    journal = Journal(engine)
    last_ok, started = journal.last_ok_started(), journal.first_service_start()
    if last_ok is not None and (due is None or last_ok >= due):
        return Health(True, f"ok: last successful cycle started {_when(last_ok)}")
    if due is None or (last_ok is None and (started is None or started > due)):
        return Health(True, "ok: no cycle has been due yet")
    since = f"since {_when(last_ok)}" if last_ok else "ever"
    return Health(False, f"unhealthy: no successful cycle {since}; one was due at {_when(due)}")


def _cycles_section(engine: Engine, count: int) -> list[str]:
    query = select(cycles).order_by(cycles.c.id.desc()).limit(count)
    with engine.connect() as conn:
        rows = list(conn.execute(query).mappings())
        sent = conn.execute(
            select(deliveries.c.cycle_id, deliveries.c.state, deliveries.c.transport).where(
                deliveries.c.cycle_id.in_([row["id"] for row in rows])
            )
        ).all()
    digests: dict[int, list[str]] = {}
    for cycle_id, state, transport in sent:
        digests.setdefault(cycle_id, []).append(f"{state} ({transport})")
    lines = [f"Last cycles ({len(rows)})"]
    if rows:
        lines.append(
            f"  {'#':>5}  {'started (UTC)':16}  {'took':>6}  {'requests':>8}  {'changes':>7}"
            "  delivered      outcome"
        )
    for row in rows:
        took = (
            f"{(row['finished_at'] - row['started_at']).total_seconds():.1f}s"
            if row["finished_at"]
            else "running"
        )
        delivered = ", ".join(digests.get(row["id"], [])) or "-"
        outcome = row["outcome"] or "running"
        if row["error"]:
            outcome += f": {row['error']}"
        lines.append(
            f"  {row['id']:>5}  {_when(row['started_at']):16}  {took:>6}  {row['requests']:>8}"
            f"  {row['changes_found']:>7}  {delivered:13}  {outcome}"
        )
    return lines


def _trials_section(engine: Engine) -> list[str]:
    query = (
        select(trials.c.nct_id, trials.c.origin, snapshots)
        .select_from(trials.outerjoin(snapshots, snapshots.c.id == trials.c.latest_snapshot_id))
        .order_by(trials.c.nct_id)
    )
    with engine.connect() as conn:
        rows = list(conn.execute(query).mappings())
    lines = [f"Watched trials ({len(rows)})"]
    for row in rows:
        lines.append(f"  {row['nct_id']}  {_trial_state(row)}  [{row['origin']}]")
    return lines


def _unsent_section(engine: Engine) -> list[str]:
    pending = Deliveries(engine).pending()
    lines = [f"Unsent changes ({len(pending)})"]
    for item in pending:
        change = item.change
        found = _when(item.detected_at)
        lines.append(f"  {change.nct_id}  {change_words(change).line}  (found {found})")
    return lines


def _held_section(engine: Engine) -> list[str]:
    waiting = Deliveries(engine).holds()
    if not waiting:
        return []
    lines = ["", f"Held for a look ({len(waiting)}): `trial-monitor preview`, then `release`"]
    for hold in waiting:
        when = _when(hold.held_at)
        lines.append(f"  cycle {hold.cycle_id} ({when}): {hold.changes} changes; {hold.reason}")
    return lines


def _refused_section(engine: Engine) -> list[str]:
    refused = Store(engine).refused_searches()
    if not refused:
        return []
    lines = [
        "",
        f"Saved searches the registry refuses ({len(refused)}): fix them in watch.searches",
    ]
    lines += [f"  “{name}”: {error}" for name, error in sorted(refused.items())]
    return lines


def _bounced_section(engine: Engine) -> list[str]:
    refused = Deliveries(engine).refused_recipients()
    if not refused:
        return []
    lines = ["", f"Recipients the mail server refused for good ({len(refused)}): fix the address"]
    for recipient, (answer, count) in sorted(refused.items()):
        lines.append(f"  {recipient}: {count} change(s) not delivered; last answer {answer}")
    return lines


def _trial_state(row: RowMapping) -> str:
    if row["found"] is None:
        return "not fetched yet"
    return snapshot_line(snapshot_from_row(row))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"
