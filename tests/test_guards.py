"""The instrument that proves the guards (benchmarks/guards.py) counts a guard as caught only
when its tests were collected, passed as written, ran and failed without it: never a run that
could not start (no pytest, no test selected, the edit breaking an import)."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from guards import ROOT, Guard, Verdict, try_guard

GUARDED = "def guarded() -> bool:\n    return True\n"
TEST = "from guarded import guarded\n\n\ndef test_guarded() -> None:\n    assert guarded()\n"


@pytest.fixture
def module(tmp_path: Path) -> Path:
    """A guarded module of its own and its test, so that no guard of the monitor's is touched."""
    (tmp_path / "guarded.py").write_text(GUARDED)
    (tmp_path / "test_guarded.py").write_text(TEST)
    return tmp_path


def guard(module: Path, replacement: str, *tests: str) -> Guard:
    return Guard(
        "a toy guarantee",
        ((str(module / "guarded.py"), "    return True\n", replacement),),
        tests or (str(module / "test_guarded.py"),),
    )


def test_a_guard_whose_test_fails_without_it_is_caught_and_put_back(module: Path) -> None:
    trial = try_guard(guard(module, "    return False\n"))
    assert trial.verdict is Verdict.CAUGHT, trial
    assert (module / "guarded.py").read_text() == GUARDED


def test_a_guard_whose_test_still_passes_is_missed(module: Path) -> None:
    trial = try_guard(guard(module, "    return 1 == 1\n"))
    assert trial.verdict is Verdict.MISSED, trial


def test_no_test_selected_is_a_run_that_could_not_start(module: Path) -> None:
    trial = try_guard(guard(module, "    return False\n", str(module), "-k", "nothing_matches"))
    assert trial.verdict is Verdict.NOT_RUN and "pytest exit 5" in trial.detail, trial


def test_an_edit_that_breaks_the_import_is_not_a_catch(module: Path) -> None:
    trial = try_guard(guard(module, "    return (\n"))  # a syntax error: collection fails
    assert trial.verdict is Verdict.NOT_RUN, trial
    assert "error" in trial.detail or "exit" in trial.detail, trial
    assert (module / "guarded.py").read_text() == GUARDED


def test_without_pytest_nothing_is_caught_and_the_script_exits_1(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)  # a Python without the test dependencies
    run = subprocess.run(
        [
            str(bare / "bin" / "python"),
            str(ROOT / "benchmarks" / "guards.py"),
            "--only",
            "STARTTLS",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run
    assert "**could not run**: pytest exit 1" in run.stdout, run.stdout
    assert "No module named pytest" in run.stdout
    assert "0 of 1 guards removed were caught by their tests; 1 could not be tried" in run.stdout
