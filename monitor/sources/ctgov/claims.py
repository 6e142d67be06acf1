"""The articles' claims judged against the registry's latest: each claim's last verdict is kept
(claim_states), so that a contradiction is news when it appears and when it is resolved, never
every cycle; a value the registry gives as unknown is never news."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, assert_never

from sqlalchemy import Connection, Engine, insert, select, update

from monitor.core.claims import Agreement, Claim, Verdict, judge
from monitor.core.models import Change, ChangeKind
from monitor.sources.ctgov.records import NAME, canonical, known
from monitor.sources.ctgov.tables import claim_states
from monitor.store.changes import write_changes


class ClaimStates:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def judge(
        self,
        cycle_id: int,
        claims: Sequence[Claim],
        now: datetime,
        first_look: Collection[str] = (),
    ) -> list[Change]:
        """Judge each claim against its trial's latest snapshot (the record it is listed under,
        once it became an alias); a claim that has just come to disagree, or to agree again,
        is a change. A trial the registry lost is not judged. The claims of the articles in
        `first_look` are judged silently: their article check says it all."""
        if not claims:
            return []
        with self.engine.begin() as conn:
            records = canonical(conn, {c.trial for c in claims})
            have = known(conn, sorted(set(records.values())))
            rows = conn.execute(select(claim_states).where(claim_states.c.trial.in_(records)))
            states = {(r.article, r.trial, r.field): r for r in rows}
            found: list[Change] = []
            for claim in claims:
                trial = have.get(records[claim.trial])
                if trial is None or trial.snapshot is None or not trial.snapshot.found:
                    continue
                assert trial.snapshot_id is not None
                verdict = judge(claim, trial.snapshot)
                state = states.get((claim.article, claim.trial, claim.field))
                kind = None if claim.article in first_look else _claim_news(state, claim, verdict)
                self._keep_verdict(conn, state, verdict, now)
                if kind is not None:
                    change = Change(
                        trial.snapshot.nct_id,
                        kind,
                        claim.expected,
                        verdict.registry,
                        claim.field.value,
                    )
                    found.append(change)
                    write_changes(conn, cycle_id, NAME, [(change, trial.snapshot_id)], now)
        return found

    def _keep_verdict(self, conn: Connection, state: Any, verdict: Verdict, now: datetime) -> None:
        claim = verdict.claim
        # An unknown value leaves the last definite judgement as it was.
        agrees = (
            state.agrees
            if state is not None and verdict.agreement is Agreement.UNKNOWN
            else (not verdict.disagrees)
        )
        values = {
            "expected": claim.expected,
            "agrees": agrees,
            "registry_value": verdict.registry,
            "judged_at": now,
        }
        key = {"article": claim.article, "trial": claim.trial, "field": claim.field.value}
        if state is None:
            conn.execute(insert(claim_states).values(**key, **values))
            return
        conn.execute(
            update(claim_states)
            .where(*(claim_states.c[name] == value for name, value in key.items()))
            .values(values)
        )


def _claim_news(state: Any, claim: Claim, verdict: Verdict) -> ChangeKind | None:
    """Whether this verdict is news: a contradiction appearing or going away. A claim judged
    for the first time (or restated in the config) is news only if the registry contradicts it;
    a value the registry gives as unknown is never news."""
    match verdict.agreement:
        case Agreement.UNKNOWN:
            return None
        case Agreement.DISAGREES:
            fresh = state is None or state.expected != claim.expected
            return ChangeKind.CLAIM_CONTRADICTED if fresh or state.agrees else None
        case Agreement.AGREES:
            fresh = state is None or state.expected != claim.expected
            return None if fresh or state.agrees else ChangeKind.CLAIM_RESOLVED
        case _:
            assert_never(verdict.agreement)
