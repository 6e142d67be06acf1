"""A kind that a module forgets is a type error, not a wrong email.

Every enum the monitor switches on (kinds of change, claim fields, categories, importances,
cycle outcomes, plan modes, mail security) gets one new member in a copy of the package, and
mypy, run on the copy, must reject each module that switches on that enum: its `match` no
longer covers every case, so its `assert_never` gets a value. Without the exhaustive matches
(an if-chain with a default, a dict lookup) this test fails.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENUMS = {
    # enum: (where it is declared, the switches on it that must reject a new member: at least
    # this many per module, so that one losing its assert_never is caught even beside others)
    "ChangeKind": (
        "core/models.py",
        {
            "core/importance.py": 1,
            "editorial/words/changes.py": 2,
            "editorial/words/articles.py": 1,
        },
    ),
    "Category": ("core/models.py", {"core/importance.py": 1, "editorial/words/digest.py": 2}),
    "Importance": ("core/models.py", {"editorial/words/digest.py": 1}),
    "Relation": ("core/models.py", {"core/importance.py": 1, "editorial/words/digest.py": 2}),
    "Outcome": ("core/models.py", {"store/journal.py": 1, "commands.py": 1}),
    "ClaimField": (
        "core/claims.py",
        {"core/claims.py": 3, "settings/configarticles.py": 1, "editorial/words/claims.py": 2},
    ),
    "Agreement": (
        "core/claims.py",
        {
            "sources/ctgov/claims.py": 1,
            "editorial/words/claims.py": 1,
            "editorial/words/articles.py": 1,
        },
    ),
    "PlanMode": ("sources/ctgov/plan.py", {"sources/ctgov/reading.py": 1}),
    "Security": ("delivery/email/settings.py", {"delivery/email/transport.py": 1}),
    "RegistryTransport": ("sources/ctgov/settings.py", {"sources/ctgov/client.py": 1}),
    "State": ("core/checkup.py", {"operator/doctor.py": 1}),
    "NoticeKind": ("core/models.py", {"editorial/words/changes.py": 2}),
    "PaperRole": ("core/models.py", {"editorial/words/changes.py": 1}),
}


def with_new_member(source: str, enum: str) -> str:
    """`source` with a member FORGOTTEN added to `enum`, after its docstring."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"class {enum}(StrEnum):"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].rstrip().endswith('"""'))
    lines.insert(end + 1, f'    FORGOTTEN = "forgotten_{enum.lower()}"')
    return "\n".join(lines) + "\n"


def switches(package: Path, enum: str) -> Counter[str]:
    """Per module, the `match` statements on the enum that end in `case _: assert_never(…)`:
    each is a promise that a new member is a type error there."""
    found: Counter[str] = Counter()
    for path in package.glob("**/*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Match) and _on(node, enum) and _exhaustive(node):
                found[path.relative_to(package).as_posix()] += 1
    return found


def _on(match: ast.Match, enum: str) -> bool:
    return any(
        isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == enum
        for case in match.cases
        for n in ast.walk(case.pattern)
    )


def _exhaustive(match: ast.Match) -> bool:
    last = match.cases[-1]
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "assert_never"
        for n in ast.walk(last)
    )


def test_mypy_rejects_every_switch_that_forgets_a_new_kind(tmp_path: Path) -> None:
    package = tmp_path / "monitor"
    shutil.copytree(ROOT / "monitor", package, ignore=shutil.ignore_patterns("__pycache__"))
    for enum, (module, _) in ENUMS.items():
        path = package / module
        path.write_text(with_new_member(path.read_text(), enum))
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")),
            *("--cache-dir", str(tmp_path / "cache"), "--no-error-summary", str(package)),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    report = result.stdout
    for enum, (_, required) in ENUMS.items():
        expected = switches(ROOT / "monitor", enum)
        assert all(expected[m] >= n for m, n in required.items()), (enum, expected)
        # One error per switch: a switch that lost its assert_never is missed even where the
        # same module has another that still has it.
        rejected = Counter(
            (tmp_path / line.split(":", 1)[0]).relative_to(package).as_posix()
            for line in report.splitlines()
            if f'"assert_never" has incompatible type "Literal[{enum}.FORGOTTEN]"' in line
        )
        assert rejected == expected, (enum, report)
