"""Routing: each desk gets one digest with only its changes; everyone on email.recipients gets
them all; a desk whose digest fails gets it next cycle, the others do not get theirs again."""

from __future__ import annotations

import pytest
from conftest import DANISH, FINAL, LDN_SEARCH, World, body
from standin import set_piece, study

from monitor.core.routing import Route, Router

NEW = "NCT06000001"
ROUTES = f"""
[[routes]]
name = "Fibromyalgia desk"
recipients = ["fm@example.org"]
trials = ["{FINAL}"]

[[routes]]
name = "Long COVID desk"
recipients = ["covid@example.org"]
searches = ["Long COVID"]
"""


def setup(world: World) -> None:
    world.searches = [LDN_SEARCH, ("Long COVID", "long covid")]
    world.extra = ROUTES
    assert world.check().code == 0
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 60))
    world.registry.put(study(NEW, BriefTitle="Low Dose Naltrexone for Long COVID"))


def digests(world: World) -> dict[tuple[str, ...], str]:
    return {tuple(a.recipients): body(a.message) for a in world.accepted}


def test_each_recipient_gets_one_digest_with_only_their_changes(world: World) -> None:
    setup(world)
    assert world.check().code == 0
    sent = digests(world)
    assert set(sent) == {
        ("editor@example.org", "desk@example.org"),
        ("fm@example.org",),
        ("covid@example.org",),
    }
    everything = sent[("editor@example.org", "desk@example.org")]
    assert FINAL in everything and DANISH in everything and NEW in everything
    assert FINAL in sent[("fm@example.org",)]
    assert DANISH not in sent[("fm@example.org",)] and NEW not in sent[("fm@example.org",)]
    assert NEW in sent[("covid@example.org",)] and FINAL not in sent[("covid@example.org",)]


def test_a_desk_whose_digest_fails_gets_it_next_time_and_nobody_gets_one_twice(
    world: World,
) -> None:
    setup(world)
    # The first digest (to everyone) is refused on both attempts; the desks' go through.
    world.smtp.refuse_next("451 4.3.0 Try later", "451 4.3.0 Try later")
    run = world.check()
    assert run.code == 1
    assert set(digests(world)) == {("fm@example.org",), ("covid@example.org",)}
    assert world.check().code == 0
    accepted = [tuple(a.recipients) for a in world.accepted]
    assert sorted(accepted) == sorted(
        [("fm@example.org",), ("covid@example.org",), ("editor@example.org", "desk@example.org")]
    )


def test_history_shows_a_change_one_desk_got_and_another_still_waits_for(world: World) -> None:
    setup(world)
    world.smtp.recorder.refuse_mail_to["fm@example.org"] = "451 4.3.0 Try later"
    assert world.check().code == 1  # everyone's digest went out, the desk's did not
    run = world.command("history", FINAL)
    assert run.code == 0, run
    assert "Status: Completed → Terminated  [not sent yet]" in run.out
    del world.smtp.recorder.refuse_mail_to["fm@example.org"]
    assert world.check().code == 0
    assert "Status: Completed → Terminated  [sent " in world.command("history", FINAL).out


@pytest.mark.no_database
def test_routes_are_config_checked(world: World) -> None:
    world.extra = '\n[[routes]]\nname = "x"\nrecipients = ["x@example.org"]\nsearches = ["Nope"]\n'
    run = world.check()
    assert (
        run.code == 2
        and "routes[0].searches: 'Nope' is not the name of a watch.searches" in run.err
    )
    world.extra = (
        '\n[[routes]]\nname = "x"\nrecipients = ["x@example.org"]\ntrials = ["NCT01234567"]\n'
    )
    run = world.check()
    assert (
        run.code == 2
        and "routes[0].trials name NCT01234567, which no article and not watch.trials cite"
        in run.err
    )


def test_the_router_adds_desks_to_everyone_without_repeats() -> None:
    router = Router(
        ("editor@example.org",),
        (
            Route("FM", ("fm@example.org", "editor@example.org"), trials=frozenset({FINAL})),
            Route("LDN", ("ldn@example.org",), search_terms=frozenset({"low dose naltrexone"})),
        ),
    )
    assert router.recipients({FINAL}, set()) == ("editor@example.org", "fm@example.org")
    assert router.recipients({DANISH}, {"low dose naltrexone"}) == (
        "editor@example.org",
        "ldn@example.org",
    )
    assert router.recipients({DANISH}, set()) == ("editor@example.org",)
    # A record FINAL was merged into is FINAL's desk's business too.
    assert router.recipients({"NCT06999999", FINAL}, set()) == (
        "editor@example.org",
        "fm@example.org",
    )
