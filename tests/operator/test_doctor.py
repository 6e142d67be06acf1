"""`trial-monitor doctor`: one line per check, each ok, warning or failed with what to do, against
the stand-in registry, real SMTP servers (plain, STARTTLS with a test CA, a refused login),
closed ports and real folders; and it changes nothing, sends nothing and retries nothing."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import trustme
from conftest import ROOT, Run, World
from pubmed_standin import Fault as PubmedFault
from smtp import SmtpServer, free_port
from sqlalchemy import text
from standin import Fault, StandinRegistry

from monitor.sources.ctgov.client import RegistryClient
from monitor.store.db import HEAD, migrate, schema_revision

NAMES = ["config", "database", "registry", "pubmed", "delivery", "schedule", "ping"]
PASSWORD = "pw-Doctor#7never-shown"


def lines(run: Run) -> dict[str, str]:
    """Each check's line by its name, after checking the shape: one line per check, then the
    summary, and no traceback from the monitor (the loopback SMTP server, in this process,
    logs its own side of a failed handshake)."""
    *checks, summary = run.out.strip().splitlines()
    assert [line[9:19].strip() for line in checks] == NAMES, run.out
    assert summary.startswith(f"{len(NAMES)} checks: "), run.out
    assert "Traceback" not in run.out and f"{ROOT}/monitor/" not in run.err, run.err
    return {line[9:19].strip(): line for line in checks}


def state(line: str) -> str:
    return line[:9].strip()


def doctor(world: World) -> tuple[Run, dict[str, str]]:
    run = world.command("doctor")
    return run, lines(run)


@dataclass
class Closed:
    """Where nothing listens: the URL a registry would have."""

    url: str


def closed_registry() -> StandinRegistry:
    # World only reads `url` from its registry.
    return cast(StandinRegistry, Closed(f"http://127.0.0.1:{free_port()}/api/v2"))


# -- everything ok -------------------------------------------------------------------------


def test_against_the_standin_and_a_plain_mail_server_every_check_is_ok(
    world: World, tmp_path: Path
) -> None:
    assert world.command("migrate").code == 0
    before = sorted(tmp_path.rglob("*"))
    run, found = doctor(world)
    assert run.code == 0, run.out
    assert {name: state(line) for name, line in found.items()} == dict.fromkeys(NAMES, "ok")
    assert f"{world.config_path} loaded" in found["config"]
    assert f"at schema revision {HEAD}, this version's" in found["database"]
    assert f"{world.registry.url}/version answered in " in found["registry"]
    assert f"(data as of {world.registry.data_timestamp})" in found["registry"]
    assert f"127.0.0.1:{world.smtp.port} plain SMTP" in found["delivery"]
    assert "not configured (optional" in found["ping"]
    assert "off: no PMID and no literature search" in found["pubmed"]
    assert run.out.strip().endswith("7 checks: 7 ok; nothing failed")
    # One request to the registry, no message, and not a file more or less (no -wal, no -shm).
    assert [r.path for r in world.registry.requests] == ["/api/v2/version"]
    assert world.smtp.messages == []
    assert sorted(tmp_path.rglob("*")) == before


# -- config --------------------------------------------------------------------------------


@pytest.mark.no_database
def test_a_config_error_fails_its_line_and_skips_the_other_checks(world: World) -> None:
    world.extra = "[schedul]\ncron = '0 * * * *'\n"
    run, found = doctor(world)
    assert run.code == 1
    assert state(found["config"]) == "failed" and "schedul" in found["config"]
    assert [state(found[name]) for name in NAMES[1:]] == ["skipped"] * 6
    assert world.registry.requests == []


@pytest.mark.no_database
def test_the_config_line_names_the_variables_that_add_to_it_but_never_their_values(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.email_extra = 'security = "none"\nusername = "monitor"\n'
    monkeypatch.setenv("TRIAL_MONITOR_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("TRIAL_MONITOR_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("TRIAL_MONITOR_CONFIG", str(world.config_path))
    run, found = doctor(world)
    assert "(named by TRIAL_MONITOR_CONFIG)" in found["config"]
    assert found["config"].endswith(
        "set in the environment: TRIAL_MONITOR_SMTP_PASSWORD, TRIAL_MONITOR_LOG_LEVEL"
    )
    assert PASSWORD not in run.out + run.err


# -- database ------------------------------------------------------------------------------


@pytest.mark.no_database
def test_a_fresh_sqlite_path_is_a_warning_and_nothing_is_created(
    world: World, tmp_path: Path
) -> None:
    world.database_url = f"sqlite:///{tmp_path / 'fresh' / 'data' / 'monitor.db'}"
    run, found = doctor(world)
    assert run.code == 0
    assert state(found["database"]) == "warning"
    assert "does not exist yet: the first `trial-monitor check` creates it" in found["database"]
    assert not (tmp_path / "fresh").exists()


@pytest.mark.no_database
def test_a_sqlite_path_that_cannot_be_created_fails(world: World, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where a folder should be")
    world.database_url = f"sqlite:///{tmp_path / 'taken' / 'data' / 'monitor.db'}"
    run, found = doctor(world)
    assert run.code == 1
    assert state(found["database"]) == "failed" and "cannot be created" in found["database"]
    assert f"{tmp_path / 'taken'} is a file, in the way" in found["database"]


@pytest.mark.parametrize("auto_migrate", [True, False])
def test_a_schema_behind_this_version_is_a_warning_unless_auto_migrate_is_off(
    world: World, auto_migrate: bool
) -> None:
    world.database_settings = f"auto_migrate = {str(auto_migrate).lower()}"
    with world.engine() as engine:
        migrate(engine, "0009")
    run, found = doctor(world)
    assert run.code == (0 if auto_migrate else 1)
    assert state(found["database"]) == ("warning" if auto_migrate else "failed")
    assert (
        f"schema revision 0009, this version's is {HEAD}: run `trial-monitor migrate`"
        in (found["database"])
    )
    with world.engine() as engine:
        assert schema_revision(engine)[0] == "0009"  # doctor did not migrate


def test_a_schema_newer_than_this_version_fails(world: World) -> None:
    with world.engine() as engine:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    run, found = doctor(world)
    assert run.code == 1
    assert f"schema revision 0099, newer than this version's {HEAD}" in found["database"]


@pytest.mark.no_database
def test_an_unreachable_postgresql_fails_in_one_line_without_its_password(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.database_url = f"postgresql+psycopg://monitor@127.0.0.1:{free_port()}/test"
    world.email = False
    world.extra = f'[outbox]\npath = "{world.tmp / "outbox"}"\n'
    monkeypatch.setenv("TRIAL_MONITOR_DATABASE_PASSWORD", PASSWORD)
    run, found = doctor(world)
    assert run.code == 1
    assert state(found["database"]) == "failed"
    assert "PostgreSQL test on 127.0.0.1" in found["database"]
    assert "TRIAL_MONITOR_DATABASE_URL" in found["database"]
    shown = run.out + run.err
    assert PASSWORD not in shown and quote(PASSWORD) not in shown  # as it is, and in a URL


# -- registry ------------------------------------------------------------------------------


@pytest.mark.no_database
def test_a_403_is_explained_as_a_refusal_at_once_without_the_minutes_of_retries(
    world: World,
) -> None:
    world.registry.fail_always(Fault.refused())
    world.registry_settings = "refused_backoff_seconds = 120\nrefused_retries = 2"
    started = time.monotonic()
    run, found = doctor(world)
    assert time.monotonic() - started < 20
    assert run.code == 1
    assert state(found["registry"]) == "failed"
    assert "answered 403: the registry's edge refuses this client" in found["registry"]
    assert 'registry.transport = "stdlib"' in found["registry"]
    assert "Troubleshooting" in found["registry"]
    assert len(world.registry.requests_to("/version")) == 1


@pytest.mark.no_database
def test_a_registry_on_a_closed_port_is_named_with_its_url(world: World) -> None:
    world.registry = closed_registry()
    run, found = doctor(world)
    assert run.code == 1
    assert f"{world.registry.url}/version" in found["registry"]
    assert "connection refused" in found["registry"]
    assert "check registry.base_url" in found["registry"]


@pytest.mark.no_database
def test_a_check_that_breaks_is_one_failed_line_and_the_others_still_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: RegistryClient) -> str:
        raise RuntimeError("a bug in the registry client")

    monkeypatch.setattr(RegistryClient, "data_timestamp", broken)
    run = world.command("doctor")
    *checks, _ = run.out.strip().splitlines()
    found = {line[9:19].strip(): line for line in checks}
    assert list(found) == NAMES
    assert found["registry"].endswith(
        "the check broke (a bug in the registry client): a bug, please report it"
    )
    others = {state(found[name]) for name in NAMES if name != "registry"}
    assert others <= {"ok", "warning"}, run.out  # all ran, none failed (the database is new)
    assert "Traceback" not in run.out and "Traceback" in run.err  # the bug's, for its report
    assert run.code == 1


@pytest.mark.no_database
def test_a_dead_proxy_is_named_when_the_transport_uses_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    world.registry_settings = 'transport = "stdlib"'
    run, found = doctor(world)
    assert run.code == 1
    assert "through the proxy in HTTP_PROXY" in found["registry"]
    assert world.registry.requests == []


# -- mail server and outbox ----------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def secure_smtp(ca: trustme.CA) -> Iterator[SmtpServer]:
    server = SmtpServer(security="starttls", ca=ca, password=PASSWORD).start()
    yield server
    server.stop()


def use_secure(world: World, server: SmtpServer, ca: trustme.CA, *, trusted: bool) -> None:
    world.smtp = server
    world.email_extra = 'security = "starttls"\nusername = "monitor"\n'
    if trusted:
        ca_file = world.tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        world.email_extra += f'ca_file = "{ca_file}"\n'


@pytest.mark.no_database
def test_starttls_with_the_test_ca_verifies_the_certificate_and_logs_in_without_sending(
    world: World, secure_smtp: SmtpServer, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_secure(world, secure_smtp, ca, trusted=True)
    monkeypatch.setenv("TRIAL_MONITOR_SMTP_PASSWORD", PASSWORD)
    run, found = doctor(world)
    assert run.code == 0, run.out
    assert state(found["delivery"]) == "ok"
    assert found["delivery"].endswith(
        f"127.0.0.1:{secure_smtp.port} STARTTLS, certificate verified, logged in as monitor;"
        " no message sent"
    )
    assert secure_smtp.recorder.logins == ["monitor"]
    assert secure_smtp.messages == []


@pytest.mark.no_database
@pytest.mark.parametrize("trusted", [True, False])
def test_implicit_tls_verifies_the_certificate(world: World, ca: trustme.CA, trusted: bool) -> None:
    server = SmtpServer(security="tls", ca=ca).start()
    try:
        world.smtp = server
        world.email_extra = 'security = "tls"\n'
        if trusted:
            ca_file = world.tmp / "ca.pem"
            ca.cert_pem.write_to_path(str(ca_file))
            world.email_extra += f'ca_file = "{ca_file}"\n'
        run, found = doctor(world)
    finally:
        server.stop()
    where = f"127.0.0.1:{server.port}"
    if trusted:
        assert run.code == 0, run.out
        assert f"{where} TLS, certificate verified, no login configured" in found["delivery"]
    else:
        assert run.code == 1
        assert f"{where}: TLS certificate not trusted" in found["delivery"]


@pytest.mark.no_database
def test_starttls_without_the_ca_fails_as_a_certificate_not_trusted(
    world: World, secure_smtp: SmtpServer, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_secure(world, secure_smtp, ca, trusted=False)
    monkeypatch.setenv("TRIAL_MONITOR_SMTP_PASSWORD", PASSWORD)
    run, found = doctor(world)
    assert run.code == 1
    assert state(found["delivery"]) == "failed"
    assert "TLS certificate not trusted" in found["delivery"]
    assert "give the CA that signs its certificate in email.ca_file" in found["delivery"]
    assert secure_smtp.recorder.logins == []


@pytest.mark.no_database
def test_a_refused_login_fails_and_never_shows_the_password(
    world: World, secure_smtp: SmtpServer, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_secure(world, secure_smtp, ca, trusted=True)
    wrong = "wrong-" + PASSWORD
    monkeypatch.setenv("TRIAL_MONITOR_SMTP_PASSWORD", wrong)
    run, found = doctor(world)
    assert run.code == 1
    assert state(found["delivery"]) == "failed"
    assert "refused the login of monitor (535" in found["delivery"]
    assert "TRIAL_MONITOR_SMTP_PASSWORD" in found["delivery"]
    assert wrong not in run.out + run.err


@pytest.mark.no_database
def test_plain_smtp_to_a_server_that_offers_starttls_is_a_warning(
    world: World, secure_smtp: SmtpServer
) -> None:
    world.smtp = secure_smtp
    world.email_extra = 'security = "none"\n'
    run, found = doctor(world)
    assert run.code == 0, run.out
    assert state(found["delivery"]) == "warning"
    assert 'it offers STARTTLS: set email.security = "starttls"' in found["delivery"]


@pytest.mark.no_database
def test_starttls_required_but_not_offered_fails(world: World) -> None:
    world.email_extra = 'security = "starttls"\n'
    run, found = doctor(world)
    assert run.code == 1
    assert "does not offer STARTTLS" in found["delivery"]


@pytest.mark.no_database
def test_a_mail_server_on_a_closed_port_fails(world: World) -> None:
    world.smtp.stop()
    run, found = doctor(world)
    assert run.code == 1
    assert state(found["delivery"]) == "failed"
    assert f"127.0.0.1:{world.smtp.port}: connection refused" in found["delivery"]
    assert "check email.host and email.port" in found["delivery"]
    assert state(found["registry"]) == "ok"  # one failing check does not stop the others


@pytest.mark.no_database
def test_without_email_the_outbox_is_checked_and_left_as_it_was(world: World) -> None:
    outbox = world.tmp / "outbox"
    outbox.mkdir()
    world.email = False
    world.extra = f'[outbox]\npath = "{outbox}"\n'
    run, found = doctor(world)
    assert run.code == 0
    assert state(found["delivery"]) == "ok"
    assert f"outbox {outbox} is writable" in found["delivery"]
    assert list(outbox.iterdir()) == []


@pytest.mark.no_database
def test_a_missing_outbox_is_a_warning_and_is_not_created(world: World) -> None:
    outbox = world.tmp / "later" / "outbox"
    world.email = False
    world.extra = f'[outbox]\npath = "{outbox}"\n'
    run, found = doctor(world)
    assert run.code == 0
    assert state(found["delivery"]) == "warning"
    assert "does not exist yet: the first digest creates it" in found["delivery"]
    assert not (world.tmp / "later").exists()


@pytest.mark.no_database
def test_an_outbox_that_cannot_be_made_fails(world: World) -> None:
    # A file where a folder should be: unwritable even for root, where os.access says yes.
    (world.tmp / "taken").write_text("a file")
    world.email = False
    world.extra = f'[outbox]\npath = "{world.tmp / "taken" / "outbox"}"\n'
    run, found = doctor(world)
    assert run.code == 1
    assert state(found["delivery"]) == "failed"
    assert "cannot be created" in found["delivery"] and "outbox.path" in found["delivery"]
    assert f"{world.tmp / 'taken'} is a file, in the way" in found["delivery"]


@pytest.mark.no_database
def test_a_folder_it_cannot_write_is_called_that_not_in_the_way(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root (CI) every folder is writable, so the refusal is the operating system's answer
    # faked: os.access says no for the outbox's parent, as it does for another user.
    parent = world.tmp / "read-only"
    parent.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != parent and real(p, mode))
    world.email = False
    world.extra = f'[outbox]\npath = "{parent / "outbox"}"\n'
    run, found = doctor(world)
    assert run.code == 1
    assert state(found["delivery"]) == "failed"
    assert f"{parent} is a folder the monitor's user cannot write" in found["delivery"]
    assert "in the way" not in found["delivery"]


# -- schedule ------------------------------------------------------------------------------


@pytest.mark.no_database
def test_the_next_five_runs_are_shown_in_the_schedules_time_zone(world: World) -> None:
    world.extra = '[schedule]\ncron = "15 6 * * 1"\ntimezone = "Asia/Tokyo"\njitter_seconds = 90\n'
    now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    run, found = doctor(world)
    assert run.code == 0, run.out
    # Mondays at 06:15 in Tokyo: Sundays at 21:15 in UTC, which a time zone mix-up would show.
    days = (now.date() + timedelta(days=n) for n in range(40))
    mondays = [d for d in days if d.weekday() == 0]
    if now.weekday() == 0 and (now.hour, now.minute) >= (6, 15):
        mondays = mondays[1:]
    expected = ", ".join(f"Mon {d.isoformat()} 06:15" for d in mondays[:5])
    assert state(found["schedule"]) == "ok"
    assert f"in Asia/Tokyo at {expected}, each plus up to 90 s of jitter" in found["schedule"]


# -- ping ----------------------------------------------------------------------------------


class PingServer(ThreadingHTTPServer):
    """A loopback HTTP server that records every request line it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), PingHandler)
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/ping/6f1e0a52-key"


class PingHandler(BaseHTTPRequestHandler):
    server: PingServer

    def parse_request(self) -> bool:  # every request, whatever its method
        parsed = super().parse_request()
        self.server.requests.append(self.requestline)
        return parsed

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    do_HEAD = do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.no_database
def test_a_reachable_ping_url_is_ok_and_is_never_sent_a_request(world: World) -> None:
    server = PingServer()
    server.thread.start()
    try:
        world.extra = f'[alerts]\nping_url = "{server.url}"\n'
        run, found = doctor(world)
    finally:
        server.shutdown()
        server.server_close()  # waits for the connection's handler to finish
        server.thread.join()
    assert run.code == 0, run.out
    assert state(found["ping"]) == "ok"
    assert f"http://127.0.0.1:{server.server_address[1]} reachable" in found["ping"]
    assert "6f1e0a52-key" not in run.out  # the path is the check's key: not shown
    assert server.requests == []


@pytest.mark.no_database
def test_an_unreachable_ping_url_fails(world: World) -> None:
    world.extra = f'[alerts]\nping_url = "http://127.0.0.1:{free_port()}/ping/key"\n'
    run, found = doctor(world)
    assert run.code == 1
    assert state(found["ping"]) == "failed"
    assert "is not reachable: connection refused" in found["ping"]


class TlsServer:
    """A loopback TLS server with a certificate from the test CA that records every byte a
    client sends after the handshake (a ping would be an HTTP request line)."""

    def __init__(self, ca: trustme.CA) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self.context)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = int(self.listener.getsockname()[1])
        self.received: list[bytes] = []
        self.handshakes = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    self.handshakes += 1
                    while data := conn.recv(1024):
                        self.received.append(data)
            except (OSError, ssl.SSLError):
                pass  # an untrusting client's alert, or a client that simply left
            finally:
                raw.close()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.listener.close()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[TlsServer]:
    server = TlsServer(ca)
    yield server
    server.stop()


@pytest.mark.no_database
def test_an_https_ping_url_is_verified_and_never_sent_a_request(
    world: World, tls_server: TlsServer, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file = world.tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the "system" store: the test CA
    world.extra = f'[alerts]\nping_url = "https://127.0.0.1:{tls_server.port}/ping/key"\n'
    run, found = doctor(world)
    tls_server.stop()  # every connection handled before the look at what came in
    assert run.code == 0, run.out
    assert f"https://127.0.0.1:{tls_server.port} reachable, certificate verified" in found["ping"]
    assert tls_server.handshakes == 1
    assert tls_server.received == []


@pytest.mark.no_database
def test_an_https_ping_url_with_an_untrusted_certificate_fails(
    world: World, tls_server: TlsServer
) -> None:
    world.extra = f'[alerts]\nping_url = "https://127.0.0.1:{tls_server.port}/ping/key"\n'
    run, found = doctor(world)
    assert run.code == 1
    assert "is not reachable: TLS certificate not trusted" in found["ping"]


# -- PubMed ---------------------------------------------------------------------------------


def test_pubmed_answers_one_search_and_a_missing_contact_address_is_a_warning(
    world: World,
) -> None:
    world.pubmed_settings = 'tool = "ldn-monitor"'
    _, found = doctor(world)
    assert state(found["pubmed"]) == "warning"
    assert f"{world.pubmed.url}/esearch.fcgi answered in " in found["pubmed"]  # type: ignore[union-attr]
    assert "(0 papers for NCT04270877[si])" in found["pubmed"]
    assert "set pubmed.email" in found["pubmed"]
    world.pubmed_settings += '\nemail = "editors@example.org"'
    run, found = doctor(world)
    assert state(found["pubmed"]) == "ok" and run.code == 0


def test_pubmed_down_is_a_failed_line_naming_its_url(world: World) -> None:
    assert world.pubmed is not None
    world.pubmed_settings = 'email = "editors@example.org"'
    world.pubmed.fail_always(PubmedFault.status(503))
    run, found = doctor(world)
    assert run.code == 1
    assert state(found["pubmed"]) == "failed"
    assert (
        f"PubMed {world.pubmed.url}/esearch.fcgi failed after 1 attempt: HTTP 503"
        in found["pubmed"]
    )
    assert state(found["registry"]) == "ok"  # the other checks still ran
