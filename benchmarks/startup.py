"""Start-up: the wall time of a `trial-monitor check` that stops at /version (the registry's data
unchanged since the last cycle), beside `python -c pass` and the import of the command alone.

The stand-in registry runs in this process on loopback; each `check` is its own process, as
cron or the container's scheduler would start it, on SQLite with the outbox (the shipped
defaults). The first `check` (the baseline, and the schema made) is not counted.

    .venv/bin/python benchmarks/startup.py [--runs 15] [--python PATH]

The monitor runs in a virtualenv made for the purpose with `pip install .` (the runtime
dependencies only, as the container has them: the development venv holds more, trio for one,
which httpcore imports when it finds it); `--python` names another interpreter to time.

Not part of the tests' pass/fail: it prints figures; its output, saved as
benchmarks/results/startup.txt, is what docs/costs.md shows (scripts/docs).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT / "tests"),
    str(ROOT / "tests" / "sources" / "ctgov"),
    str(ROOT / "tests" / "sources" / "pubmed"),
]

from pubmed_standin import StandinPubmed, ldn_world  # noqa: E402
from standin import StandinRegistry, ldn_studies  # noqa: E402

TARGET_SECONDS = 0.5
# Issue 22's goals, as ratios on the same machine: the no-op check against the imports no
# cycle can do without, and the literature side on (PubMed read within min_interval_hours:
# left alone) against it off.
IMPORT_RATIO, LITERATURE_RATIO = 1.5, 1.2


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def runtime_python(venv: Path) -> str:
    """A fresh virtualenv with this checkout installed as a deployment installs it."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(ROOT)], check=True, capture_output=True
    )
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--python", help="an interpreter with trial-monitor installed")
    args = parser.parse_args()
    with (
        StandinRegistry() as registry,
        StandinPubmed() as pubmed,
        tempfile.TemporaryDirectory() as tmp,
    ):
        folder = Path(tmp)
        python = args.python or runtime_python(folder / "venv")
        registry.put_all(ldn_studies())
        pubmed.put(*ldn_world())
        watch = (
            f'[registry]\nbase_url = "{registry.url}"\nmin_interval_seconds = 0\n'
            '[watch]\ntrials = ["NCT04270877", "NCT02806440"]\n'
            '[[watch.searches]]\nname = "LDN"\nterm = "low dose naltrexone"\n'
        )
        config = folder / "config.toml"
        config.write_text(
            watch + f'[database]\nurl = "sqlite:///{folder}/monitor.db"\n', encoding="utf-8"
        )
        literature = folder / "literature.toml"
        literature.write_text(
            watch.replace("[watch]\n", '[watch]\npmids = ["32068870"]\n')
            + f'[database]\nurl = "sqlite:///{folder}/literature.db"\n'
            + f'[pubmed]\nbase_url = "{pubmed.url}"\n',
            encoding="utf-8",
        )
        check = [python, "-m", "monitor", "--config", str(config), "check"]
        with_pubmed = [python, "-m", "monitor", "--config", str(literature), "check"]
        for baseline in (check, with_pubmed):
            subprocess.run(baseline, cwd=folder, check=True, capture_output=True)
        before = len(registry.requests), len(pubmed.requests)
        floor = "import httpx, sqlalchemy"
        figures = {
            "python -c pass": [timed([python, "-c", "pass"], folder) for _ in range(args.runs)],
            floor: [timed([python, "-c", floor], folder) for _ in range(args.runs)],
            "import monitor.cli": [
                timed([python, "-c", "import monitor.cli"], folder) for _ in range(args.runs)
            ],
            "no-op check": [timed(check, folder) for _ in range(args.runs)],
            "literature on": [timed(with_pubmed, folder) for _ in range(args.runs)],
        }
        asked = {r.path for r in registry.requests[before[0] :]}
        pubmed_asked = len(pubmed.requests) - before[1]
    width = max(map(len, figures)) + 2
    print(f"{'':{width}}{'median':>9}{'min':>9}{'max':>9}   ({args.runs} runs each)")
    for name, times in figures.items():
        print(f"{name:{width}}{statistics.median(times):8.3f}s{min(times):8.3f}s{max(times):8.3f}s")
    noop = statistics.median(figures["no-op check"])
    verdict = "met" if noop < TARGET_SECONDS else "NOT met"
    print(f"\nno-op check target: under {TARGET_SECONDS} s wall: {verdict}")
    ratio = noop / statistics.median(figures[floor])
    verdict = "met" if ratio <= IMPORT_RATIO else "NOT met"
    print(f"no-op check / `{floor}`: {ratio:.2f}× (goal ≤ {IMPORT_RATIO}×): {verdict}")
    ratio = statistics.median(figures["literature on"]) / noop
    verdict = "met" if ratio <= LITERATURE_RATIO else "NOT met"
    print(f"literature on / off: {ratio:.2f}× (goal ≤ {LITERATURE_RATIO}×): {verdict}")
    print(f"registry paths a no-op check asked for: {', '.join(sorted(asked))}")
    print(f"PubMed requests of the no-op checks with the literature on: {pubmed_asked}")


if __name__ == "__main__":
    main()
