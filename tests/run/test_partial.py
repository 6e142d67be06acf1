"""A partial failure is visible to whatever watches the exit code: PubMed unread while the
registry's news goes out is `check` exit 4, named by `status`, counted like any failed cycle by
the operators' failure notice and the ping's /fail, and `health` fails once it has gone on for
alerts.after_consecutive_failures cycles in a row. End to end through the commands, with the
stand-ins, a real SMTP server and a loopback dead-man's switch."""

from __future__ import annotations

import json

from conftest import FINAL, World, body
from pings import Receiver
from pubmed_standin import Fault
from standin import set_piece
from test_literature import ldn

OPS = 'security = "none"\nops_recipients = ["ops@example.org"]\n'


def test_pubmed_unread_is_exit_4_said_by_status_counted_by_the_alerts_and_health(
    world: World, receiver: tuple[str, type[Receiver]]
) -> None:
    url, pings = receiver
    ldn(world)
    world.extra += f'\n[alerts]\nafter_consecutive_failures = 2\nping_url = "{url}"\n'
    world.email_extra = OPS
    assert world.pubmed is not None
    assert world.check().code == 0
    assert world.command("health").code == 0

    world.pubmed.fail_always(Fault.status(503))
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    first = world.check()
    assert first.code == 4, first
    assert "Completed → Terminated" in body(world.messages[-1])  # the registry's news went out
    status = world.command("status")
    assert status.code == 0 and "NOT READ: PubMed, in the last cycle" in status.out
    assert world.command("health").code == 0  # once is not yet a pattern
    ops = [a for a in world.accepted if a.recipients == ["ops@example.org"]]
    assert ops == []

    second = world.check()
    assert second.code == 4, second
    health = world.command("health")
    assert health.code == 1, health
    assert health.out.startswith("health: unhealthy: PubMed could not be read in the last 2 cycles")
    [notice] = [a.message for a in world.accepted if a.recipients == ["ops@example.org"]]
    assert notice["Subject"] == "[LDN monitor] monitor is failing: 2 cycles in a row"
    assert "PubMed could not be read" in body(notice)
    assert [p[1] for p in pings.received] == ["/ping/5f1c", *["/ping/5f1c/fail"] * 2]
    report = json.loads(world.command("status", "--json").out)
    assert [c["unread"] for c in report["cycles"][:3]] == [["pubmed"], ["pubmed"], []]

    world.pubmed.fail_always(None)
    assert world.check().code == 0
    assert world.command("health").code == 0
    assert "NOT READ" not in world.command("status").out
    subjects = [a.message["Subject"] for a in world.accepted if a.recipients == ["ops@example.org"]]
    assert subjects[-1] == "[LDN monitor] monitor recovered"
    assert pings.received[-1][1] == "/ping/5f1c"
