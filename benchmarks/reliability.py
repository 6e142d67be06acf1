"""The reliability report: kill points tried, changes lost, duplicates beyond the documented
window, hostile inputs tried, crashes. Every kill point of tests/killpoints.py on SQLite and on
PostgreSQL, then the hostile-record properties of tests/test_fuzz.py with many more examples.

    .venv/bin/python benchmarks/reliability.py [--examples 2000] [--no-postgres]

Not part of the tests' pass/fail (the tests assert the same guarantees on fewer cases); it
prints figures, and the README keeps the latest.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import test_fuzz  # noqa: E402
from conftest import postgres_schema  # noqa: E402
from hostile import records  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from killpoints import KILL_POINTS, Outcome, scenario  # noqa: E402


def kills(postgres: bool) -> list[tuple[str, Outcome]]:
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, point in enumerate(KILL_POINTS):
            folder = Path(tmp) / f"sqlite-{index}"
            url = f"sqlite:///{folder / 'data' / 'monitor.db'}"
            outcomes.append(("SQLite", scenario(folder, point, url)))
            if postgres:
                with postgres_schema() as pg_url:
                    outcomes.append(
                        ("PostgreSQL", scenario(Path(tmp) / f"pg-{index}", point, pg_url))
                    )
    return outcomes


def fuzz(examples: int) -> tuple[int, int]:
    """Hostile records through normalize, diff and render; returns (inputs tried, crashes)."""
    checks: list[Callable[..., None]] = [
        test_fuzz.check_normalize,
        test_fuzz.check_changes_are_in_the_data,
        test_fuzz.check_render,
    ]
    tried = crashes = 0
    for check in checks:
        count, failed = _explore(check, examples)
        tried, crashes = tried + count, crashes + failed
    return tried, crashes


def _explore(check: Callable[..., None], examples: int) -> tuple[int, int]:
    tried = 0
    one_record = check.__code__.co_argcount == 1

    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(records(), records())
    def run(old: dict[str, object], new: dict[str, object]) -> None:
        nonlocal tried
        tried += 1
        if one_record:
            check(old)
        else:
            check(old, new)

    try:
        run()
    except Exception as exc:  # a falsified property: reported as a crash
        print(f"FAILED {check.__name__}: {exc}", file=sys.stderr)
        return tried, 1
    return tried, 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=2000, help="hostile inputs per property")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    outcomes = kills(postgres=not args.no_postgres)
    print(
        "| database | kill point | killed at that point | changes | lost | re-sent in the window | duplicates beyond it | crashes |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for database, o in outcomes:
        where = "yes" if o.killed and o.at_point else "killed elsewhere" if o.killed else "no"
        print(
            f"| {database} | {o.point} | {where} | {o.changes} | {o.lost} | {o.in_window} | {o.beyond_window} | {o.crashes} |"
        )
    tried, fuzz_crashes = fuzz(args.examples)
    print()
    print(
        f"kill points tried:                  {len(outcomes)} ({sum(o.killed and o.at_point for _, o in outcomes)} killed at the point named)"
    )
    print(f"changes lost:                       {sum(o.lost for _, o in outcomes)}  (must be 0)")
    print(
        f"duplicates beyond the window:       {sum(o.beyond_window for _, o in outcomes)}  (must be 0)"
    )
    print(
        f"re-sent within the window:          {sum(o.in_window for _, o in outcomes)}  (same Message-ID)"
    )
    print(f"hostile inputs tried:               {tried}")
    print(
        f"crashes:                            {sum(o.crashes for _, o in outcomes) + fuzz_crashes}  (must be 0)"
    )


if __name__ == "__main__":
    main()
