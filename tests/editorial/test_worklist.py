"""The editors' worklist, end to end through the commands: a finding handled or dismissed (who,
when, why, recorded), listed by state, not counted by `verify`, never mailed again, reopened;
an unknown id changes nothing; a new title keeps the findings."""

from __future__ import annotations

import getpass
import json
from datetime import timedelta
from typing import Any

from conftest import DANISH, FINAL, LDN_ARTICLE, World, body
from pubmed_standin import StandinPubmed, ldn_world
from sqlalchemy import Table, select, update
from standin import set_piece

from monitor.store.schema import findings, reminders

RESULTS_UNCITED = "have published results it does not cite"


def pubmed(world: World) -> StandinPubmed:
    assert world.pubmed is not None
    return world.pubmed


def ldn(world: World) -> None:
    """The shipped article, and PubMed holding both cited trials' results papers: two
    findings, one per trial."""
    world.trials, world.searches = [], []
    world.extra = LDN_ARTICLE
    pubmed(world).put(*ldn_world())


def stored(world: World, *args: str) -> list[dict[str, Any]]:
    """The first article's findings as `findings --json` lists them."""
    run = world.command("findings", "--json", *args)
    assert run.code == 0, run
    found: list[dict[str, Any]] = json.loads(run.out)["articles"][0]["findings"]
    return found


def test_an_editor_handles_dismisses_and_reopens_findings_and_verify_counts_the_open_ones(
    world: World,
) -> None:
    ldn(world)
    assert world.check().code == 0
    first, second = (f["id"] for f in stored(world))
    assert world.command("verify").code == 1

    done = world.command("handle", first, "--note", "The abstract now cites it", "--by", "Alice")
    assert done.code == 0, done
    assert done.out.startswith(f"handle: {first} handled by Alice, ")
    assert [f["id"] for f in stored(world)] == [second]
    handled = world.command("findings", "--state", "handled").out
    assert "1 handled finding" in handled and first in handled and second not in handled
    assert "handled by Alice" in handled and "“The abstract now cites it”" in handled

    checked = world.command("verify")
    assert checked.code == 1  # one still open
    assert "1 thing to re-check (1 handled or dismissed)" in checked.out
    aside = checked.out.split("Handled or dismissed, not counted:")[1]
    assert first in aside and "handled by Alice" in aside

    assert world.command("dismiss", second, "--note", "Out of the article's scope").code == 0
    checked = world.command("verify")
    assert checked.code == 0, checked.out
    assert "nothing to re-check (2 handled or dismissed)" in checked.out
    assert "2 findings (1 handled, 1 dismissed)" in world.command("findings", "--state", "all").out

    assert world.command("reopen", second).code == 0
    [again] = stored(world)
    assert again["id"] == second and again["state"] == "open"
    assert [(h["previous"], h["state"], h["by"], h["via"]) for h in again["history"]] == [
        ("open", "dismissed", getpass.getuser(), "command"),
        ("dismissed", "open", getpass.getuser(), "command"),
    ]
    assert world.command("verify").code == 1
    # Already there: said, and nothing recorded.
    same = world.command("handle", first)
    assert same.code == 0 and f"{first} is already handled" in same.out
    assert len(stored(world, "--state", "handled")[0]["history"]) == 1


def test_an_unknown_finding_is_one_line_and_changes_nothing(world: World) -> None:
    ldn(world)
    assert world.check().code == 0
    first, _ = (f["id"] for f in stored(world))
    wrong = world.command("handle", first, "0000000000")
    assert wrong.code == 2
    assert wrong.err.strip().count("\n") == 0, wrong.err
    assert "no finding has the id 0000000000" in wrong.err and "nothing was changed" in wrong.err
    assert [f["state"] for f in stored(world)] == ["open", "open"]
    no_reason = world.spawn("dismiss", first)
    _, err = no_reason.communicate(timeout=60)
    assert no_reason.returncode == 2 and "--note" in err


def test_a_handled_finding_is_not_mailed_even_when_its_digest_was_kept(world: World) -> None:
    """The results papers arrive, and the digest that would open with them fails to go; the
    editor handles both findings from `findings` before it does: it goes without them."""
    world.trials, world.searches = [], []
    world.extra = LDN_ARTICLE
    assert world.check().code == 0  # PubMed knows no results paper yet
    pubmed(world).put(*ldn_world())
    world.smtp.refuse_next("451 4.3.0 Try again later", "451 4.3.0 Try again later")
    assert world.check().code == 1
    assert world.messages == []
    ids = [f["id"] for f in stored(world)]
    assert len(ids) == 2
    assert world.command("handle", *ids, "--by", "Alice").code == 0
    assert world.check().code == 0
    [digest] = world.messages
    assert RESULTS_UNCITED not in digest["Subject"], digest["Subject"]
    assert "Both trials this article relies on" not in body(digest)


def test_a_new_title_keeps_the_findings_and_their_states(world: World) -> None:
    ldn(world)
    assert world.check().code == 0
    first, second = (f["id"] for f in stored(world))
    assert world.command("handle", first, "--by", "Alice").code == 0
    world.extra = world.extra.replace(
        'title = "Low-dose naltrexone: what the evidence says"', 'title = "LDN, revised"'
    )
    assert "LDN, revised" in world.extra
    assert world.check().code == 0
    listed = world.command("findings", "--state", "all").out
    assert listed.startswith("“LDN, revised” (ldn): 2 findings (1 open, 1 handled)"), listed
    assert [f["id"] for f in stored(world)] == [second]


def _a_week_ago(world: World, table: Table, column: str, days: int = 8) -> None:
    """Move a stored moment back: a week passes for the store, not for the test."""
    key = next(iter(table.primary_key.columns))
    with world.engine() as engine, engine.begin() as conn:
        for row in conn.execute(select(key, table.c[column])).all():
            moved = {column: row[1] - timedelta(days=days)}
            conn.execute(update(table).where(key == row[0]).values(moved))


def test_high_findings_still_open_after_a_week_are_said_again_after_the_news_weekly(
    world: World,
) -> None:
    ldn(world)
    assert world.check().code == 0
    first, second = (f["id"] for f in stored(world))
    _a_week_ago(world, findings, "first_seen_at")
    # No news: no message; a reminder is never a message of its own.
    assert world.check().code == 0
    assert world.messages == []

    world.registry.update(FINAL, lambda r: set_piece(r, "EnrollmentCount", 101))
    assert world.check().code == 0
    [digest] = world.messages
    news, reminder = body(digest).split("== STILL OPEN AFTER A WEEK (not news: a reminder) ==")
    assert "Enrollment" in news and first not in news
    assert f"[{first}]" in reminder and f"[{second}]" in reminder
    assert "has published results: the article does not cite it" in reminder
    assert "still open" not in digest["Subject"].lower() and "results" not in digest["Subject"]
    html = digest.get_body(("html",))
    assert html is not None and "Still open after a week" in html.get_content()

    # The next digest within the week says nothing again.
    world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 59))
    assert world.check().code == 0
    assert "STILL OPEN" not in body(world.messages[-1])

    # A week after the last reminder, only what is still open is said again.
    assert world.command("handle", first, "--by", "Alice").code == 0
    _a_week_ago(world, reminders, "reminded_at")
    world.registry.update(FINAL, lambda r: set_piece(r, "EnrollmentCount", 102))
    assert world.check().code == 0
    last = body(world.messages[-1]).split("== STILL OPEN AFTER A WEEK")[1]
    assert f"[{second}]" in last and f"[{first}]" not in last
