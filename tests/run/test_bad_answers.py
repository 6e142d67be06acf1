"""An answer the parser cannot read stops nothing: a body nested deeper than Python's JSON
parser recurses, bytes that are not UTF-8, XML that is not XML (tests/hostile.py keeps them).
Each is a bad answer, asked for again, then named in one line; the news served in the same
cycle goes out. End to end through `trial-monitor check`, the stand-ins serving each answer
with 200 and the right content type, as a broken proxy or server would."""

from __future__ import annotations

import pytest
from conftest import FINAL, World, body
from hostile import EFETCH_ANSWERS, ESEARCH_ANSWERS, REGISTRY_ANSWERS
from pubmed_standin import XML_TYPE
from pubmed_standin import Fault as PubmedFault
from standin import Fault, set_piece
from test_literature import LATER, RECORDS, ldn


@pytest.mark.parametrize("answer", REGISTRY_ANSWERS.values(), ids=REGISTRY_ANSWERS.keys())
def test_a_registry_answer_it_cannot_read_is_asked_again_and_the_news_goes_out(
    world: World, answer: bytes
) -> None:
    world.baseline()
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.registry.fail_next_to("/studies", Fault.answer(answer))
    run = world.check()
    assert run.code == 0, run
    assert "Traceback" not in run.out + run.err
    [digest] = world.messages
    assert "Completed → Terminated" in body(digest)


def test_a_registry_that_answers_only_that_is_one_line_and_exit_1(world: World) -> None:
    world.baseline()
    world.registry.fail_always(Fault.answer(REGISTRY_ANSWERS["nested 100,000 deep"]))
    run = world.check()
    world.registry.fail_always(None)
    assert run.code == 1, run
    assert "Traceback" not in run.out + run.err
    [line] = [x for x in run.out.splitlines() if "not the JSON expected" in x]
    assert "failed after" in line and "RecursionError" in line, line
    assert world.messages == []
    # Nothing was lost: the next cycle reads the registry as it is.
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    assert world.check().code == 0
    assert "Completed → Terminated" in body(world.messages[0])


PUBMED_ANSWERS = [
    *(
        (f"ESearch {name}", "esearch.fcgi", PubmedFault.answer(b))
        for name, b in ESEARCH_ANSWERS.items()
    ),
    *(
        (f"EFetch {name}", "efetch.fcgi", PubmedFault.answer(b, XML_TYPE))
        for name, b in EFETCH_ANSWERS.items()
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "fault"), [a[1:] for a in PUBMED_ANSWERS], ids=[a[0] for a in PUBMED_ANSWERS]
)
def test_a_pubmed_answer_it_cannot_read_is_asked_again_and_the_news_goes_out(
    world: World, endpoint: str, fault: PubmedFault
) -> None:
    ldn(world)
    world.pubmed_settings = "max_attempts = 4"  # room for a 429 from the stand-in's pacing too
    world.baseline()
    assert world.pubmed is not None
    world.pubmed.put(*(RECORDS[pmid] for pmid in LATER))
    world.pubmed.fail_next_to(endpoint, fault)
    start = len(world.pubmed.requests)
    run = world.check()
    assert run.code == 0, run
    assert "Traceback" not in run.out + run.err
    [digest] = world.messages
    assert "Results of this cited trial have been published" in body(digest)
    # The same request, asked again at once: not lost, nor found again some other way.
    asked = [(r.path, r.params.get("id"), r.params.get("term")) for r in world.pubmed.requests]
    again = [n for n in range(start, len(asked) - 1) if asked[n] == asked[n + 1]]
    assert again and asked[again[0]][0].endswith(endpoint), asked[start:]
