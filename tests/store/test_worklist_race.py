"""Editors changing the same finding at once, from separate processes (racer.py), on SQLite and
PostgreSQL: every change is recorded, each from the state the one before it left, and the
finding ends where the last one put it. While the contenders start, another connection holds
the findings locked (test_store.py's harness), so that all of them are ready to change the
finding before any can: on PostgreSQL, without the row lock `set_state` takes, each would read
"open" and record a change from it."""

from __future__ import annotations

import json
from typing import Any

from conftest import LDN_ARTICLE, World
from contenders import CONTENDERS, race
from pubmed_standin import ldn_world

from monitor.store.db import make_engine


def test_editors_changing_one_finding_at_once_lose_no_change(world: World) -> None:
    world.trials, world.searches = [], []
    world.extra = LDN_ARTICLE
    assert world.pubmed is not None
    world.pubmed.put(*ldn_world())  # both trials' results papers: two findings
    assert world.check().code == 0
    finding = json.loads(world.command("findings", "--json").out)["articles"][0]["findings"][0]
    config = str(world.write_config())

    def argv(n: int) -> list[str]:
        put = ["handle"] if n % 2 == 0 else ["dismiss", "--note", "not this article's"]
        return ["--config", config, *put, finding["id"], "--by", f"editor-{n}"]

    engine = make_engine(world.database_url)
    try:
        results: list[Any] = race("command", engine, "findings", argv)
    finally:
        engine.dispose()
    assert all(code == 0 for code, _, _ in results), results
    [after] = [
        f
        for f in json.loads(world.command("findings", "--json", "--state", "all").out)["articles"][
            0
        ]["findings"]
        if f["id"] == finding["id"]
    ]
    history = after["history"]
    # Each contender either changed it or found it already where it wanted it.
    changed = sum(" is already " not in out for _, out, _ in results)
    assert len(history) == changed >= 2, (history, results)
    states = ["open", *(h["state"] for h in history)]
    assert [h["previous"] for h in history] == states[:-1], history
    assert all(h["previous"] != h["state"] for h in history)
    assert after["state"] == states[-1]
    assert len({h["by"] for h in history}) == len(history) <= CONTENDERS
