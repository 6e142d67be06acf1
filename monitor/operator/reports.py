"""What the operator's commands show: `status`, `history` and `health`, read from the database.

Read-only queries and their plain-text layout for a terminal; nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, RowMapping, select

from monitor.delivery.deliveries import Deliveries
from monitor.editorial.words import change_words, snapshot_line
from monitor.run.schedule import last_due, make_trigger
from monitor.settings.config import Config, ScheduleConfig
from monitor.sources.ctgov.tables import Store
from monitor.sources.pubmed.tables import Library
from monitor.store.db import changes, cycles, deliveries, search_hits, snapshots, trials
from monitor.store.journal import Journal
from monitor.store.rows import change_from_row, snapshot_from_row


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str


def status_text(engine: Engine, config: Config, cycle_count: int = 10) -> str:
    return "\n".join(
        [
            *_cycles_section(engine, cycle_count),
            "",
            *_trials_section(watched_trials(engine, config)),
            "",
            *_literature_section(engine, config),
            *_unsent_section(engine),
            *_held_section(engine),
            *_refused_section(engine),
            *_bounced_section(engine),
        ]
    )


def status_json(engine: Engine, config: Config, cycle_count: int = 10) -> str:
    """What `status` shows, for scripts: one JSON object, its keys documented in the README."""
    deliveries_ = Deliveries(engine)
    report = {
        "cycles": [asdict(row) for row in _cycle_rows(engine, cycle_count)],
        "trials": [asdict(t) for t in watched_trials(engine, config)],
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
        "literature": [
            {"term": t.term, "name": name, "papers": papers, "last_run_at": t.last_run_at}
            for t, name, papers in (Library(engine).terms() if config.pubmed else [])
        ],
        "refused_searches": Store(engine).refused_searches(),
        "refused_recipients": {
            r: {"answer": answer, "changes": count}
            for r, (answer, count) in deliveries_.refused_recipients().items()
        },
    }
    return json.dumps(report, indent=2, ensure_ascii=False, default=_iso)


@dataclass(frozen=True)
class WatchedTrial:
    """One watched trial as `status` shows it: its tracked state, where it came from (the
    articles citing it, watch.trials, the searches that found it) and its linked PMIDs."""

    nct_id: str
    sources: list[str]
    fetched: bool
    found: bool | None
    title: str | None
    status: str | None
    enrollment: str | None
    has_results: bool | None
    primary_completion: str | None
    pmids: list[str]
    listed_under: str | None
    line: str  # the state in words, as the text shows it


def watched_trials(engine: Engine, config: Config) -> list[WatchedTrial]:
    query = (
        select(trials.c.nct_id, trials.c.listed_under, snapshots)
        .select_from(trials.outerjoin(snapshots, snapshots.c.id == trials.c.latest_snapshot_id))
        .order_by(trials.c.nct_id)
    )
    with engine.connect() as conn:
        rows = list(conn.execute(query).mappings())
        hits = conn.execute(select(search_hits.c.nct_id, search_hits.c.term)).all()
    names = {s.term: s.name for s in config.watch.searches}
    found_by: dict[str, list[str]] = {}
    for nct_id, term in hits:
        name = names.get(term)
        found_by.setdefault(nct_id, []).append(
            f"search “{name}”" if name else f"search “{term}” (no longer configured)"
        )
    listed = list(config.watch.trials)
    watched: list[WatchedTrial] = []
    for row in rows:
        nct_id = row["nct_id"]
        sources = [
            f"article “{a.title}”" if a.title else "watch.trials"
            for a in config.articles
            if nct_id in a.trials
        ]
        if nct_id in listed and "watch.trials" not in sources:
            sources.append("watch.trials")
        sources += found_by.get(nct_id, [])
        if not sources:
            sources.append("no longer configured")
        snapshot = snapshot_from_row(row) if row["found"] is not None else None
        watched.append(
            WatchedTrial(
                nct_id=nct_id,
                sources=sources,
                fetched=snapshot is not None,
                found=snapshot.found if snapshot else None,
                title=snapshot.title if snapshot else None,
                status=snapshot.status_value if snapshot else None,
                enrollment=snapshot.enrollment if snapshot else None,
                has_results=snapshot.has_results if snapshot else None,
                primary_completion=snapshot.primary_completion if snapshot else None,
                pmids=[p.pmid for p in snapshot.publications if p.pmid] if snapshot else [],
                listed_under=row["listed_under"],
                line=_trial_state(row),
            )
        )
    return watched


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
        if last_ok is None:
            return Health(True, "ok: no cycle has run yet, and none has been due")
        return Health(True, "ok: no cycle has been due yet")
    if last_ok is None:
        return Health(
            False,
            f"unhealthy: no cycle has run yet, and one was due at {_when(due)}; see the log of"
            " `trial-monitor run` (or run `trial-monitor doctor`)",
        )
    return Health(
        False, f"unhealthy: no successful cycle since {_when(last_ok)}; one was due at {_when(due)}"
    )


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
            f"  {row.id:>5}  {_when(row.started_at):16}  {took:>6}  {row.requests:>8}"
            f"  {row.changes_found:>7}  {delivered:13}  {outcome}"
        )
    return lines


def _trials_section(watched: list[WatchedTrial]) -> list[str]:
    lines = [f"Watched trials ({len(watched)})"]
    for trial in watched:
        lines.append(f"  {trial.nct_id}  {trial.line}")
        linked = f"; PMIDs {', '.join(trial.pmids)}" if trial.pmids else ""
        lines.append(f"    from {', '.join(trial.sources)}{linked}")
    return lines


def _unsent_section(engine: Engine) -> list[str]:
    pending = Deliveries(engine).pending()
    lines = [f"Unsent changes ({len(pending)})"]
    for item in pending:
        change = item.change
        found = _when(item.detected_at)
        lines.append(f"  {change.subject}  {change_words(change).line}  (found {found})")
    return lines


def _literature_section(engine: Engine, config: Config) -> list[str]:
    """PubMed's searches, when the literature side is on: a cited trial's papers, each
    literature search, when each last ran and what it has found."""
    if config.pubmed is None:
        return []
    searches = Library(engine).terms()
    lines = [f"PubMed searches ({len(searches)})"]
    if not searches:
        lines.append("  none has run yet")
    for term, name, papers in searches:
        shown = name if name == term.term.removesuffix("[si]") else f"“{name}”"
        what = "papers listing it" if term.term.endswith("[si]") else "papers found"
        lines.append(f"  {shown}: {papers} {what}; last ran {_when(term.last_run_at)}")
    return [*lines, ""]


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


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"
