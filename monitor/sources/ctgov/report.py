"""ClinicalTrials.gov's part of `status` (the watched trials, the searches it refuses) and of
`history` (one trial's snapshots and reported changes), read from its tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, RowMapping, select

from monitor.editorial.words import change_words, short_moment
from monitor.settings.config import Config
from monitor.sources.ctgov.searches import Searches
from monitor.sources.ctgov.tables import search_hits, snapshot_from_row, snapshots, trials
from monitor.sources.ctgov.words import snapshot_line
from monitor.store.rows import change_from_row
from monitor.store.schema import changes


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
                line=trial_state(row),
            )
        )
    return watched


def history_text(engine: Engine, nct_id: str, sent: Mapping[int, datetime | None]) -> str | None:
    """The stored snapshots and reported changes of one trial, each change with when the last
    of its recipients got it (`sent`); None if it was never seen."""
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
    if not rows:
        return None
    title = next((r["title"] for r in reversed(rows) if r["title"]), "(no title)")
    lines = [f"{nct_id} — {title}", "", f"Snapshots ({len(rows)})"]
    for row in rows:
        lines.append(f"  {short_moment(row['observed_at'])}  {trial_state(row)}")
    lines += ["", f"Reported changes ({len(reported)})"]
    for row in reported:
        when = sent.get(row["id"])
        state = f"sent {short_moment(when)}" if when else "not sent yet"
        words = change_words(change_from_row(row)).line
        lines.append(f"  {short_moment(row['detected_at'])}  {words}  [{state}]")
    if not reported:
        lines.append("  none")
    return "\n".join(lines)


def trials_lines(watched: list[WatchedTrial]) -> list[str]:
    lines = [f"Watched trials ({len(watched)})"]
    for trial in watched:
        lines.append(f"  {trial.nct_id}  {trial.line}")
        linked = f"; PMIDs {', '.join(trial.pmids)}" if trial.pmids else ""
        lines.append(f"    from {', '.join(trial.sources)}{linked}")
    return lines


def refused_lines(engine: Engine) -> list[str]:
    refused = Searches(engine).refused()
    if not refused:
        return []
    lines = [
        "",
        f"Saved searches the registry refuses ({len(refused)}): fix them in watch.searches",
    ]
    lines += [f"  “{name}”: {error}" for name, error in sorted(refused.items())]
    return lines


def trial_state(row: RowMapping) -> str:
    if row["found"] is None:
        return "not fetched yet"
    return snapshot_line(snapshot_from_row(row))
