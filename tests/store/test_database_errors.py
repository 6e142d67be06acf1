"""A database the monitor cannot use is named in one line with exit 1, never a traceback, by
every command that opens it: a folder SQLite cannot keep its journal in, a full disk, a damaged
file, a schema stamped by a newer monitor. Each is made for real (an unprivileged user, a small
tmpfs, bytes overwritten, a revision stamped) and the command is run as an operator runs it."""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import POSTGRES_URL, postgres_schema
from sqlalchemy import create_engine, event, make_url, text

from monitor.core.errors import StoreError
from monitor.store.db import make_engine, migrate, schema_revision

ROOT = Path(__file__).resolve().parents[2]
TRIAL = "NCT04270877"
COMMANDS = [
    pytest.param(["check"], id="check"),
    pytest.param(["status"], id="status"),
    pytest.param(["migrate"], id="migrate"),
    pytest.param(["history", TRIAL], id="history"),
    pytest.param(["health"], id="health"),
    pytest.param(["preview"], id="preview"),
    pytest.param(["release"], id="release"),
]
NOBODY = 65534
PASSWORD = "not-to-be-printed"  # trust auth ignores it; the messages must too


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def write_config(folder: Path, url: str) -> Path:
    # A registry that refuses at once: no command may get as far as asking it.
    path = folder / "config.toml"
    path.write_text(
        "[registry]\n"
        'base_url = "http://127.0.0.1:9"\n'
        "max_attempts = 1\n"
        "[database]\n"
        f'url = "{url}"\n'
        "[watch]\n"
        f'trials = ["{TRIAL}"]\n',
        encoding="utf-8",
    )
    return path


def monitor(
    config: Path, command: Sequence[str], as_user: Sequence[str] = (), *, password: str = ""
) -> Run:
    """`trial-monitor --config CONFIG COMMAND` in a process of its own, in the config's folder;
    a database password as the monitor takes one, from the environment."""
    secret = {"TRIAL_MONITOR_DATABASE_PASSWORD": password} if password else {}
    done = subprocess.run(
        [*as_user, sys.executable, "-m", "monitor", "--config", str(config), *command],
        capture_output=True,
        text=True,
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT), **secret},
        timeout=120,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def one_line(run: Run, *words: str) -> str:
    """The command failed with exit 1 and said so in one line holding `words`."""
    assert "Traceback" not in run.err + run.out, run.err
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    line = lines[0]
    assert line.startswith("trial-monitor: "), line
    for word in words:
        assert word in line
    assert run.code == 1, run
    return line


def migrated_sqlite(folder: Path) -> Path:
    """A database made by this version in folder/data, its journal folded back in and gone."""
    db = folder / "data" / "monitor.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return db


def stamp(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def fill(disk: Path, leave: int = 0) -> None:
    """Take the disk's space, all but about `leave` bytes."""
    with (disk / "filler").open("wb", buffering=0) as filler:
        try:
            while shutil.disk_usage(disk).free > leave:
                filler.write(b"\0" * 4096)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise


def alembic_page(db: Path) -> tuple[int, int, bytes]:
    """Where the page of the table every command reads first starts, its size, and the revision
    written in it."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (page,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'alembic_version'"
        ).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return (page - 1) * size, size, revision.encode()


def damage_text(db: Path) -> None:
    """The revision stored in alembic_version becomes bytes that are not UTF-8."""
    start, size, revision = alembic_page(db)
    data = bytearray(db.read_bytes())
    at = data.index(revision, start, start + size)
    data[at : at + len(revision)] = b"\xff" * len(revision)
    db.write_bytes(bytes(data))


def damage_page(db: Path) -> None:
    """alembic_version's page gets a page type SQLite does not have."""
    start, _, _ = alembic_page(db)
    data = bytearray(db.read_bytes())
    data[start] = 0
    db.write_bytes(bytes(data))


# -- where each failure is made ------------------------------------------------------------


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user can reach (pytest's own tmp folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="tm-database-errors-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and not path.is_mount():
                path.chmod(0o755)  # so that an unprivileged run can clear it too
        shutil.rmtree(folder)


@pytest.fixture
def as_nobody() -> list[str]:
    """The prefix that runs a command without root's power to ignore file permissions."""
    if os.geteuid() != 0:
        return []  # permissions already apply to whoever runs the tests
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root ignores file permissions and setpriv (util-linux) is missing")
    prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import monitor"],
        capture_output=True,
        text=True,
        cwd="/",
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"user {NOBODY} cannot run {sys.executable}: {probe.stderr.strip()[-200:]}")
    return prefix


@pytest.fixture
def small_disk(open_folder: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, to fill; unmounted afterwards."""
    disk = open_folder / "disk"
    disk.mkdir()
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("no mount command, so no small disk to fill")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs CAP_SYS_ADMIN): {done.stderr}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


@pytest.fixture
def postgres_on_small_disk(small_disk: Path) -> Iterator[str]:
    """A fresh schema of the local PostgreSQL whose tables live on the small disk (a tablespace
    there); the tests give it a password (PASSWORD) the messages must not show."""
    try:
        server = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user owns a PostgreSQL server on this machine")
    if make_url(POSTGRES_URL).host not in ("127.0.0.1", "localhost"):
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} cannot be given a folder of this machine")
    os.chown(small_disk, server.pw_uid, server.pw_gid)
    small_disk.chmod(0o700)
    tablespace = f"tm_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    created = False
    try:
        with postgres_schema() as url:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE TABLESPACE {tablespace} LOCATION '{small_disk}'"))
            created = True
            on_disk = make_url(f"{url}%20-cdefault_tablespace%3D{tablespace}")
            yield on_disk.render_as_string(hide_password=False)
    finally:
        if created:  # after the schema is dropped: a tablespace goes only once empty
            with admin.connect() as conn:
                conn.execute(text(f"DROP TABLESPACE {tablespace}"))
        admin.dispose()


# -- 1. a folder SQLite cannot write its journal in ----------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_a_data_folder_sqlite_cannot_write_in_is_named(
    command: list[str], open_folder: Path, as_nobody: list[str]
) -> None:
    db = migrated_sqlite(open_folder)
    if as_nobody:
        os.chown(db, NOBODY, NOBODY)  # the file is theirs to write; the folder is not
    db.parent.chmod(0o555)
    run = monitor(write_config(open_folder, f"sqlite:///{db}"), command, as_nobody)
    one_line(
        run,
        f"the database folder {db.parent} is not writable",
        "SQLite keeps its journal beside monitor.db",
        "let the monitor's user write there",
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_folder_that_cannot_be_created_is_named(
    command: list[str], tmp_path: Path
) -> None:
    (tmp_path / "data").write_text("a file where the folder should be\n", encoding="utf-8")
    folder = tmp_path / "data" / "db"
    run = monitor(write_config(tmp_path, f"sqlite:///{folder / 'monitor.db'}"), command)
    if command[0] in ("check", "migrate", "release"):
        one_line(
            run,
            f"the database folder {folder} cannot be created (a file is in the way",
            "create it, or set database.url",
        )
    else:  # a read-only command makes nothing: it names the database it looked for
        one_line(run, f"no database at {folder / 'monitor.db'} (database.url)")


def test_a_database_folder_the_user_may_not_create_is_named(
    open_folder: Path, as_nobody: list[str]
) -> None:
    folder = open_folder / "data"
    config = write_config(open_folder, f"sqlite:///{folder / 'monitor.db'}")
    open_folder.chmod(0o555)
    run = monitor(config, ["check"], as_nobody)
    one_line(run, f"the database folder {folder} cannot be created (permission denied)")


# -- 2. a full disk ------------------------------------------------------------------------


def full_disk_words(db: Path) -> tuple[str, ...]:
    return (f"the disk holding {db} is full (or failing)", "free space", "nothing was lost")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_disk_is_named(command: list[str], small_disk: Path) -> None:
    # SQLite cannot even make its -shm file: "disk I/O error".
    db = migrated_sqlite(small_disk)
    fill(small_disk)
    one_line(
        monitor(write_config(small_disk.parent, f"sqlite:///{db}"), command), *full_disk_words(db)
    )


@pytest.mark.parametrize("command", [["migrate"], ["check"]])
def test_a_disk_too_full_for_the_schema_is_named(command: list[str], small_disk: Path) -> None:
    # Room for the journal's start but not for the tables: "database or disk is full".
    db = small_disk / "data" / "monitor.db"
    fill(small_disk, leave=64 * 1024)
    one_line(
        monitor(write_config(small_disk.parent, f"sqlite:///{db}"), command), *full_disk_words(db)
    )


def postgres_full_words() -> tuple[str, ...]:
    server = make_url(POSTGRES_URL)
    return (
        f"the disk holding the PostgreSQL database {server.database} on {server.host} is full"
        " (or failing)",
        "free space on the server",
        "nothing was lost",
    )


def test_a_full_disk_under_postgresql_is_named_by_migrate(
    postgres_on_small_disk: str, small_disk: Path, tmp_path: Path
) -> None:
    fill(small_disk)
    run = monitor(write_config(tmp_path, postgres_on_small_disk), ["migrate"], password=PASSWORD)
    assert PASSWORD not in one_line(run, *postgres_full_words())


def test_a_full_disk_under_postgresql_is_named_by_check(
    postgres_on_small_disk: str, small_disk: Path, tmp_path: Path
) -> None:
    engine = make_engine(postgres_on_small_disk)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    fill(small_disk)
    run = monitor(write_config(tmp_path, postgres_on_small_disk), ["check"], password=PASSWORD)
    assert PASSWORD not in one_line(run, *postgres_full_words())


# -- 3. a damaged file ---------------------------------------------------------------------


def damaged_words(db: Path, reason: str) -> tuple[str, ...]:
    return (
        f"the database {db} is damaged ({reason})",
        "move it aside and restore a backup, or start afresh",
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_that_is_not_a_database_is_named(command: list[str], tmp_path: Path) -> None:
    db = tmp_path / "data" / "monitor.db"
    db.parent.mkdir()
    db.write_bytes(b"these bytes were never a database\n" * 2000)
    run = monitor(write_config(tmp_path, f"sqlite:///{db}"), command)
    one_line(run, *damaged_words(db, "file is not a database"))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_text_is_named(command: list[str], tmp_path: Path) -> None:
    db = migrated_sqlite(tmp_path)
    damage_text(db)
    run = monitor(write_config(tmp_path, f"sqlite:///{db}"), command)
    one_line(run, *damaged_words(db, "a stored text is not valid UTF-8"))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_page_is_named(command: list[str], tmp_path: Path) -> None:
    db = migrated_sqlite(tmp_path)
    damage_page(db)
    run = monitor(write_config(tmp_path, f"sqlite:///{db}"), command)
    one_line(run, *damaged_words(db, "database disk image is malformed"))


def test_a_row_the_driver_cannot_decode_is_named_too(tmp_path: Path) -> None:
    """A driver that decodes text itself raises UnicodeDecodeError, not an error of its own."""
    db = migrated_sqlite(tmp_path)
    damage_text(db)
    engine = make_engine(f"sqlite:///{db}")

    @event.listens_for(engine, "connect")
    def _decode_strictly(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.text_factory = lambda raw: raw.decode("utf-8")

    try:
        with pytest.raises(StoreError) as raised:
            schema_revision(engine)
    finally:
        engine.dispose()
    assert isinstance(raised.value.__cause__ or raised.value.__context__, UnicodeDecodeError)
    assert str(raised.value).startswith(damaged_words(db, "a stored text is not valid UTF-8")[0])


# -- 4. a schema made by a newer monitor -----------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_a_schema_newer_than_this_version_is_named(
    command: list[str], database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        _, head = schema_revision(engine)
    finally:
        engine.dispose()
    stamp(database_url, "0099")
    postgres = make_url(database_url).get_backend_name() == "postgresql"
    config = write_config(tmp_path, database_url)
    line = one_line(
        monitor(config, command, password=PASSWORD if postgres else ""),
        f"the database is at schema revision 0099, newer than this version knows (newest {head})",
        "run the newer trial-monitor, or restore a backup taken before it",
    )
    assert PASSWORD not in line
