"""The README and docs/ cannot drift from the code: every sample message is what the shipped
config makes now, every block copied from a file (a sample, a benchmark's output) is that file,
every TOML example loads, every command and option they name exists, and every file they link
to is there."""

from __future__ import annotations

import contextlib
import io
import re
import tomllib
from pathlib import Path

import pytest
from docblocks import ROOT, blocks, documents, included
from docsamples import SAMPLES, generate

from monitor.cli import main
from monitor.core.errors import ConfigError
from monitor.house import parse_config

DOCS = documents()


def test_the_samples_are_what_the_shipped_config_makes_now() -> None:
    made = generate()
    kept = {p.name: p.read_text(encoding="utf-8") for p in SAMPLES.iterdir()}
    assert sorted(kept) == sorted(made), "run scripts/docs"
    for name, text in made.items():
        assert kept[name] == text, f"docs/samples/{name} differs: run scripts/docs"


@pytest.mark.parametrize("document", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_block_made_from_a_file_is_that_file(document: Path) -> None:
    for path, body in blocks(document.read_text(encoding="utf-8")):
        assert body == included(path), f"{path} in {document.name}: run scripts/docs"


def test_the_documentation_shows_the_samples_and_every_benchmark() -> None:
    shown = {path for d in DOCS for path, _ in blocks(d.read_text(encoding="utf-8"))}
    samples = {f"docs/samples/{p.name}" for p in SAMPLES.glob("*.txt")}
    results = {f"benchmarks/results/{p.name}" for p in (ROOT / "benchmarks/results").iterdir()}
    assert samples - shown == set()
    assert results - shown == set()
    assert "docs/samples/article-check.txt" in dict(blocks((ROOT / "README.md").read_text()))


# A config each TOML example is read into: an article that cites one trial, so that an example
# of one section (a route, [email]) is a whole config, as a user would paste it into theirs.
BASE = {"articles": [{"title": "An article", "trials": ["NCT04270877"]}]}
ENVIRON = {"TRIAL_MONITOR_SMTP_PASSWORD": "x"}


def toml_examples() -> list[tuple[str, str]]:
    found = []
    for document in DOCS:
        text = document.read_text(encoding="utf-8")
        for n, block in enumerate(re.findall(r"^```toml\n(.*?)^```", text, re.S | re.M)):
            found.append((f"{document.relative_to(ROOT)}#{n + 1}", block))
    return found


@pytest.mark.parametrize(("where", "block"), toml_examples(), ids=lambda v: v)
def test_every_toml_example_loads_as_a_config(where: str, block: str) -> None:
    data = tomllib.loads(block)
    try:
        parse_config({**BASE, **data}, ENVIRON, where)
    except ConfigError as exc:
        pytest.fail(f"{where}: {exc}")


def test_there_are_toml_examples_to_load() -> None:
    assert len(toml_examples()) >= 3


def commands_named() -> set[tuple[str, tuple[str, ...]]]:
    """Each `trial-monitor COMMAND [--option …]` the documents name, in code or in a table
    (a command begins a line or a code span: "Sent by trial-monitor on …" is prose)."""
    named = set()
    for document in DOCS:
        text = document.read_text(encoding="utf-8")
        for match in re.finditer(
            r"(?:^|`|\$ )trial-monitor((?: --config [^ `]+)?) ([a-z][a-z-]+)([^`\n|]*)",
            text,
            re.M,
        ):
            command, rest = match[2], match[3]
            named.add((command, tuple(re.findall(r"(--[a-z][a-z-]*)", rest))))
        # The commands tables (| command | …): | `verify [--all]` | …, a cell naming several.
        for table in re.findall(r"^\| command \|.*?\n\n", text, re.S | re.M):
            for cell in re.findall(r"^\| ([^|]+) \|", table, re.M)[2:]:
                for match in re.finditer(r"`([a-z][a-z-]+)((?: [^`]*)?)`", cell):
                    named.add((match[1], tuple(re.findall(r"(--[a-z][a-z-]*)", match[2]))))
    return named


def help_of(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return out.getvalue()


def test_every_command_and_option_the_documents_name_exists() -> None:
    commands = set(re.findall(r"^    ([a-z][a-z-]+) ", help_of(), re.M))
    named = commands_named()
    missing = {c for c, _ in named} - commands - {"trial-monitor"}
    assert "check" in commands and "findings" in commands
    assert missing == set(), f"named in the documents, not a command: {missing}"
    for command, options in named:
        if not options:
            continue
        text = help_of(command)
        for option in options:
            assert option in text, f"trial-monitor {command} has no {option}"


def test_every_file_the_documents_link_to_is_there() -> None:
    for document in DOCS:
        text = document.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert (document.parent / target).exists(), f"{document.name} links to {target}"
        for target in re.findall(r'<img src="([^"]+)"', text):
            assert (document.parent / target).exists(), f"{document.name} shows {target}"


def test_the_editors_page_gives_the_article_checks_limits_as_the_code_has_them() -> None:
    from monitor.editorial.checkview import FINDINGS_SHOWN, TRIALS_SHOWN

    text = " ".join((ROOT / "docs" / "editors.md").read_text(encoding="utf-8").split())
    assert f"at most {FINDINGS_SHOWN} findings and {TRIALS_SHOWN} trials are written out" in text
