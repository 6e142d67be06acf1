"""The operator's first hour and every night after: a fresh install's read-only commands, the
dead-man's switch, `status --json`, secrets kept out of config.toml and out of errors, and one
line (never a traceback) for every expected failure. Through the public commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DANISH, FINAL, ROOT, World
from pings import Receiver
from smtp import free_port
from standin import Fault, add_reference, set_piece, study

from monitor.cli import main
from monitor.store.db import current_revision

# -- a fresh install -----------------------------------------------------------------------------


def test_a_read_only_command_never_makes_a_database_and_says_which_it_looked_for(
    world: World,
) -> None:
    """Run from the wrong folder (or before the first cycle), `status` must not report on an
    empty database of its own making."""
    for args in (("status",), ("preview",), ("history", FINAL), ("health",), ("findings",)):
        run = world.command(*args)
        assert run.code == 1, (args, run)
        [line] = run.err.splitlines()
        assert line.startswith("trial-monitor: no database at "), line
        assert "(database.url): this command reads one and never makes one" in line
        assert "Traceback" not in run.err
    if world.database_url.startswith("sqlite"):
        path = Path(world.database_url.split("///", 1)[1]).absolute()
        assert f"no database at {path} " in line
        assert not path.exists() and not path.parent.exists()  # not even its folder
    else:
        with world.engine() as engine:
            assert current_revision(engine) is None  # no schema was made


def test_every_read_only_command_works_on_a_new_database_and_says_no_cycle_ran(
    world: World,
) -> None:
    assert world.command("migrate").code == 0
    status = world.command("status")
    assert status.code == 0, status
    assert "no cycle has run yet" in status.out
    preview = world.command("preview")
    assert preview.code == 0 and "no cycle has run yet" in preview.out, preview
    history = world.command("history", FINAL)
    assert history.code == 0 and "no cycle has run yet" in history.out, history
    health = world.command("health")
    assert health.code == 0 and "no cycle has run yet" in health.out, health
    for run in (status, preview, history, health):
        assert "auto_migrate" not in run.out + run.err and "Traceback" not in run.err
    assert world.check().code == 0


# -- status, for people and for scripts ---------------------------------------------------------


ARTICLE = f"""
[[articles]]
title = "Low-dose naltrexone"
trials = ["{FINAL}"]
"""


def test_status_names_where_each_trial_came_from_and_its_pmids_in_text_and_json(
    world: World,
) -> None:
    world.extra = ARTICLE  # FINAL: in watch.trials and in an article; DANISH: watch.trials only
    world.registry.update(FINAL, lambda r: add_reference(r, "38258677", "RESULT", "Lancet."))
    world.registry.put(study("NCT06100009", template="ldn_nct02806440.json"))
    assert world.check().code == 0
    text = world.command("status")
    assert text.code == 0
    lines = text.out.splitlines()
    final = next(i for i, line in enumerate(lines) if line.startswith(f"  {FINAL}"))
    assert lines[final + 1] == (
        "    from watch.trials, article “Low-dose naltrexone”, search “Low-dose naltrexone”;"
        " PMIDs 38258677"
    )
    found = next(i for i, line in enumerate(lines) if line.startswith("  NCT06100009"))
    assert lines[found + 1] == "    from search “Low-dose naltrexone”"
    as_json = world.command("status", "--json")
    assert as_json.code == 0
    report = json.loads(as_json.out)
    trials = {t["nct_id"]: t for t in report["trials"]}
    assert trials[FINAL]["sources"] == [
        "watch.trials",
        "article “Low-dose naltrexone”",
        "search “Low-dose naltrexone”",
    ]
    assert trials[FINAL]["pmids"] == ["38258677"]
    assert trials[FINAL]["status"] == "COMPLETED" and trials[FINAL]["enrollment"] == "99 ACTUAL"
    assert trials[DANISH]["sources"][0] == "watch.trials"
    assert trials["NCT06100009"]["sources"] == ["search “Low-dose naltrexone”"]
    assert report["cycles"][0]["outcome"] == "ok" and report["unsent"] == []


# -- the dead-man's switch ----------------------------------------------------------------------


def test_each_cycle_pings_the_url_on_success_and_url_fail_on_failure(
    world: World, receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    world.extra = f'\n[alerts]\nping_url = "{url}"\n'
    assert world.check().code == 0
    world.registry.fail_always(Fault.status(503))
    assert world.check().code == 1
    [ok, failed] = handler.received
    assert ok[:2] == ("POST", "/ping/5f1c") and ok[2].startswith("check: checked 2 trial")
    assert failed[:2] == ("POST", "/ping/5f1c/fail") and "FAILED" in failed[2]


@pytest.mark.no_database
def test_a_ping_that_fails_is_logged_and_never_fails_the_cycle(
    world: World, receiver: tuple[str, type[Receiver]], caplog: pytest.LogCaptureFixture
) -> None:
    url, handler = receiver
    handler.answer = 500
    world.extra = f'\n[alerts]\nping_url = "{url}"\n'
    assert world.check().code == 0
    assert "answered HTTP 500; the cycle itself is unaffected" in caplog.text
    world.extra = f'\n[alerts]\nping_url = "http://127.0.0.1:{free_port()}/ping/5f1c"\n'
    assert world.check().code == 0
    assert "connection refused" in caplog.text
    assert "5f1c" not in caplog.text  # the URL's secret path is never logged


# -- secrets stay out of config.toml and out of errors ------------------------------------------


SECRET = "hunter2-Zq8"


@pytest.mark.no_database
@pytest.mark.parametrize(
    ("where", "line", "key"),
    [
        ("email", f'password = "{SECRET}"', "email.password"),
        ("email", f'smtp_password = "{SECRET}"', "email.smtp_password"),
        (
            "database",
            f'url = "postgresql://monitor:{SECRET}@db.example.org/monitor"',
            "database.url",
        ),
    ],
)
def test_a_password_in_the_config_file_is_an_error_that_never_shows_it(
    world: World, where: str, line: str, key: str
) -> None:
    if where == "email":
        world.email_extra = f'security = "none"\n{line}\n'
    else:
        world.database_settings = line
    run = world.check()
    assert run.code == 2, run
    assert key in run.err and SECRET not in run.err + run.out
    assert len(run.err.strip().splitlines()) == 1


# -- one line for every expected failure --------------------------------------------------------


def test_preview_html_into_a_missing_folder_or_onto_a_folder_is_one_line(
    world: World, tmp_path: Path
) -> None:
    world.searches = []
    world.baseline()
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.smtp.stop()  # the change is found and kept, unsent
    assert world.check().code == 1
    for target in (tmp_path / "missing" / "digest.html", tmp_path):
        run = world.command("preview", "--html", str(target))
        assert run.code == 2, run
        assert "Traceback" not in run.err and len(run.err.strip().splitlines()) == 1
        assert str(target) in run.err
    written = world.command("preview", "--html", str(tmp_path / "digest.html"))
    assert written.code == 0 and "Terminated" in (tmp_path / "digest.html").read_text()


@pytest.mark.no_database
def test_a_sqlite_folder_that_cannot_be_made_is_one_line(world: World, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    world.database_url = f"sqlite:///{blocker}/monitor.db"
    for command, said in (("check", "cannot be created"), ("status", "no database at")):
        run = world.command(command)
        assert run.code == 1, run
        assert "Traceback" not in run.err and len(run.err.strip().splitlines()) == 1
        assert said in run.err


@pytest.mark.no_database
@pytest.mark.parametrize(
    "args",
    [
        ["history"],
        ["history", "NCT1", "NCT2"],
        ["preview", "--html"],
        ["status", "--jsn"],
        ["nope"],
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("trial-monitor: ") and "--help" in err


@pytest.mark.no_database
def test_an_unreachable_registry_names_the_url_and_the_failure_and_says_so_fast(
    world: World,
) -> None:
    port = free_port()
    world.registry_settings = f'base_url = "http://127.0.0.1:{port}/api/v2"\nbackoff_seconds = 1'
    started = time.monotonic()
    run = world.check()
    took = time.monotonic() - started
    assert run.code == 1
    line = next(line for line in run.out.splitlines() if "FAILED" in line)
    assert f"http://127.0.0.1:{port}/api/v2/version" in line and "connection refused" in line
    assert "(after 2 attempts)" in line
    assert took < 5  # two tries, one second apart: not five tries over half a minute


# -- a quick start --------------------------------------------------------------------------------


@pytest.mark.no_database
def test_a_check_that_stops_at_version_imports_only_what_it_needs(world: World) -> None:
    """The start-up figure (benchmarks/startup.py) rests on this: a no-op cycle never loads the
    templates, the mail client, the scheduler or the migrations (nor, with the literature side
    off, PubMed's client and XML parser)."""
    world.searches = []
    world.baseline()
    before = len(world.registry.requests)
    found = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "monitor",
            "--config",
            str(world.config_path),
            "check",
        ],
        capture_output=True,
        text=True,
        cwd=world.tmp,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert "nothing to send" in found.stdout
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in found.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert imported.isdisjoint({"jinja2", "aiosmtplib", "alembic", "defusedxml"}), imported
    assert "monitor.sources.pubmed.reading" not in found.stderr
    assert "apscheduler.schedulers" not in found.stderr
    assert [r.path for r in world.registry.requests[before:]] == ["/api/v2/version"]


# -- a closed pipe --------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [("status", "--json"), ("status",), ("verify",)])
def test_a_reader_that_goes_away_ends_the_command_quietly(
    world: World, args: tuple[str, ...]
) -> None:
    """`trial-monitor status --json | head -1`: the pipe closes before the output is written."""
    world.baseline()
    process = world.spawn(*args)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the command has printed anything
    with process.stderr:
        err = process.stderr.read()
    assert process.wait(timeout=60) == 0, err
    assert err == ""
