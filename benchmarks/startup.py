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
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "sources" / "ctgov")]

from standin import StandinRegistry, ldn_studies  # noqa: E402

TARGET_SECONDS = 0.5


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
    with StandinRegistry() as registry, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        python = args.python or runtime_python(folder / "venv")
        registry.put_all(ldn_studies())
        config = folder / "config.toml"
        config.write_text(
            f'[registry]\nbase_url = "{registry.url}"\nmin_interval_seconds = 0\n'
            f'[database]\nurl = "sqlite:///{folder}/monitor.db"\n'
            '[watch]\ntrials = ["NCT04270877", "NCT02806440"]\n'
            '[[watch.searches]]\nname = "LDN"\nterm = "low dose naltrexone"\n',
            encoding="utf-8",
        )
        check = [python, "-m", "monitor", "--config", str(config), "check"]
        subprocess.run(check, cwd=folder, check=True, capture_output=True)  # the baseline
        before = len(registry.requests)
        figures = {
            "python -c pass": [timed([python, "-c", "pass"], folder) for _ in range(args.runs)],
            "import monitor.cli": [
                timed([python, "-c", "import monitor.cli"], folder) for _ in range(args.runs)
            ],
            "no-op check": [timed(check, folder) for _ in range(args.runs)],
        }
        asked = {r.path for r in registry.requests[before:]}
    print(f"{'':22}{'median':>9}{'min':>9}{'max':>9}   ({args.runs} runs each)")
    for name, times in figures.items():
        print(f"{name:22}{statistics.median(times):8.3f}s{min(times):8.3f}s{max(times):8.3f}s")
    noop = statistics.median(figures["no-op check"])
    verdict = "met" if noop < TARGET_SECONDS else "NOT met"
    print(f"\nno-op check target: under {TARGET_SECONDS} s wall: {verdict}")
    print(f"registry paths a no-op check asked for: {', '.join(sorted(asked))}")


if __name__ == "__main__":
    main()
