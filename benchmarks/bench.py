"""Cost of a cycle against the loopback stand-in registry, for watch lists of 2 to 100,000.

For each size: a baseline cycle (empty database), a cycle with the registry unchanged, and an
incremental cycle after 10 watched trials changed; each `trial-monitor check` runs as its own
process, so wall time includes start-up and peak memory is that process's maximum RSS. In the
same run, a naive monitor fetches every watched record whole, one request each; above
--naive-limit it fetches that many and its requests, bytes and time are scaled up linearly
(marked ~; its peak memory is the sample's). Bytes are response bodies.

    .venv/bin/python benchmarks/bench.py                       # 2, 1,000, 10,000, 100,000
    .venv/bin/python benchmarks/bench.py --sizes 2,1000        # a quick look

Not part of the tests' pass/fail: it prints figures; its output, saved as
benchmarks/results/bench.md, is what docs/costs.md shows (scripts/docs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "sources" / "ctgov")]

from standin import StandinRegistry, ldn_studies, load_fixture, set_piece  # noqa: E402

TEMPLATE = "biomcp_get_nct02576665_full_20260903.json"  # a full record of about 21 kB
CHANGED = 10


@dataclass
class Figures:
    requests: int
    bytes: int
    seconds: float
    peak_mb: float | None = None
    scaled: bool = False


def synthetic_studies(count: int) -> list[dict[str, object]]:
    """`count` records like the template, sharing every module but the two that differ."""
    template = load_fixture(TEMPLATE)
    section = template["protocolSection"]
    records = []
    for n in range(count):
        nct_id = f"NCT{30_000_000 + n:08d}"
        records.append(
            {
                **template,
                "protocolSection": {
                    **section,
                    "identificationModule": {**section["identificationModule"], "nctId": nct_id},
                    "statusModule": {
                        **section["statusModule"],
                        "lastUpdatePostDateStruct": {"date": "2025-06-02", "type": "ACTUAL"},
                    },
                },
            }
        )
    return records


def config_head(folder: Path, registry: StandinRegistry) -> str:
    """The registry and database sections every benchmark's config starts with."""
    return f"""
[registry]
base_url = "{registry.url}"
min_interval_seconds = 0   # loopback: no pacing, so the figures show the monitor's own cost

[database]
url = "sqlite:///{folder / "monitor.db"}"
"""


def write_config(folder: Path, registry: StandinRegistry, ids: list[str]) -> Path:
    """`ids` watched, and the LDN search (churn.py's search term too)."""
    trials = ",\n".join(f'  "{i}"' for i in ids)
    config = folder / "config.toml"
    config.write_text(
        config_head(folder, registry)
        + f"""
[watch]
trials = [
{trials}
]

[[watch.searches]]
name = "Low-dose naltrexone"
term = "low dose naltrexone"
"""
    )
    return config


def measured(command: list[str], **options: object) -> tuple[dict[str, float], str]:
    """Run `command` under peak.py: its wall time, peak memory and exit code, and its stdout."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peak.py"), *command],
        capture_output=True,
        text=True,
        check=False,
        **options,  # type: ignore[call-overload]
    )
    figures = json.loads(done.stderr.strip().splitlines()[-1])
    if figures["exit"] != 0:
        raise SystemExit(f"{command[:4]} failed: {done.stdout} {done.stderr[-2000:]}")
    return figures, done.stdout


def run_check(config: Path, registry: StandinRegistry) -> Figures:
    before = len(registry.requests)
    figures, _ = measured(
        [sys.executable, "-m", "monitor", "--config", str(config), "check"],
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TRIAL_MONITOR_LOG_LEVEL": "WARNING"},
    )
    requests = registry.requests[before:]
    received = sum(r.response_bytes for r in requests)
    return Figures(len(requests), received, figures["seconds"], figures["peak_mb"])


def run_naive(registry: StandinRegistry, ids: list[str], limit: int, folder: Path) -> Figures:
    sample = ids[:limit]
    ids_file = folder / "ids.txt"
    ids_file.write_text("\n".join(sample))
    naive = ROOT / "benchmarks" / "naive.py"
    figures, out = measured([sys.executable, str(naive), registry.url, str(ids_file)])
    counted = json.loads(out)
    scale = len(ids) / len(sample)
    return Figures(
        round(counted["requests"] * scale),
        round(counted["bytes"] * scale),
        figures["seconds"] * scale,
        figures["peak_mb"],
        scaled=scale > 1,
    )


def measure(size: int, naive_limit: int) -> dict[str, Figures]:
    with StandinRegistry() as registry, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        registry.put_all(ldn_studies())
        registry.adopt(synthetic_studies(max(size - 2, 0)))
        ids = sorted(registry.studies)[:size]
        config = write_config(folder, registry, ids)
        results = {"baseline": run_check(config, registry)}
        results["unchanged"] = run_check(config, registry)
        for nct_id in ids[:: max(1, len(ids) // CHANGED)][:CHANGED]:
            registry.update(nct_id, lambda r: set_piece(r, "OverallStatus", "SUSPENDED"))
        results["10 changed"] = run_check(config, registry)
        results["naive, each cycle"] = run_naive(registry, ids, naive_limit, folder)
        return results


def table(all_results: dict[int, dict[str, Figures]]) -> str:
    lines = [
        "| watched | cycle | requests | bytes | wall time | peak memory | naive ÷ this: requests | bytes | time |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, results in all_results.items():
        naive = results["naive, each cycle"]
        mark = "~" if naive.scaled else ""
        for name, f in results.items():
            ratios = (
                f"{mark}{naive.requests / f.requests:,.0f}× | {mark}{naive.bytes / f.bytes:,.0f}× | "
                f"{mark}{naive.seconds / f.seconds:,.1f}×"
                if name != "naive, each cycle"
                else "— | — | —"
            )
            memory = f"{f.peak_mb:,.0f} MB" if f.peak_mb is not None else "—"
            lines.append(
                f"| {size:,} | {name} | {mark if name.startswith('naive') else ''}{f.requests:,} "
                f"| {_size(f.bytes)} | {f.seconds:,.2f} s | {memory} | {ratios} |"
            )
    return "\n".join(lines)


def _size(count: int) -> str:
    return f"{count / 1e6:,.2f} MB" if count >= 1e5 else f"{count / 1e3:,.1f} kB"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="2,1000,10000,100000")
    parser.add_argument("--naive-limit", type=int, default=10_000)
    args = parser.parse_args()
    all_results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        all_results[size] = measure(size, args.naive_limit)
        print(f"measured {size:,} watched", file=sys.stderr)
    print(table(all_results))


if __name__ == "__main__":
    main()
