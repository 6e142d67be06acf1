"""What the operator's commands show: `status` and `health`, read from the database; each source
adds its own part of `status` (and answers `history` for its records).

Read-only queries and their plain-text layout for a terminal; nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from monitor.core.counted import counted
from monitor.delivery.deliveries import Deliveries
from monitor.editorial.words import change_words, short_moment
from monitor.settings.config import Config
from monitor.settings.schedule import last_due, make_trigger
from monitor.sources.base import Source
from monitor.store.journal import Journal
from monitor.store.schema import cycles, deliveries


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str


def status_text(
    engine: Engine, config: Config, sources: Sequence[Source], cycle_count: int = 10
) -> str:
    reports = [source.report(engine, config) for source in sources]
    return "\n".join(
        [
            *_cycles_section(engine, cycle_count),
            *_unread_section(engine, sources),
            "",
            *(line for report in reports for line in report.lines),
            *_unsent_section(engine),
            *_held_section(engine),
            *(line for report in reports for line in report.warnings),
            *_bounced_section(engine),
        ]
    )


def status_json(
    engine: Engine, config: Config, sources: Sequence[Source], cycle_count: int = 10
) -> str:
    """What `status` shows, for scripts: one JSON object, its keys documented in
    docs/operating.md."""
    deliveries_ = Deliveries(engine)
    parts: dict[str, object] = {}
    for source in sources:
        parts.update(source.report(engine, config).json)
    report = {
        "cycles": [asdict(row) for row in _cycle_rows(engine, cycle_count)],
        "trials": parts.pop("trials", []),
        "unsent": [
            {
                "nct_id": p.change.nct_id,
                "pmid": p.change.pmid,
                "kind": p.change.kind.value,
                "before": p.change.before,
                "after": p.change.after,
                "detail": p.change.detail,
                "words": change_words(p.change).line,
                "detected_at": p.detected_at.isoformat(),
            }
            for p in deliveries_.pending()
        ],
        "held": [{**asdict(h), "held_at": h.held_at.isoformat()} for h in deliveries_.holds()],
        **parts,
        "refused_recipients": {
            r: {"answer": answer, "changes": count}
            for r, (answer, count) in deliveries_.refused_recipients().items()
        },
    }
    return json.dumps(report, indent=2, ensure_ascii=False, default=_iso)


def health(engine: Engine, config: Config, sources: Sequence[Source], now: datetime) -> Health:
    """Healthy unless a scheduled cycle is overdue (none did its job since the latest due
    time), or a source has gone unread for alerts.after_consecutive_failures cycles in a row."""
    schedule = config.schedule
    trigger = make_trigger(schedule, jitter=False)
    allowance = timedelta(seconds=schedule.jitter_seconds, minutes=schedule.health_grace_minutes)
    due = last_due(trigger, now, allowance)
    journal = Journal(engine)
    last_ok, started = journal.last_ok_started(), journal.first_service_start()
    names, count = journal.unread_streak()
    if names and count >= config.alerts.after_consecutive_failures:
        unread = _labels(names, sources)
        return Health(
            False,
            f"unhealthy: {unread} could not be read in the last {counted(count, 'cycle')};"
            " see `trial-monitor status`",
        )
    if last_ok is not None and (due is None or last_ok >= due):
        return Health(True, f"ok: last successful cycle started {short_moment(last_ok)}")
    if due is None or (last_ok is None and (started is None or started > due)):
        if last_ok is None:
            return Health(True, f"ok: {_failed(journal)}, and none has been due")
        return Health(True, "ok: no cycle has been due yet")
    if last_ok is None:
        return Health(
            False,
            f"unhealthy: {_failed(journal)}, and one was due at"
            f" {short_moment(due)}; see the log of `trial-monitor run` (or run"
            " `trial-monitor doctor`)",
        )
    return Health(
        False,
        f"unhealthy: no successful cycle since {short_moment(last_ok)};"
        f" one was due at {short_moment(due)}",
    )


def _failed(journal: Journal) -> str:
    """Whether any cycle ran: a manual `check` that failed is not "none has run"."""
    tried = journal.consecutive_failures()
    if tried == 0:
        return "no cycle has run yet"
    ran = "the one that ran" if tried == 1 else f"the {tried} that ran"
    return f"no cycle has succeeded yet ({ran} failed: see `trial-monitor status`)"


@dataclass(frozen=True)
class CycleRow:
    id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error: str | None
    requests: int
    changes_found: int
    delivered: list[str]  # each digest's state and transport
    unread: list[str]  # the sources it could not read, by name ("pubmed")


def _cycle_rows(engine: Engine, count: int) -> list[CycleRow]:
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
    return [
        CycleRow(
            row["id"],
            row["started_at"],
            row["finished_at"],
            row["outcome"],
            row["error"],
            row["requests"],
            row["changes_found"],
            digests.get(row["id"], []),
            (row["unread"] or "").split(),
        )
        for row in rows
    ]


def _cycles_section(engine: Engine, count: int) -> list[str]:
    rows = _cycle_rows(engine, count)
    lines = [f"Last cycles ({len(rows)})"]
    if not rows:
        lines.append("  no cycle has run yet: `trial-monitor check` runs one")
        return lines
    lines.append(
        f"  {'#':>5}  {'started (UTC)':16}  {'took':>6}  {'requests':>8}  {'changes':>7}"
        "  delivered      outcome"
    )
    for row in rows:
        took = (
            f"{(row.finished_at - row.started_at).total_seconds():.1f}s"
            if row.finished_at
            else "running"
        )
        delivered = ", ".join(row.delivered) or "-"
        outcome = row.outcome or "running"
        if row.error:
            outcome += f": {row.error}"
        lines.append(
            f"  {row.id:>5}  {short_moment(row.started_at):16}  {took:>6}  {row.requests:>8}"
            f"  {row.changes_found:>7}  {delivered:13}  {outcome}"
        )
    return lines


def _unread_section(engine: Engine, sources: Sequence[Source]) -> list[str]:
    """The sources the newest cycle could not read, said where an operator looks first."""
    names, count = Journal(engine).unread_streak()
    if not names:
        return []
    cycles_ = "the last cycle" if count == 1 else f"the last {count} cycles"
    return [
        "",
        f"NOT READ: {_labels(names, sources)}, in {cycles_} (why: the outcome above); what it"
        " holds is read again next cycle",
    ]


def _labels(names: Sequence[str], sources: Sequence[Source]) -> str:
    """Sources by name ("pubmed"), as people name them: "PubMed and the toy register"."""
    labels = {s.name: s.label for s in sources}
    return " and ".join(labels.get(n, n) for n in names)


def _unsent_section(engine: Engine) -> list[str]:
    pending = Deliveries(engine).pending()
    lines = [f"Unsent changes ({len(pending)})"]
    for item in pending:
        change = item.change
        found = short_moment(item.detected_at)
        lines.append(f"  {change.subject}  {change_words(change).line}  (found {found})")
    return lines


def _held_section(engine: Engine) -> list[str]:
    waiting = Deliveries(engine).holds()
    if not waiting:
        return []
    lines = ["", f"Held for a look ({len(waiting)}): `trial-monitor preview`, then `release`"]
    for hold in waiting:
        when = short_moment(hold.held_at)
        held = counted(hold.changes, "change")
        lines.append(f"  cycle {hold.cycle_id} ({when}): {held}; {hold.reason}")
    return lines


def _bounced_section(engine: Engine) -> list[str]:
    refused = Deliveries(engine).refused_recipients()
    if not refused:
        return []
    lines = ["", f"Recipients the mail server refused for good ({len(refused)}): fix the address"]
    for recipient, (answer, count) in sorted(refused.items()):
        lines.append(
            f"  {recipient}: {counted(count, 'change')} not delivered; last answer {answer}"
        )
    return lines


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
