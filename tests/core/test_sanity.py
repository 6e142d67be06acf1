"""The sanity gate: implausible findings are held for an operator instead of mailed."""

from __future__ import annotations

import pytest
from conftest import DANISH, FINAL, World, body
from standin import set_piece, study

from monitor.core.sanity import hold_reason
from monitor.settings.config import SanityConfig

UNRELATED = "biomcp_get_nct02576665_full_20260903.json"
OTHERS = [f"NCT0700{n:04d}" for n in range(10)]


@pytest.mark.parametrize(
    ("changed", "watched", "incomplete", "held"),
    [
        (2, 2, 0, False),  # every trial of a small list: news, not a fault
        (9, 10, 0, False),  # under the minimum count
        (10, 12, 0, True),
        (10, 100, 0, False),  # 10 %: plausible
        (0, 100, 1, True),  # a record without its defining fields
    ],
)
def test_the_gate(changed: int, watched: int, incomplete: int, held: bool) -> None:
    assert (hold_reason(changed, watched, incomplete, SanityConfig()) is not None) is held


def twelve_trials(world: World) -> None:
    for nct_id in OTHERS:
        world.registry.put(study(nct_id, template=UNRELATED))
    world.trials = [FINAL, DANISH, *OTHERS]
    world.email_extra = 'security = "none"\nops_recipients = ["ops@example.org"]\n'
    assert world.check().code == 0


def everything_changes(world: World) -> None:
    for nct_id in [FINAL, DANISH, *OTHERS]:
        world.registry.update(nct_id, lambda r: set_piece(r, "EnrollmentType", "ESTIMATED"))


def content(world: World) -> list[str]:
    return [body(a.message) for a in world.accepted if "ops@example.org" not in a.recipients]


def test_a_cycle_where_everything_changes_is_held_and_the_operator_told(world: World) -> None:
    twelve_trials(world)
    everything_changes(world)
    run = world.check()
    assert run.code == 0
    assert "HELD for a look: 12 of 12 watched trials changed at once" in run.out
    assert content(world) == []
    [notice] = [a.message for a in world.accepted if a.recipients == ["ops@example.org"]]
    assert notice["Subject"].startswith("[LDN monitor] digest held for a look: 12 changes")
    assert "trial-monitor release" in body(notice)
    assert "Held for a look (1)" in world.command("status").out
    assert "includes 12 changes held" in world.command("preview").out
    # Nothing leaks out on later cycles either, until someone decides.
    assert world.check().code == 0
    assert content(world) == []

    run = world.command("release")
    assert run.code == 0 and "12 held changes released; 1 digest" in run.out
    [digest] = content(world)
    assert digest.count("] Enrollment: ") == 12  # each change once
    assert world.check().code == 0
    assert len(content(world)) == 1


def test_held_changes_can_be_discarded(world: World) -> None:
    twelve_trials(world)
    everything_changes(world)
    world.check()
    run = world.command("release", "--discard")
    assert run.code == 0 and "12 held changes discarded" in run.out
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    assert world.check().code == 0
    [digest] = content(world)  # only the real change after the discard
    assert "Completed → Terminated" in digest and "(estimated)" not in digest


def test_records_without_their_defining_fields_hold_the_digest(world: World) -> None:
    assert world.check().code == 0

    def broken(record: dict[str, object]) -> None:
        record["protocolSection"]["statusModule"].pop("overallStatus")  # type: ignore[index]

    world.registry.update(DANISH, broken)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    run = world.check()
    assert "HELD for a look: 1 registry record(s) came without an NCT id or a status" in run.out
    assert world.messages == []


def test_ordinary_news_is_not_held(world: World) -> None:
    assert world.check().code == 0
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.registry.update(DANISH, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    run = world.check()
    assert "HELD" not in run.out
    assert len(world.messages) == 1
