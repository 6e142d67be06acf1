"""Two weeks of the real registry's churn, against the floor of what any monitor must read.

A stand-in registry of 100,000 studies refreshes ten times (weekdays). Assumptions, from
shared/ctgov/NOTES.md and the issue: each refresh publishes 4,000 updated studies (their
LastUpdatePostDate becomes that day; one in four changes a tracked field, a status or an
enrollment, the others something the monitor does not track); and NLM links a PubMed paper
(a DERIVED reference) to 40 studies without moving their date. The monitor watches 2 (the LDN
article's two cited trials), 1,000 or 10,000 trials, with the shipped "low dose naltrexone"
search, and runs `trial-monitor check` (its own process) after each refresh; its baseline cycle
is not counted.

The floor, per refresh: /version; each search limited to the studies this refresh published;
and the fewer of the id batches or the pages of the exact updated-since listing. Its bytes are
those of the id batches with the exact date (only the watched trials this refresh changed come
back). The floor knows what no monitor can: which day's studies are new, and that nothing
changed without a date.

    .venv/bin/python benchmarks/churn.py                   # 2, 1,000 and 10,000 watched
    .venv/bin/python benchmarks/churn.py --sizes 2,1000    # a quick look

Not part of the tests' pass/fail: it prints figures; its output, saved as
benchmarks/results/churn.md, is what docs/costs.md shows (scripts/docs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "sources" / "ctgov")]
sys.path.insert(0, str(ROOT))

from bench import synthetic_studies, write_config  # noqa: E402
from standin import StandinRegistry, ldn_studies  # noqa: E402

from monitor.sources.ctgov.client import RegistryClient, make_http_client  # noqa: E402
from monitor.sources.ctgov.normalize import TRACKED_FIELDS  # noqa: E402
from monitor.sources.ctgov.settings import RegistryConfig  # noqa: E402

REGISTRY_SIZE = 100_000
UPDATED_PER_REFRESH = 4_000
TRACKED_SHARE = 4  # one in four updates changes a tracked field
SILENTLY_LINKED_PER_REFRESH = 40
REFRESHES = 10
SEARCH = "low dose naltrexone"  # the term of the search bench.write_config configures
FIRST_DAY = date(2026, 11, 2)  # a Monday
FINAL, DANISH = "NCT04270877", "NCT02806440"


@dataclass
class Tally:
    requests: int = 0
    bytes: int = 0
    per_refresh: list[int] = field(default_factory=list)
    batch: int = 0  # how many ids one filter.ids request holds


RECONCILE_DAYS = 7  # polling.reconcile_days, as bench.write_config leaves it


def weekdays(start: date, count: int) -> list[date]:
    days: list[date] = []
    day = start
    while len(days) < count:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


def churn(registry: StandinRegistry, day: date, rng: random.Random) -> None:
    """One refresh's worth of updates, published by the refresh at the end."""
    ids = rng.sample(sorted(registry.studies), UPDATED_PER_REFRESH + SILENTLY_LINKED_PER_REFRESH)
    with registry.lock:
        for index, nct_id in enumerate(ids[:UPDATED_PER_REFRESH]):
            _update(registry.studies[nct_id], day, tracked=index % TRACKED_SHARE == 0, rng=rng)
        for nct_id in ids[UPDATED_PER_REFRESH:]:
            _link_paper(registry.studies[nct_id], rng)
        registry.today = day
        registry.refresh()


def _update(record: dict[str, Any], day: date, *, tracked: bool, rng: random.Random) -> None:
    """New dicts for the modules it changes: synthetic records share the others."""
    section = dict(record["protocolSection"])
    status = dict(section["statusModule"])
    status["lastUpdatePostDateStruct"] = {"date": day.isoformat(), "type": "ACTUAL"}
    if tracked:
        design = dict(section["designModule"])
        design["enrollmentInfo"] = {"count": rng.randint(10, 900), "type": "ACTUAL"}
        section["designModule"] = design
    section["statusModule"] = status
    record["protocolSection"] = section


def _link_paper(record: dict[str, Any], rng: random.Random) -> None:
    section = dict(record["protocolSection"])
    references = dict(section.get("referencesModule", {}))
    paper = {
        "pmid": str(rng.randint(30_000_000, 41_000_000)),
        "type": "DERIVED",
        "citation": "A paper.",
    }
    references["references"] = [*references.get("references", []), paper]
    section["referencesModule"] = references
    record["protocolSection"] = section


async def floor(registry: StandinRegistry, watched: list[str], day: date) -> tuple[int, int]:
    """The least any monitor must ask this refresh (requests, bytes), measured by asking it."""
    config = RegistryConfig(base_url=registry.url, min_interval_seconds=0)
    exact = {"filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{day.isoformat()},MAX]"}
    tracked = {"format": "json", "fields": ",".join(TRACKED_FIELDS), "pageSize": "1000"}
    requests, received = 0, 0
    async with make_http_client(config) as http:
        client = RegistryClient(config, http)
        version = await http.get(f"{registry.url}/version")
        requests, received = 1, len(version.content)
        search = await http.get(
            f"{registry.url}/studies", params={"query.term": SEARCH, **exact, **tracked}
        )
        requests, received = requests + 1, received + len(search.content)
        batches = list(client.batches(watched))
        for batch in batches:
            answer = await http.get(
                f"{registry.url}/studies",
                params={"filter.ids": "|".join(batch), **exact, **tracked},
            )
            received += len(answer.content)
        count = await http.get(
            f"{registry.url}/studies",
            params={**exact, "countTotal": "true", "pageSize": "1", "fields": "NCTId"},
        )
        pages = -(-int(count.json()["totalCount"]) // 1000)
    return requests + min(len(batches), pages), received


def run_check(config: Path, registry: StandinRegistry) -> tuple[int, int]:
    before = len(registry.requests)
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "check"],
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TRIAL_MONITOR_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"check failed: {done.stdout} {done.stderr[-2000:]}")
    asked = registry.requests[before:]
    return len(asked), sum(r.response_bytes for r in asked)


def measure(size: int, seed: int) -> tuple[Tally, Tally]:
    """(the monitor, the floor) over the refreshes, for a watch list of `size`."""
    rng = random.Random(seed)
    with StandinRegistry() as registry, tempfile.TemporaryDirectory() as tmp:
        registry.today = FIRST_DAY
        registry.put_all(ldn_studies())
        registry.adopt(synthetic_studies(REGISTRY_SIZE - 2))
        registry.refresh()
        others = sorted(set(registry.studies) - {FINAL, DANISH})
        watched = [FINAL, DANISH, *rng.sample(others, max(0, size - 2))]
        config = write_config(Path(tmp), registry, watched)
        run_check(config, registry)  # the baseline, not counted
        monitor, least = Tally(), Tally()
        config_ = RegistryConfig(base_url=registry.url)
        least.batch = len(next(RegistryClient(config_, httpx.AsyncClient()).batches(watched)))
        for day in weekdays(FIRST_DAY, REFRESHES):
            churn(registry, day, rng)
            requests, received = run_check(config, registry)
            monitor.requests += requests
            monitor.bytes += received
            monitor.per_refresh.append(requests)
            requests, received = asyncio.run(floor(registry, watched, day))
            least.requests += requests
            least.bytes += received
            least.per_refresh.append(requests)
        return monitor, least


def _size(count: int) -> str:
    return f"{count / 1e6:,.2f} MB" if count >= 1e5 else f"{count / 1e3:,.1f} kB"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="2,1000,10000")
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()
    lines = [
        f"| watched | requests over {REFRESHES} refreshes | floor | ÷ floor | bytes | floor | ÷ floor | requests per refresh |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    largest: tuple[int, Tally, Tally] | None = None
    for size in (int(s) for s in args.sizes.split(",")):
        monitor, least = measure(size, args.seed)
        if largest is None or size > largest[0]:
            largest = (size, monitor, least)
        print(f"measured {size:,} watched", file=sys.stderr)
        lines.append(
            f"| {size:,} | {monitor.requests:,} | {least.requests:,} | {monitor.requests / least.requests:.2f}× "
            f"| {_size(monitor.bytes)} | {_size(least.bytes)} | {monitor.bytes / least.bytes:.1f}× "
            f"| {' '.join(map(str, monitor.per_refresh))} (floor {' '.join(map(str, least.per_refresh))}) |"
        )
    print("\n".join(lines))
    if largest is not None:
        size, monitor, least = largest
        requests, received = monitor.requests / least.requests, monitor.bytes / least.bytes
        print()
        for what, ratio, goal in (("requests", requests, 1.2), ("bytes", received, 10.0)):
            verdict = "met" if ratio <= goal else "not met"
            print(
                f"- {what} at {size:,} watched: {ratio:.2f}× the floor"
                f" (goal: at most {goal:g}×): {verdict}"
            )
        days = (weekdays(FIRST_DAY, REFRESHES)[-1] - FIRST_DAY).days
        reconcile = -(-size // least.batch) * -(-days // RECONCILE_DAYS)
        print(
            f"- reading each of the {size:,} in full within {RECONCILE_DAYS} days, {least.batch}"
            f" ids a request, takes at least {reconcile} requests over these {days} days:"
            f" the monitor asks {monitor.requests / (least.requests + reconcile):.2f}× the floor"
            f" and that ({least.requests + reconcile})"
        )


if __name__ == "__main__":
    main()
