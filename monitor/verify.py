"""`trial-monitor verify`: every article claim against the registry as it is now.

Reads the registry directly (the cited trials, in one batch) and stores nothing: it is what an
editor runs before publishing, whatever the monitor last saw.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.claims import Agreement, Claim, Verdict, judge
from monitor.models import Snapshot
from monitor.normalize import RejectedRecord, normalize
from monitor.registry import RegistryClient
from monitor.words import agreement_words, claim_field_name, claim_words


async def verify(claims: Sequence[Claim], registry: RegistryClient) -> list[Verdict]:
    trials = sorted({c.trial for c in claims})
    found: dict[str, Snapshot] = {}
    for batch in registry.batches(trials):
        async for page in registry.studies(batch):
            for study in page:
                try:
                    snapshot = normalize(study).snapshot
                except RejectedRecord:
                    continue  # judged as not found below: the registry gave nothing usable
                # A cited id that became an alias comes back under the record it is listed
                # under; the claims are about that record now.
                for nct_id in (snapshot.nct_id, *snapshot.aliases):
                    found[nct_id] = snapshot
    return [
        judge(c, found[c.trial]) if c.trial in found else Verdict(c, None, Agreement.DISAGREES)
        for c in claims
    ]


def verdict_table(verdicts: Sequence[Verdict]) -> str:
    rows = [("trial", "claim", "the article says", "the registry says", "agrees")]
    for v in verdicts:
        field = v.claim.field
        registry = claim_words(field, v.registry) if v.registry is not None else "no record"
        rows.append(
            (
                v.claim.trial,
                claim_field_name(field),
                claim_words(field, v.claim.expected),
                registry,
                agreement_words(v.agreement),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    agreeing = sum(v.agrees for v in verdicts)
    lines.append("")
    lines.append(f"verify: {agreeing} of {len(verdicts)} claims agree with the registry")
    return "\n".join(lines)
