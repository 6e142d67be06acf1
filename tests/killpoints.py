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

from monitor.store.db import make_engine
from monitor.store.schema import changes, deliveries

NEW = "NCT06000001"


# The scenario's second cycle asks the registry twice: /version, then the saved search (which
# also brings both cited trials, so no id batch follows).
REQUESTS = 2


@dataclass(frozen=True)
class Outcome:
    point: str
    killed: bool  # the process died by the kill (not finished before it)
    at_point: bool  # when the kill came, the process was where the point's name says
    changes: int
    lost: int
    in_window: int
    beyond_window: int
    crashes: int  # a run that ended in a traceback or an unexpected exit code


# `kill(at_point)`: the arming code decides, at the moment it kills, whether the process is
# where the point says (a request in flight, the message accepted but not recorded, ...).
Kill = Callable[[bool], None]


@dataclass(frozen=True)
class KillPoint:
    name: str
    arm: Callable[[World, Kill, subprocess.Popen[str]], None]  # sets up when `kill` is called


def _when(condition: Callable[[], bool], then: Callable[[], None], delay: float = 0.0) -> None:
    def watch() -> None:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(delay)
        then()

    threading.Thread(target=watch, daemon=True).start()


def during_request(number: int) -> KillPoint:
    """While the registry is still answering the cycle's request `number` (slowed down)."""

    def arm(world: World, kill: Kill, _process: subprocess.Popen[str]) -> None:
        registry = world.registry
        start = len(registry.requests)  # requests are recorded as their answer goes out
        registry.delay = 0.3

        def answering() -> bool:
            return registry.in_flight > 0 and len(registry.requests) == start + number - 1

        _when(answering, lambda: kill(answering()), delay=0.05)

    return KillPoint(f"while the registry answers request {number}", arm)


def after_fetching(milliseconds: float) -> KillPoint:
    """After the registry's last answer: normalizing, diffing, writing, sending."""

    def arm(world: World, kill: Kill, process: subprocess.Popen[str]) -> None:
        registry = world.registry
        start = len(registry.requests)

        def fetched() -> bool:
            return len(registry.requests) == start + REQUESTS and registry.in_flight == 0

        _when(fetched, lambda: kill(fetched() and process.poll() is None), milliseconds / 1000)

    return KillPoint(f"{milliseconds:g} ms after the registry's last answer", arm)


def at(milliseconds: float) -> KillPoint:
    def arm(world: World, kill: Kill, process: subprocess.Popen[str]) -> None:
        _when(lambda: True, lambda: kill(process.poll() is None), delay=milliseconds / 1000)

    return KillPoint(f"{milliseconds:g} ms after start", arm)


def before_accept() -> KillPoint:
    def arm(world: World, kill: Kill, _process: subprocess.Popen[str]) -> None:
        accepted = len(world.smtp.recorder.accepted)
        world.smtp.recorder.before_accept = lambda: kill(
            len(world.smtp.recorder.accepted) == accepted
        )

    return KillPoint("with the message at the mail server, before it accepts", arm)


def after_accept() -> KillPoint:
    """The re-send window itself: the server has taken the digest, and the monitor dies before
    it records that. Killed synchronously, before the server's "250" can reach the monitor."""

    def arm(world: World, kill: Kill, process: subprocess.Popen[str]) -> None:
        def accepted() -> None:
            kill(False)  # witnessed below, once the process is gone
            process.wait()
            if _delivery_states(world) == {"sending"}:
                kill(True)

        world.smtp.recorder.after_accept = accepted

    return KillPoint("after the mail server accepted, before the monitor records it", arm)


AFTER_ACCEPT = after_accept()
KILL_POINTS = [
    *(at(ms) for ms in (100, 200, 300, 400, 500)),
    *(during_request(n) for n in range(1, REQUESTS + 1)),
    *(after_fetching(ms) for ms in (0, 1, 3, 6, 10, 20, 40)),
    before_accept(),
    AFTER_ACCEPT,
]


def _delivery_states(world: World) -> set[str]:
    engine = make_engine(world.database_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(deliveries.c.state)).scalars())
    finally:
        engine.dispose()


def scenario(
    folder: Path, point: KillPoint, database_url: str, *, news_before_restart: bool = False
) -> Outcome:
    folder.mkdir(parents=True, exist_ok=True)
    with StandinRegistry() as registry:
        registry.put_all(ldn_studies())
        smtp = SmtpServer().start()
        try:
            world = World(folder, registry, smtp, database_url)
            return _scenario(world, point, news_before_restart)
        finally:
            smtp.stop()


def _scenario(world: World, point: KillPoint, news_before_restart: bool) -> Outcome:
    crashes = 0
    assert world.check().code == 0
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 60))
    world.registry.put(study(NEW, BriefTitle="Low dose naltrexone for long COVID"))

    process = world.spawn("check")
    killed, at_point = threading.Event(), threading.Event()

    def kill(witnessed: bool) -> None:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed.set()
        if witnessed:
            at_point.set()

    point.arm(world, kill, process)
    _, err = process.communicate(timeout=60)
    crashes += _crashed(process, err)
    world.registry.delay = 0
    world.smtp.recorder.before_accept = world.smtp.recorder.after_accept = None
    if news_before_restart:
        # The registry moves on before the monitor is back: what the killed sender had
        # claimed must still go out as it was, its newer news in a digest of its own.
        world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 61))

    for _ in range(3):  # start again until a cycle completes
        run = world.check()
        crashes += "Traceback" in run.err or run.code not in (0, 1)
        if run.code == 0:
            break
    return _count(world, point.name, killed.is_set(), at_point.is_set(), crashes)


def _crashed(process: subprocess.Popen[str], err: str) -> int:
    if process.returncode == -signal.SIGKILL:
        return 0
    return int("Traceback" in err or process.returncode not in (0, 1))


def _count(world: World, point: str, killed: bool, at_point: bool, crashes: int) -> Outcome:
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
    return Outcome(point, killed, at_point, len(ids), lost, in_window, beyond, crashes)
