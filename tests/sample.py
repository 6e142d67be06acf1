"""A sample digest as an editor receives it: the article's two cited trials with one change of
most kinds, a close new trial and an off-topic one, with long, realistic titles and citations.
What the browser test renders, and what docs/digest-*.png show (scripts/digest-screenshots)."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.core.articles import Article, Evidence
from monitor.core.claims import Claim, ClaimField
from monitor.core.models import (
    Change,
    ChangeKind,
    Paper,
    PendingChange,
    Publication,
    RenderedMessage,
    Snapshot,
)
from monitor.core.standing import stand
from monitor.editorial.checkview import render_article_check
from monitor.editorial.digest import build_digest
from monitor.editorial.render import make_environment, render_digest

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
FINAL, DANISH = "NCT04270877", "NCT02806440"
CLOSE, OFF_TOPIC = "NCT05430152", "NCT06000001"
URL = "https://example.org/articles/low-dose-naltrexone"
TITLES = {
    FINAL: "Fibromyalgia and Naltrexone: The FINAL Study — a Randomised, Placebo-controlled "
    "Trial of Low-dose Naltrexone in Women",
    DANISH: "Low Dose Naltrexone for Treatment of Pain in Patients With Fibromyalgia - Effect "
    "Via a Central Mechanism?",
    CLOSE: "Low-dose Naltrexone for Fibromyalgia Pain: a Decentralised Trial With an "
    "Extraordinarily Long Unbroken Word Supercalifragilisticexpialidociousnessitudinal",
    OFF_TOPIC: "Lymph Node Dissection (LND) Versus Sentinel Biopsy in Early Melanoma",
}
RESULTS_PAPER = (
    "Bruun KD, Christensen R, Amris K, et al. Naltrexone 6 mg once daily versus placebo in "
    "women with fibromyalgia: a randomised, double-blind, placebo-controlled trial. Lancet "
    "Rheumatol. 2024;6(1):e31-e39. doi:10.1016/S2665-9913(23)00278-3"
)
ARTICLE = Article(
    key=URL,
    title="Low-dose naltrexone: what the evidence says",
    url=URL,
    trials=(FINAL, DANISH),
    pmids=("32068870", "32845365", "30248938"),
    claims=(
        Claim(FINAL, ClaimField.STATUS, "COMPLETED", URL),
        Claim(FINAL, ClaimField.ENROLLMENT, "99", URL),
        Claim(FINAL, ClaimField.RESULTS_POSTED, "false", URL),
        Claim(DANISH, ClaimField.STATUS, "COMPLETED", URL),
        Claim(DANISH, ClaimField.ENROLLMENT, "58", URL),
    ),
    passages={
        FINAL: ("the paragraph on FINAL",),
        DANISH: ("the paragraph on the Danish crossover",),
    },
    id="low-dose-naltrexone",
)
LATEST = {
    FINAL: Snapshot(
        FINAL,
        acronym="FINAL",
        status="COMPLETED",
        enrollment_count=101,
        enrollment_type="ACTUAL",
        has_results=True,
        phases="PHASE2",
        conditions=("Fibromyalgia",),
        interventions=("Low dose naltrexone", "Placebo"),
        publications=(Publication("38258677", "RESULT", RESULTS_PAPER),),
    ),
    DANISH: Snapshot(
        DANISH,
        acronym="LDN-in-FM",
        status="WITHDRAWN",
        enrollment_count=58,
        enrollment_type="ACTUAL",
        phases="PHASE4",
        conditions=("Fibromyalgia",),
        interventions=("Low dose naltrexone", "Placebo"),
    ),
    CLOSE: Snapshot(
        CLOSE,
        status="RECRUITING",
        enrollment_count=160,
        enrollment_type="ESTIMATED",
        phases="PHASE2",
        sponsor="Oslo University Hospital",
        conditions=("Fibromyalgia", "Chronic Widespread Pain"),
        interventions=("Naltrexone 4.5 mg", "Placebo"),
        start_date="2026-09-01",
    ),
    OFF_TOPIC: Snapshot(
        OFF_TOPIC,
        status="NOT_YET_RECRUITING",
        phases="NA",
        conditions=("Melanoma",),
        interventions=("Lymph node dissection",),
    ),
}
CHANGES = [
    Change(FINAL, ChangeKind.RESULTS_POSTED, None, "2026-11-20"),
    Change(FINAL, ChangeKind.PUBLICATION, None, "38258677", f"RESULT {RESULTS_PAPER}", "38258677"),
    Change(FINAL, ChangeKind.CLAIM_CONTRADICTED, "99", "101 ACTUAL", "enrollment"),
    Change(FINAL, ChangeKind.CLAIM_CONTRADICTED, "false", "true", "results_posted"),
    Change(FINAL, ChangeKind.ENROLLMENT, "99 ACTUAL", "101 ACTUAL"),
    Change(FINAL, ChangeKind.PRIMARY_COMPLETION, "2022-03 ACTUAL", "2022-06 ACTUAL"),
    Change(DANISH, ChangeKind.STATUS, "COMPLETED", "WITHDRAWN", "Study halted prematurely"),
    Change(DANISH, ChangeKind.CLAIM_CONTRADICTED, "COMPLETED", "WITHDRAWN", "status"),
    Change(CLOSE, ChangeKind.NEW_TRIAL, None, "Low-dose naltrexone", "RECRUITING"),
    Change(OFF_TOPIC, ChangeKind.NEW_TRIAL, None, "LDN", "NOT_YET_RECRUITING"),
]


# The registry as the article check finds it: both cited trials completed as the article says,
# each with its (negative) results paper linked, which the article does not cite.
PAIN_REPORTS = (
    "Bruun KD, Amris K, Vaegter HB, et al. Low-dose naltrexone for treatment of pain in patients"
    " with fibromyalgia: a randomized, double-blind, placebo-controlled, crossover study. Pain"
    " Rep. 2023;8(4):e1080. doi:10.1097/PR9.0000000000001080"
)
AT_FIRST_LOOK = {
    FINAL: Snapshot(
        FINAL,
        title=TITLES[FINAL],
        acronym="FINAL",
        status="COMPLETED",
        enrollment_count=99,
        enrollment_type="ACTUAL",
        phases="PHASE2",
        completion_date="2022-12-27",
        publications=(Publication("38258677", "RESULT", RESULTS_PAPER),),
    ),
    DANISH: Snapshot(
        DANISH,
        title=TITLES[DANISH],
        acronym="LDN-in-FM",
        status="COMPLETED",
        enrollment_count=58,
        enrollment_type="ACTUAL",
        phases="PHASE4",
        completion_date="2022-09-01",
        publications=(Publication("38226027", "DERIVED", PAIN_REPORTS),),
    ),
}


# What PubMed says of the two results papers (their conclusions as the stand-in has them).
RESULTS_PAPERS = {
    FINAL: Paper(
        "38258677",
        "Low-dose naltrexone for pain in women with fibromyalgia: a randomised, double-blind,"
        " placebo-controlled phase 2 trial.",
        "Lancet Rheumatol",
        "2024",
        ("Journal Article", "Randomized Controlled Trial"),
        (FINAL,),
        "Low-dose naltrexone was not better than placebo for reducing fibromyalgia pain in"
        " women. These results do not support its routine use for this indication.",
    ),
    DANISH: Paper(
        "38226027",
        "Low-dose naltrexone in fibromyalgia: a randomised, double-blind, placebo-controlled"
        " crossover trial of pain and central mechanisms.",
        "Pain",
        "2024",
        ("Randomized Controlled Trial",),
        (DANISH,),
        "Low-dose naltrexone had no clinically relevant analgesic effect in fibromyalgia"
        " compared with placebo.",
    ),
}


def first_look() -> Evidence:
    """What the registry and PubMed hold when the article is first configured."""
    return Evidence(
        (ARTICLE,),
        AT_FIRST_LOOK,
        {p.pmid: p for p in RESULTS_PAPERS.values()},
        trial_papers={trial: [paper] for trial, paper in RESULTS_PAPERS.items()},
    )


def sample_article_check() -> RenderedMessage:
    return render_article_check(
        stand(ARTICLE, first_look()),
        "[LDN monitor]",
        make_environment(),
        NOW,
        "2026-11-25T09:00:06",
    )


def sample_digest() -> RenderedMessage:
    # PubMed's record of FINAL's results paper is at hand, as it is with the literature side on.
    paper = RESULTS_PAPERS[FINAL]
    evidence = Evidence((ARTICLE,), LATEST, {paper.pmid: paper}, trial_papers={FINAL: [paper]})
    pending = [PendingChange(i, c, NOW) for i, c in enumerate(CHANGES, start=1)]
    digest = build_digest(pending, TITLES, NOW, "2026-11-25T09:00:06", evidence=evidence)
    # Every finding is new here: the article's standing as these changes leave it.
    standing = stand(ARTICLE, evidence)
    return render_digest(
        digest,
        "[LDN monitor]",
        make_environment(),
        evidence,
        where="on ClinicalTrials.gov",
        verdicts=((standing, standing.findings),),
    )


if __name__ == "__main__":  # the plain text, as a terminal mail reader shows it
    for message in (sample_article_check(), sample_digest()):
        print(f"Subject: {message.subject}\n\n{message.text}")
