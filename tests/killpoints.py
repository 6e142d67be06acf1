"""Crash anywhere, lose nothing: SIGKILL a `trial-monitor check` at a chosen point of its cycle,
start it again, and count what every recipient got.

A scenario: a baseline, then three changes in the stand-in registry (a status, an enrollment, a
new trial); a `check` process killed at the point; then `check` again until one completes. Each
digest names the stored changes it carries (X-Trial-Monitor-Changes), so the count is exact:
a change no digest carried is lost; one carried by two digests with the same Message-ID was
re-sent in the documented window (accepted by the server, killed before it was recorded), which
the receiving side can drop; with different Message-IDs it is a duplicate beyond that window.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conftest import DANISH, FINAL, World
from smtp import SmtpServer
from sqlalchemy import select
from standin import StandinRegistry, ldn_studies, set_piece, study

from monitor.db import changes, make_engine

NEW = "NCT06000001"


@dataclass(frozen=True)
class Outcome:
    point: str
    killed: bool  # the process died by the kill (not finished before it)
    changes: int
    lost: int
    in_window: int
    beyond_window: int
    crashes: int  # a run that ended in a traceback or an unexpected exit code


@dataclass(frozen=True)
class KillPoint:
    name: str
    arm: Callable[[World, Callable[[], None]], None]  # sets up when `kill` gets called


def _when(condition: Callable[[], bool], then: Callable[[], None], delay: float = 0.0) -> None:
    def watch() -> None:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(delay)
        then()

    threading.Thread(target=watch, daemon=True).start()


def during_request(number: int) -> KillPoint:
    def arm(world: World, kill: Callable[[], None]) -> None:
        start = len(world.registry.requests)
        world.registry.delay = 0.3
        _when(lambda: len(world.registry.requests) >= start + number, kill, delay=0.05)

    return KillPoint(f"while the registry answers request {number}", arm)


def after_fetching(milliseconds: float) -> KillPoint:
    """After the registry's last answer: normalizing, diffing, writing."""

    def arm(world: World, kill: Callable[[], None]) -> None:
        start = len(world.registry.requests)
        done = lambda: (  # noqa: E731
            len(world.registry.requests) >= start + 2 and world.registry.in_flight == 0
        )
        _when(done, kill, delay=milliseconds / 1000)

    return KillPoint(f"{milliseconds:g} ms after the registry's last answer", arm)


def at(milliseconds: float) -> KillPoint:
    def arm(world: World, kill: Callable[[], None]) -> None:
        _when(lambda: True, kill, delay=milliseconds / 1000)

    return KillPoint(f"{milliseconds:g} ms after start", arm)


def before_accept() -> KillPoint:
    def arm(world: World, kill: Callable[[], None]) -> None:
        world.smtp.recorder.before_accept = kill

    return KillPoint("with the message at the mail server, before it accepts", arm)


def after_accept() -> KillPoint:
    def arm(world: World, kill: Callable[[], None]) -> None:
        world.smtp.recorder.after_accept = kill

    return KillPoint("after the mail server accepted, before the monitor records it", arm)


KILL_POINTS = [
    *(at(ms) for ms in (100, 200, 300, 400, 500)),
    *(during_request(n) for n in (1, 2)),
    *(after_fetching(ms) for ms in (0, 1, 3, 6, 10, 20, 40)),
    before_accept(),
    after_accept(),
]


def scenario(folder: Path, point: KillPoint, database_url: str) -> Outcome:
    folder.mkdir(parents=True, exist_ok=True)
    with StandinRegistry() as registry:
        registry.put_all(ldn_studies())
        smtp = SmtpServer().start()
        try:
            return _scenario(World(folder, registry, smtp, database_url), point)
        finally:
            smtp.stop()


def _scenario(world: World, point: KillPoint) -> Outcome:
    crashes = 0
    assert world.check().code == 0
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 60))
    world.registry.put(study(NEW, BriefTitle="Low dose naltrexone for long COVID"))

    process = world.spawn("check")
    killed = threading.Event()

    def kill() -> None:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed.set()

    point.arm(world, kill)
    _, err = process.communicate(timeout=60)
    crashes += _crashed(process, err)
    world.registry.delay = 0
    world.smtp.recorder.before_accept = world.smtp.recorder.after_accept = None

    for _ in range(3):  # start again until a cycle completes
        run = world.check()
        crashes += "Traceback" in run.err or run.code not in (0, 1)
        if run.code == 0:
            break
    return _count(world, point.name, killed.is_set(), crashes)


def _crashed(process: subprocess.Popen[str], err: str) -> int:
    if process.returncode == -signal.SIGKILL:
        return 0
    return int("Traceback" in err or process.returncode not in (0, 1))


def _count(world: World, point: str, killed: bool, crashes: int) -> Outcome:
    engine = make_engine(world.database_url)
    try:
        with engine.connect() as conn:
            ids = set(conn.execute(select(changes.c.id)).scalars())
    finally:
        engine.dispose()
    carried: dict[int, set[str]] = {i: set() for i in ids}
    copies: dict[int, int] = dict.fromkeys(ids, 0)
    for accepted in world.smtp.recorder.accepted:
        header = accepted.message["X-Trial-Monitor-Changes"]
        for change_id in (int(i) for i in str(header or "").split(",") if i):
            carried.setdefault(change_id, set()).add(str(accepted.message["Message-ID"]))
            copies[change_id] = copies.get(change_id, 0) + 1
    lost = sum(1 for i in ids if copies[i] == 0)
    in_window = sum(1 for i in ids if copies[i] > 1 and len(carried[i]) == 1)
    beyond = sum(1 for i in ids if len(carried[i]) > 1)
    return Outcome(point, killed, len(ids), lost, in_window, beyond, crashes)
