"""A sample digest with one change of most kinds and long, realistic titles and citations: what
the browser test renders, and what docs/digest-*.png show (scripts/digest-screenshots)."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.models import Change, ChangeKind, PendingChange, RenderedMessage
from monitor.render import build_digest, make_environment, render_digest

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
FINAL, DANISH, NEW = "NCT04270877", "NCT02806440", "NCT06000001"
TITLES = {
    FINAL: "Fibromyalgia and Naltrexone: The FINAL Study — a Randomised, Placebo-controlled "
    "Trial of Low-dose Naltrexone in Women",
    DANISH: "Low Dose Naltrexone for Fibromyalgia (LDN-in-FM)",
    NEW: "Low-Dose Naltrexone for Post-COVID-19 Fatigue: a Decentralised Trial With an "
    "Extraordinarily Long Unbroken Word Supercalifragilisticexpialidociousnessitudinal",
}
CHANGES = [
    Change(FINAL, ChangeKind.RESULTS_POSTED, None, "2026-11-20"),
    Change(
        FINAL,
        ChangeKind.PUBLICATION,
        None,
        "32845365",
        "RESULT Bruun KD, Amris K, Vaegter HB, et al. Low-dose naltrexone for the treatment of "
        "fibromyalgia: protocol for a double-blind, randomized, placebo-controlled trial. "
        "Trials. 2021;22(1):804. doi:10.1186/s13063-021-05776-6",
    ),
    Change(FINAL, ChangeKind.CLAIM_CONTRADICTED, "99", "101 ACTUAL", "enrollment"),
    Change(FINAL, ChangeKind.ENROLLMENT, "99 ACTUAL", "101 ACTUAL"),
    Change(FINAL, ChangeKind.PRIMARY_COMPLETION, "2022-03 ACTUAL", "2022-06 ACTUAL"),
    Change(DANISH, ChangeKind.STATUS, "COMPLETED", "WITHDRAWN", "Study halted prematurely"),
    Change(NEW, ChangeKind.NEW_TRIAL, None, "Low-dose naltrexone", "RECRUITING"),
]


def sample_digest() -> RenderedMessage:
    pending = [PendingChange(i, c, NOW) for i, c in enumerate(CHANGES, start=1)]
    digest = build_digest(pending, TITLES, NOW, "2026-11-25T09:00:06", cited={FINAL, DANISH})
    return render_digest(digest, "[LDN monitor]", make_environment())
