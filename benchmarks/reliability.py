"""The reliability report: what a probe of the whole command tries, with its figures. Every kill
point of tests/killpoints.py and rounds of random kills (tests/chaos.py), on SQLite and on
PostgreSQL; the fault stories of tests/run/test_trust.py, test_bad_answers.py, test_partial.py
and tests/sources/ctgov/test_real_registry.py; hostile
records through `trial-monitor check` into both databases and every digest part (tests/chaos.py),
and the hostile-record properties of tests/test_fuzz.py in this process with many more examples.

    .venv/bin/python benchmarks/reliability.py [--rounds 25] [--hostile 200] [--examples 2000]
                                               [--seed 1] [--no-postgres]

Exit 1 when a figure that must be 0 is not (changes lost, duplicates beyond the re-send window,
changes sent to a recipient they were not addressed to, crashes), or a fault story failed, or a
hostile input got through. Not part of the tests' pass/fail (the tests assert the same
guarantees on fewer cases); it prints figures; its output, saved as
benchmarks/results/reliability.md, is what docs/guarantees.md shows (scripts/docs).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As pytest's pythonpath (pyproject.toml): the tests' helpers and each source's stand-in.
sys.path[:0] = [str(ROOT / p) for p in ("tests", "tests/sources/ctgov", "tests/sources/pubmed")]

import test_fuzz  # noqa: E402
from chaos import Containment, Tally, chaos_round, check_span, contain  # noqa: E402
from conftest import postgres_schema  # noqa: E402
from hostile import records  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from killpoints import KILL_POINTS, Outcome, scenario  # noqa: E402

FAULT_STORIES = (
    "tests/run/test_trust.py",
    "tests/run/test_bad_answers.py",
    "tests/run/test_partial.py",
    "tests/sources/ctgov/test_real_registry.py",
)
PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
SQLITE, POSTGRES = "SQLite", "PostgreSQL"


# -- fixed kill points -------------------------------------------------------------------------


def kills(postgres: bool) -> list[tuple[str, Outcome]]:
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, point in enumerate(KILL_POINTS):
            folder = Path(tmp) / f"sqlite-{index}"
            url = f"sqlite:///{folder / 'data' / 'monitor.db'}"
            outcomes.append((SQLITE, scenario(folder, point, url)))
            if postgres:
                with postgres_schema() as pg_url:
                    outcomes.append((POSTGRES, scenario(Path(tmp) / f"pg-{index}", point, pg_url)))
    return outcomes


# -- random kills ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomKills:
    database: str
    rounds: int
    span: float  # seconds: kills fall uniformly between a process's start and this
    tally: Tally


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh database: a SQLite file in `folder`, or a new PostgreSQL schema."""
    if kind == POSTGRES:
        with postgres_schema() as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'data' / 'monitor.db'}"


def random_kills(kind: str, rounds: int, seed: int) -> RandomKills:
    rng = random.Random(f"{seed}/{kind}")  # reproducible choices; timing still varies
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        with database(kind, Path(tmp) / "span") as url:
            span = check_span(Path(tmp) / "span", url)
        for number in range(rounds):
            folder = Path(tmp) / f"round-{number}"
            with database(kind, folder) as url:
                tally += chaos_round(folder, url, rng, span)
    return RandomKills(kind, rounds, span, tally)


# -- fault stories -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    tried: int  # test cases run (each story on each database), skipped ones not counted
    passed: int
    skipped: int
    failed: list[str]
    seconds: float


def faults() -> Faults:
    """The fault stories, run by pytest in a process of their own."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "faults.xml"
        started = time.monotonic()
        run = subprocess.run(
            [*PYTEST, *FAULT_STORIES, f"--junitxml={report}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - started
        if not report.exists():  # pytest could not even collect them
            print(run.stdout[-2000:], run.stderr[-2000:], file=sys.stderr)
            return Faults(0, 0, 0, ["pytest wrote no report"], seconds)
        return _read_junit(report, seconds)


def _read_junit(report: Path, seconds: float) -> Faults:
    passed = skipped = 0
    failed = []
    for case in ET.parse(report).iter("testcase"):
        outcome = {child.tag for child in case}
        if "skipped" in outcome:
            skipped += 1
        elif outcome & {"failure", "error"}:
            failed.append(f"{case.get('classname', '')}::{case.get('name', '')}")
        else:
            passed += 1
    return Faults(passed + len(failed), passed, skipped, failed, seconds)


# -- hostile input -----------------------------------------------------------------------------


def hostile_cli(kind: str, examples: int) -> Containment:
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
        return contain(Path(tmp), url, examples)


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


# -- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Findings:
    fixed: list[tuple[str, Outcome]]
    random: list[RandomKills]
    faults: Faults
    hostile: dict[str, Containment]  # by database
    fuzz_tried: int
    fuzz_crashes: int  # a falsified property stops at its first counterexample: one each


def print_fixed(outcomes: list[tuple[str, Outcome]]) -> None:
    print("#### Fixed kill points\n")
    print(
        "| database | kill point | killed at that point | changes | lost | re-sent in the window | duplicates beyond it | crashes |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for kind, o in outcomes:
        where = "yes" if o.killed and o.at_point else "killed elsewhere" if o.killed else "no"
        print(
            f"| {kind} | {o.point} | {where} | {o.changes} | {o.lost} | {o.in_window} | {o.beyond_window} | {o.crashes} |"
        )
    at_point = sum(o.killed and o.at_point for _, o in outcomes)
    print(f"\nkill points tried: {len(outcomes)} ({at_point} killed at the point named)\n")


def print_random(results: list[RandomKills]) -> None:
    print("#### Random kills over the whole process\n")
    print(
        "| database | rounds | kills within (s) | kills | changes × recipients | lost | re-sent in the window | duplicates beyond it | to a recipient not addressed | crashes |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        t = r.tally
        print(
            f"| {r.database} | {r.rounds} | 0–{r.span:.2f} | {t.kills} | {t.pairs} | {t.lost} | {t.in_window} | {t.beyond} | {t.strays} | {t.crashes} |"
        )
    print()


def print_faults(f: Faults) -> None:
    print("#### Fault stories\n")
    print("| stories | tried | passed | skipped | seconds |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| {', '.join(FAULT_STORIES)} | {f.tried} | {f.passed} | {f.skipped} | {f.seconds:.0f} |"
    )
    for name in f.failed:
        print(f"\nFAILED {name}")
    print()


def print_hostile(hostile: dict[str, Containment], fuzz_tried: int, fuzz_crashes: int) -> None:
    print("#### Hostile records\n")
    print("| through | tried | contained | cycle exits 0 / 1 | digests read | crashes |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, c in hostile.items():
        print(
            f"| `check` on {kind} | {c.tried} | {c.contained} | {c.exits[0]} / {c.exits[1]} | {c.digests} | {c.crashes} |"
        )
    print(
        f"| normalize, diff, render in-process | {fuzz_tried} | {fuzz_tried - fuzz_crashes} | | | {fuzz_crashes} |"
    )
    for kind, c in hostile.items():
        for breach in c.breaches:
            print(f"\nGOT THROUGH on {kind}: {breach}")
    print()


def print_summary(f: Findings) -> bool:
    """The summary block; whether every figure that must be 0 is."""
    fixed = [o for _, o in f.fixed]
    random_ = sum((r.tally for r in f.random), Tally())
    lost = sum(o.lost for o in fixed) + random_.lost
    beyond = sum(o.beyond_window for o in fixed) + random_.beyond
    in_window = sum(o.in_window for o in fixed) + random_.in_window
    cli = {kind: c.tried for kind, c in f.hostile.items()}
    tried = sum(cli.values()) + f.fuzz_tried
    contained = sum(c.contained for c in f.hostile.values()) + f.fuzz_tried - f.fuzz_crashes
    crashes = (
        sum(o.crashes for o in fixed)
        + random_.crashes
        + sum(c.crashes for c in f.hostile.values())
        + f.fuzz_crashes
    )
    print("```")
    print(f"kills (fixed points and random):   {sum(o.killed for o in fixed) + random_.kills}")
    print(
        f"changes × recipients checked:       {random_.pairs}  (random kills; the fixed points checked {sum(o.changes for o in fixed)} changes)"
    )
    print(f"lost:                               {lost}  (must be 0)")
    print(f"duplicates beyond the window:       {beyond}  (must be 0)")
    print(f"re-sent with a new Message-ID:      {beyond}  (must be 0)")
    print(f"re-sent within the window:          {in_window}  (same Message-ID)")
    print(f"sent to a recipient not addressed:  {random_.strays}  (must be 0)")
    print(f"faults tried / passed:              {f.faults.tried} / {f.faults.passed}")
    through = ", ".join(f"{n} on {kind}" for kind, n in cli.items())
    print(
        f"hostile inputs tried / contained:   {tried} / {contained}  (through the CLI: {through}; in-process: {f.fuzz_tried})"
    )
    print(f"crashes:                            {crashes}  (must be 0)")
    print("```")
    return (
        lost == beyond == random_.strays == crashes == 0
        and not f.faults.failed
        and f.faults.tried > 0  # no story run is no proof (the paths moved once, unnoticed)
        and f.faults.passed == f.faults.tried
        and contained == tried
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=25, help="random-kill rounds per database")
    parser.add_argument("--hostile", type=int, default=200, help="hostile records per database")
    parser.add_argument("--examples", type=int, default=2000, help="hostile inputs per property")
    parser.add_argument("--seed", type=int, default=1, help="for the random kills")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    kinds = [SQLITE] if args.no_postgres else [SQLITE, POSTGRES]

    started = time.monotonic()
    # The tables as each part ends (on stderr, to follow a long run), and on stdout after the
    # summary, as docs/guarantees.md shows them.
    tables = io.StringIO()
    with contextlib.redirect_stdout(tables):
        fixed = kills(postgres=not args.no_postgres)
        print_fixed(fixed)
        print(tables.getvalue(), file=sys.stderr)
        random_ = [random_kills(kind, args.rounds, args.seed) for kind in kinds]
        print_random(random_)
        fault_stories = faults()
        print_faults(fault_stories)
        hostile = {kind: hostile_cli(kind, args.hostile) for kind in kinds}
        fuzz_tried, fuzz_crashes = fuzz(args.examples)
        print_hostile(hostile, fuzz_tried, fuzz_crashes)
    findings = Findings(fixed, random_, fault_stories, hostile, fuzz_tried, fuzz_crashes)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(
        f"Run on commit {commit or 'unknown'} in {time.monotonic() - started:.0f} s"
        f" ({', '.join(kinds)}).\n"
    )
    held = print_summary(findings)
    print("\n<details><summary>the tables</summary>\n")
    print(tables.getvalue().rstrip())
    print("\n</details>")
    sys.exit(0 if held else 1)


if __name__ == "__main__":
    main()
