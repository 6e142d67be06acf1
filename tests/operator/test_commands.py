"""The operator's commands: status, preview, send-test, history, health, migrate; operator
notices; secrets kept out of everything an operator or a log sees."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from conftest import DANISH, FINAL, World, body
from smtp import SmtpServer
from sqlalchemy import insert, select, text
from standin import Fault, set_piece

from monitor.cli import main
from monitor.sources.ctgov.client import RegistryClient
from monitor.sources.ctgov.tables import snapshots, trials
from monitor.store.db import make_engine, migrate, schema_revision
from monitor.store.journal import Journal
from monitor.store.schema import changes, cycles, deliveries, services

HEAD = "0016"  # the newest revision


def terminate_final(world: World) -> None:
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))


def test_status_shows_cycles_trials_and_unsent_changes(world: World) -> None:
    world.check()
    terminate_final(world)
    world.smtp.stop()
    assert world.check().code == 1
    run = world.command("status")
    assert run.code == 0
    out = run.out
    assert "Last cycles (2)" in out
    assert "delivery_failed: mail server 127.0.0.1" in out
    assert "Watched trials (2)" in out
    assert f"{FINAL}  Terminated · 99 (actual) · no results" in out
    assert f"{DANISH}  Completed · 58 (actual)" in out
    assert "Unsent changes (1)" in out
    assert f"{FINAL}  Status: Completed → Terminated" in out


def test_preview_renders_the_pending_digest_and_marks_nothing(world: World, tmp_path: Path) -> None:
    world.check()
    terminate_final(world)
    world.smtp.stop()
    world.check()
    html = tmp_path / "preview.html"
    run = world.command("preview", "--html", str(html))
    assert run.code == 0
    assert run.out.startswith("Subject: [LDN monitor] 1 trial changed — NCT04270877 now Terminated")
    assert "Status: Completed → Terminated" in run.out
    assert "Completed → <strong>Terminated</strong>" in html.read_text()
    world.smtp.start()
    assert world.check().code == 0
    [message] = world.messages  # preview took nothing away from the real digest
    assert "Completed → Terminated" in body(message)
    assert "no unsent changes" in world.command("preview").out


def test_previews_help_says_it_shows_what_is_recorded_not_what_the_next_cycle_sends(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["preview", "--help"])
    words = " ".join(capsys.readouterr().out.split())
    assert "show the changes recorded and not yet sent" in words
    assert "asks no source, so what the next cycle finds is not in it" in words


@pytest.mark.no_database
def test_send_test_reports_the_server_answer(world: World) -> None:
    run = world.command("send-test")
    assert run.code == 0
    assert "send-test: accepted for editor@example.org, desk@example.org" in run.out
    assert "OK: queued" in run.out
    [message] = world.messages
    assert message["Subject"] == "[LDN monitor] test message"
    assert "the mail settings work" in body(message)


@pytest.mark.no_database
def test_send_test_to_a_dead_server_is_one_line_and_exit_1(world: World) -> None:
    world.smtp.stop()
    run = world.command("send-test")
    assert run.code == 1
    assert run.err.startswith("trial-monitor: mail server 127.0.0.1:")
    assert len(run.err.strip().splitlines()) == 1


@pytest.mark.no_database
def test_send_test_without_email_settings_is_a_usage_error(world: World) -> None:
    world.email = False
    run = world.command("send-test")
    assert run.code == 2 and "send-test needs an [email] section" in run.err


def test_history_lists_snapshots_and_reported_changes(world: World) -> None:
    world.check()
    terminate_final(world)
    world.check()
    run = world.command("history", FINAL.lower())
    assert run.code == 0
    assert "Snapshots (2)" in run.out and "Reported changes (1)" in run.out
    assert "Status: Completed → Terminated  [sent " in run.out
    assert world.command("history", "NCT123").code == 2
    assert world.command("history", "NCT09999999").code == 1


def test_health_follows_the_schedule(world: World) -> None:
    world.extra = '\n[schedule]\ncron = "0 * * * *"\ntimezone = "UTC"\nhealth_grace_minutes = 10\njitter_seconds = 0\n'
    assert world.command("migrate").code == 0
    now = datetime.now(UTC)
    assert world.command("health").out.startswith("health: ok: no cycle has run yet, and none has")
    # A manual check that failed is not "no cycle has run".
    world.registry.fail_always(Fault.status(503))
    assert world.check().code == 1
    world.registry.fail_always(None)
    assert world.command("health").out == (
        "health: ok: no cycle has succeeded yet (the one that ran failed: see"
        " `trial-monitor status`), and none has been due\n"
    )
    with world.engine() as engine:
        Journal(engine).record_service_start(now - timedelta(hours=3), "host", 1)
    run = world.command("health")
    assert run.code == 1 and "unhealthy: no cycle has succeeded yet (the one that ran" in run.out
    assert "and one was due at" in run.out
    assert world.check().code == 0
    run = world.command("health")
    assert run.code == 0 and "ok: last successful cycle" in run.out
    with world.engine() as engine, engine.begin() as conn:  # the last success was long ago
        conn.execute(cycles.update().values(started_at=now - timedelta(hours=5)))
    run = world.command("health")
    assert run.code == 1 and "one was due at" in run.out


def test_a_database_from_the_first_revision_upgrades_without_losing_anything(world: World) -> None:
    engine = make_engine(world.database_url)
    migrate(engine, "0001")
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(cycles).values(id=1, started_at=now, finished_at=now, outcome="ok"))
        conn.execute(
            insert(trials).values(
                nct_id=FINAL, origin="watch", first_seen_at=now, latest_snapshot_id=1
            )
        )
        conn.execute(
            insert(snapshots).values(
                id=1, nct_id=FINAL, cycle_id=1, observed_at=now, found=True, title="FINAL",
                status="COMPLETED", enrollment_count=99, enrollment_type="ACTUAL",
                has_results=False, publications="[]", raw="{}",
            )
        )  # fmt: skip
        conn.execute(
            insert(changes).values(
                cycle_id=1, snapshot_id=1, nct_id=FINAL, kind="status",
                before="ACTIVE_NOT_RECRUITING", after="COMPLETED", detected_at=now,
            )
        )  # fmt: skip
        # And one change that had gone out already, by the delivery of the time.
        conn.execute(
            insert(deliveries).values(
                id=1, started_at=now, finished_at=now, state="sent", transport="smtp"
            )
        )
        conn.execute(
            insert(changes).values(
                id=2, cycle_id=1, snapshot_id=1, nct_id=FINAL, kind="enrollment",
                before="90 ESTIMATED", after="99 ACTUAL", detected_at=now,
            )
        )  # fmt: skip
        conn.execute(text("UPDATE changes SET delivery_id = 1 WHERE id = 2"))
        if engine.dialect.name == "postgresql":  # explicit ids above; move the sequences on
            for table, last in (("cycles", 1), ("snapshots", 1), ("changes", 2), ("deliveries", 1)):
                conn.execute(text(f"SELECT setval('{table}_id_seq', {last})"))
    current, head = schema_revision(engine)
    assert (current, head) == ("0001", HEAD)
    run = world.command("migrate")
    assert run.code == 0 and f"at revision {HEAD} (was 0001)" in run.out
    with engine.connect() as conn:
        assert conn.execute(select(snapshots.c.status)).scalars().all() == ["COMPLETED"]
        assert conn.execute(select(services)).all() == []
    world.trials = [FINAL]
    world.searches = []
    assert world.check().code == 0
    [message] = world.messages  # the change left unsent before the upgrade goes out
    assert "Active, not recruiting → Completed" in body(message)
    assert "99 (actual)" not in body(message)  # the one sent before is not sent again
    engine.dispose()


def test_with_auto_migrate_off_an_old_schema_is_a_clear_error(world: World) -> None:
    engine = make_engine(world.database_url)
    migrate(engine, "0001")
    engine.dispose()
    world.database_settings = "auto_migrate = false"
    for command in ("status", "check"):
        run = world.command(command)
        assert run.code == 1
        assert f"the database is at schema revision 0001, this version needs {HEAD}" in run.err
        assert "run `trial-monitor migrate`" in run.err


def test_operators_hear_once_that_the_monitor_fails_and_once_that_it_recovered(
    world: World,
) -> None:
    world.extra = "\n[alerts]\nafter_consecutive_failures = 2\n"
    world.email_extra = 'security = "none"\nops_recipients = ["ops@example.org"]\n'

    def check() -> int:
        return world.check().code

    assert check() == 0
    world.registry.fail_always(Fault.status(503))
    assert [check(), check(), check()] == [1, 1, 1]
    ops = [a for a in world.accepted if a.recipients == ["ops@example.org"]]
    assert len(ops) == 1
    assert ops[0].message["Subject"] == "[LDN monitor] monitor is failing: 2 cycles in a row"
    assert "HTTP 503" in body(ops[0].message)
    world.registry.fail_always(None)
    assert [check(), check()] == [0, 0]
    ops = [a for a in world.accepted if a.recipients == ["ops@example.org"]]
    assert [o.message["Subject"] for o in ops][1:] == ["[LDN monitor] monitor recovered"]
    # It says what really happened: nothing changed meanwhile, so nothing was delivered.
    recovered = body(ops[1].message)
    assert "nothing was lost, and there was nothing to deliver" in recovered
    assert "delivered" not in recovered.replace("nothing to deliver", "")
    # Content staff never got an operational message.
    assert all(a.recipients != ["editor@example.org", "desk@example.org"] for a in world.accepted)


def test_the_recovered_notice_says_the_digest_went_when_one_did(world: World) -> None:
    world.extra = "\n[alerts]\nafter_consecutive_failures = 1\n"
    world.email_extra = 'security = "none"\nops_recipients = ["ops@example.org"]\n'
    world.searches = []
    world.baseline()
    world.registry.fail_always(Fault.status(503))
    assert world.check().code == 1
    world.registry.fail_always(None)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    assert world.check().code == 0
    ops = [a.message for a in world.accepted if a.recipients == ["ops@example.org"]]
    assert [m["Subject"] for m in ops] == [
        "[LDN monitor] monitor is failing: its last cycle failed",
        "[LDN monitor] monitor recovered",
    ]
    for part in (body(ops[1]), body(ops[1], "html")):
        assert "It delivered 1 digest, with any changes kept during the failure." in part


PASSWORD = "pw-Zq8#never-show"


@pytest.fixture
def secure_smtp(tmp_path: Path) -> Iterator[tuple[SmtpServer, str]]:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = SmtpServer(security="starttls", ca=ca, password=PASSWORD).start()
    yield server, str(ca_file)
    server.stop()


def test_the_password_never_appears_in_output_logs_status_or_the_database(
    world: World, secure_smtp: tuple[SmtpServer, str], tmp_path: Path
) -> None:
    server, ca_file = secure_smtp
    world.smtp = server
    world.email_extra = f'security = "starttls"\nca_file = "{ca_file}"\nusername = "monitor"\n'
    secret_file = tmp_path / "smtp-password"
    seen: list[str] = []
    for password in (PASSWORD, "wrong-" + PASSWORD):
        secret_file.write_text(password + "\n")
        env = {
            "TRIAL_MONITOR_SMTP_PASSWORD_FILE": str(secret_file),
            "TRIAL_MONITOR_LOG_LEVEL": "DEBUG",
        }
        for args in (["check"], ["send-test"], ["status"]):
            process = world.spawn(*args, env=env)
            out, err = process.communicate(timeout=60)
            seen += [out, err]
        terminate_final(world)
    assert server.recorder.logins, seen  # the right password did log in
    assert any("535" in text_ for text_ in seen)  # the wrong one was refused, and said so
    dump = "\n".join(seen)
    assert PASSWORD not in dump
    engine = make_engine(world.database_url)
    with engine.connect() as conn:
        for table in ("cycles", "deliveries", "changes", "snapshots", "notices"):
            rows = conn.execute(text(f"SELECT * FROM {table}")).all()
            assert PASSWORD not in repr(rows)
    engine.dispose()


def test_a_traceback_never_shows_the_password(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug's traceback goes through the log handler, which blanks the secret out of the
    exception's text too, in either log format."""
    world.email_extra = 'security = "none"\nusername = "monitor"\n'
    monkeypatch.setenv("TRIAL_MONITOR_SMTP_PASSWORD", PASSWORD)

    async def broken(self: RegistryClient) -> str:
        raise RuntimeError(f"a bug that quotes the password {PASSWORD!r}")

    monkeypatch.setattr(RegistryClient, "data_timestamp", broken)
    for log_format, trace in (
        ("text", "Traceback (most recent call last)"),
        ("json", '"exception"'),
    ):
        monkeypatch.setenv("TRIAL_MONITOR_LOG_FORMAT", log_format)
        run = world.check()
        assert run.code == 1, run
        assert trace in run.err and "a bug that quotes the password" in run.err, run.err
        assert PASSWORD not in run.err + run.out
