"""What reading PubMed costs, beside its floor, for libraries of articles of three sizes.

Each scenario is a config of many articles (the trials and papers shared out among them) and
saved literature searches, against the loopback stand-ins (the registry and PubMed, PubMed holding
every cited paper and one paper listing each tenth trial). `trial-monitor check` runs as its own
process three times: the first cycle (empty database), an unchanged day (`check
--literature-now`, as a cycle a day after the last would), and a cycle within
pubmed.min_interval_hours (PubMed left alone). PubMed's requests and bytes are counted at its
stand-in; wall time includes start-up and PubMed's pacing (2 requests a second without a key).

The floor of an unchanged day: one ESearch per TERMS_PER_SEARCH cited trials (their `[si]`
terms ORed), one for the saved searches (ORed under one create-date window), one per
TERMS_PER_SEARCH cited papers not re-read that day (which of them PubMed revised), and the day's
share of the rolling re-read of cited papers, in EFetch batches of 200.

    .venv/bin/python benchmarks/pubmed.py                   # the three sizes
    .venv/bin/python benchmarks/pubmed.py --only 50         # the smallest

Not part of the tests' pass/fail (tests/sources/pubmed/test_pubmed_cost.py pins the counts at
small sizes); its output, saved as benchmarks/results/pubmed.md, is what docs/costs.md shows.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "sources" / "ctgov"),
    str(ROOT / "tests" / "sources" / "pubmed"),
]

from bench import measured, synthetic_studies  # noqa: E402
from pubmed_standin import StandinPubmed, article  # noqa: E402
from standin import StandinRegistry  # noqa: E402

from monitor.sources.pubmed.client import FETCH_BATCH  # noqa: E402
from monitor.sources.pubmed.reading import TERMS_PER_SEARCH  # noqa: E402

RECONCILE_DAYS = 7  # polling.reconcile_days, the default


@dataclass(frozen=True)
class Scenario:
    name: str
    articles: int
    trials: int  # cited, two to an article (or watch.trials alone)
    papers: int  # cited, two to an article
    searches: int
    watch_list: bool = False  # the trials in watch.trials, one PMID besides


SCENARIOS = [
    Scenario("50", 50, 100, 100, 5),
    Scenario("1000", 1000, 2000, 5000, 50),
    Scenario("watch", 0, 10_000, 1, 0, watch_list=True),
]


@dataclass(frozen=True)
class Cycle:
    requests: int
    bytes: int
    seconds: float
    peak_mb: float


def floor(s: Scenario) -> int:
    """An unchanged day's requests at the floor (see the module's docstring)."""
    share = math.ceil(s.papers / RECONCILE_DAYS)
    share = math.ceil(share / FETCH_BATCH) * FETCH_BATCH
    revised = max(s.papers - share, 0)
    return (
        math.ceil(s.trials / TERMS_PER_SEARCH)
        + (1 if s.searches else 0)
        + math.ceil(revised / TERMS_PER_SEARCH)
        + math.ceil(min(share, s.papers) / FETCH_BATCH)
    )


def write_config(folder: Path, s: Scenario, registry: str, pubmed: str, ids: list[str]) -> Path:
    pmids = [str(30_000_000 + n) for n in range(s.papers)]
    parts = [
        f'[registry]\nbase_url = "{registry}"\nmin_interval_seconds = 0\n',
        f'[pubmed]\nbase_url = "{pubmed}"\n',
        f'[database]\nurl = "sqlite:///{folder / "monitor.db"}"\n',
        f'[outbox]\npath = "{folder / "outbox"}"\n',
    ]
    if s.watch_list:
        listed = ", ".join(f'"{i}"' for i in ids)
        parts.append(f'[watch]\ntrials = [{listed}]\npmids = ["{pmids[0]}"]\n')
    each, cites = s.trials // max(s.articles, 1), s.papers // max(s.articles, 1)
    for n in range(s.articles):
        trials = ", ".join(f'"{i}"' for i in ids[each * n : each * (n + 1)])
        papers = ", ".join(f'"{p}"' for p in pmids[cites * n : cites * (n + 1)])
        parts.append(
            f'[[articles]]\ntitle = "Article {n}"\ntrials = [{trials}]\npmids = [{papers}]\n'
        )
    for n in range(s.searches):
        term = f"cited paper AND {30_000_000 + n}[uid]"  # words the stand-in's records hold
        parts.append(f'[[watch.literature]]\nname = "Search {n}"\nterm = "{term}"\n')
    config = folder / "config.toml"
    config.write_text("\n".join(parts), encoding="utf-8")
    return config


def run(config: Path, pubmed: StandinPubmed, *args: str) -> Cycle:
    before = len(pubmed.requests)
    figures, _ = measured(
        [sys.executable, "-m", "monitor", "--config", str(config), "check", *args],
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TRIAL_MONITOR_LOG_LEVEL": "WARNING"},
    )
    asked = pubmed.requests[before:]
    return Cycle(
        len(asked), sum(r.response_bytes for r in asked), figures["seconds"], figures["peak_mb"]
    )


def measure(s: Scenario) -> list[Cycle]:
    studies = synthetic_studies(s.trials)
    ids = [str(study["protocolSection"]["identificationModule"]["nctId"]) for study in studies]  # type: ignore[index]
    with (
        StandinRegistry() as registry,
        StandinPubmed() as pubmed,
        tempfile.TemporaryDirectory() as tmp,
    ):
        registry.put_all(studies)
        pmids = [str(30_000_000 + n) for n in range(s.papers)]
        pubmed.put(*(article(p, f"A cited paper, number {p}.") for p in pmids))
        listing = [
            article(str(31_000_000 + n), f"A report of {t}.", nct_ids=(t,))
            for n, t in enumerate(ids[::10])
        ]
        pubmed.put(*listing)
        config = write_config(Path(tmp), s, registry.url, pubmed.url, ids)
        return [run(config, pubmed), run(config, pubmed, "--literature-now"), run(config, pubmed)]


def describe(s: Scenario) -> str:
    if s.watch_list:
        return f"{s.trials:,} `watch.trials` and one PMID"
    return (
        f"{s.articles:,} articles: {s.trials:,} trials, {s.papers:,} papers, {s.searches} searches"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--only", help="the scenario to run: 50, 1000 or watch")
    args = parser.parse_args()
    print("| library | cycle | PubMed requests | floor | kB | wall s | peak MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for s in SCENARIOS:
        if args.only and s.name != args.only:
            continue
        first, unchanged, rested = measure(s)
        for label, c, goal in (
            ("first", first, "–"),
            ("unchanged day", unchanged, str(floor(s))),
            ("within min_interval_hours", rested, "0"),
        ):
            print(
                f"| {describe(s)} | {label} | {c.requests:,} | {goal} | {c.bytes / 1000:,.0f}"
                f" | {c.seconds:.1f} | {c.peak_mb:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
