"""`trial-monitor run`: cycles on the schedule, and a graceful stop on SIGTERM and SIGINT."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable

import pytest
from conftest import FINAL, World, body
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from standin import set_piece

from monitor.store.schema import cycles

EVERY_SECOND = """
[schedule]
cron = "* * * * * *"
jitter_seconds = 0
shutdown_grace_seconds = {grace}
"""


def finished_cycles(world: World) -> list[tuple[str | None, bool]]:
    """(outcome, finished) of every cycle so far; none before the service made its tables."""
    with world.engine() as engine:
        try:
            with engine.connect() as conn:
                query = select(cycles.c.outcome, cycles.c.finished_at).order_by(cycles.c.id)
                return [(outcome, done is not None) for outcome, done in conn.execute(query)]
        except DBAPIError:
            return []


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
def test_run_cycles_on_schedule_and_a_stop_lets_the_cycle_in_flight_finish(
    world: World, signum: signal.Signals
) -> None:
    world.extra = EVERY_SECOND.format(grace=20)
    service = world.spawn("run", env={"TRIAL_MONITOR_LOG_FORMAT": "json"})
    try:
        wait_for(lambda: [o for o, _ in finished_cycles(world)].count("ok") >= 2)
        world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
        world.registry.delay = 1.0  # the next cycle takes a few seconds
        wait_for(lambda: any(not done for _, done in finished_cycles(world)))
        service.send_signal(signum)
        _, err = service.communicate(timeout=30)
    finally:
        service.kill()
    assert service.returncode == 0, err
    history = finished_cycles(world)
    assert all(done for _, done in history)  # the one in flight completed
    assert history[-1][0] == "ok"
    [message] = world.messages
    assert "Completed → Terminated" in body(message)
    # One JSON log line per cycle, with its figures.
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    cycle_lines = [line for line in lines if "cycle" in line and "requests" in line]
    assert len(cycle_lines) == len(history)
    assert {"outcome", "trials_checked", "changes_found", "seconds"} <= set(cycle_lines[-1])


def test_a_cycle_that_outlives_the_grace_is_cancelled_and_nothing_is_lost(world: World) -> None:
    world.extra = EVERY_SECOND.format(grace=0.5)
    service = world.spawn("run")
    try:
        wait_for(lambda: [o for o, _ in finished_cycles(world)].count("ok") >= 1)
        world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
        world.registry.delay = 3.0
        wait_for(lambda: any(not done for _, done in finished_cycles(world)))
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=30)
    finally:
        service.kill()
    assert service.returncode == 0, err
    assert finished_cycles(world)[-1] == ("interrupted", True)
    world.registry.delay = 0
    world.extra = ""
    assert world.check().code == 0
    [message] = world.messages
    assert body(message).count("Completed → Terminated") == 1


def test_a_send_cancelled_at_shutdown_is_one_line_and_nothing_is_lost(world: World) -> None:
    world.extra = EVERY_SECOND.format(grace=0.5)
    service = world.spawn("run")
    try:
        wait_for(lambda: [o for o, _ in finished_cycles(world)].count("ok") >= 1)
        # The mail server sits on the digest: the shutdown finds the cycle mid-send.
        world.smtp.recorder.before_accept = lambda: time.sleep(3)
        world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
        wait_for(lambda: any(not done for _, done in finished_cycles(world)))
        time.sleep(0.5)
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=30)
    finally:
        service.kill()
    assert service.returncode == 0, err
    assert "Traceback" not in err and "CancelledError" not in err, err
    assert "the cycle did not finish in time; cancelling it" in err
    world.smtp.recorder.before_accept = None
    world.extra = ""
    assert world.check().code == 0
    [message] = world.messages
    assert body(message).count("Completed → Terminated") == 1
