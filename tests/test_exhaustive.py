"""A kind that a module forgets is a type error, not a wrong email.

Every enum the monitor switches on (kinds of change, claim fields, categories, importances,
cycle outcomes, plan modes, mail security) gets one new member in a copy of the package, and
mypy, run on the copy, must reject each module that switches on that enum: its `match` no
longer covers every case, so its `assert_never` gets a value. Without the exhaustive matches
(an if-chain with a default, a dict lookup) this test fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# enum → (the module that defines it, the modules that must switch on it at the least)
ENUMS = {
    "ChangeKind": ("models.py", {"importance.py", "words.py"}),
    "Category": ("models.py", {"importance.py", "words.py"}),
    "Importance": ("models.py", {"words.py"}),
    "Relation": ("models.py", {"importance.py", "words.py"}),
    "Outcome": ("models.py", {"journal.py"}),
    "ClaimField": ("claims.py", {"claims.py", "configarticles.py", "words.py"}),
    "Agreement": ("claims.py", {"store.py", "words.py"}),
    "PlanMode": ("plan.py", {"poll.py"}),
    "Security": ("config.py", {"deliver.py"}),
    "RegistryTransport": ("config.py", {"registry.py"}),
}


def with_new_member(source: str, enum: str) -> str:
    """`source` with a member FORGOTTEN added to `enum`, after its docstring."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"class {enum}(StrEnum):"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].rstrip().endswith('"""'))
    lines.insert(end + 1, f'    FORGOTTEN = "forgotten_{enum.lower()}"')
    return "\n".join(lines) + "\n"


def switches(package: Path, enum: str) -> set[str]:
    """The modules that `match` on the enum."""
    return {
        path.name
        for path in package.glob("*.py")
        if re.search(rf"^\s+case (\(\s*)?{enum}\.", path.read_text(), re.MULTILINE)
    }


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
        expected = switches(ROOT / "monitor", enum) | required
        rejected = {
            Path(line.split(":", 1)[0]).name
            for line in report.splitlines()
            if f'"assert_never" has incompatible type "Literal[{enum}.FORGOTTEN]"' in line
        }
        assert rejected == expected, (enum, report)
