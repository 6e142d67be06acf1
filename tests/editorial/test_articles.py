"""Articles first: the first look at an article (the article check), `verify`, two articles
citing one trial, a digest that names each article and what in it to re-check, search finds
ranked by how close they are to the articles, and Message-IDs no other monitor makes. Through
the public commands, against the stand-in registry and a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import re
from html import unescape
from pathlib import Path

import pytest
from conftest import DANISH, FINAL, LDN_ARTICLE, LDN_SEARCH, ROOT, URL, World, body, flat
from standin import Fault, add_reference, set_piece, study

OTHER_URL = "https://example.org/articles/fibromyalgia-drugs"
LANCET = (
    "Bruun KD, Christensen R, Amris K, et al. Naltrexone 6 mg once daily versus placebo in women"
    " with fibromyalgia: a randomised, double-blind, placebo-controlled trial. Lancet Rheumatol."
    " 2024;6(1):e31-e39."
)
PAIN_REPORTS = (
    "Due Bruun K, Christensen R, Amris K, et al. Low-dose naltrexone for treatment of pain in"
    " patients with fibromyalgia: a randomized, double-blind, placebo-controlled, crossover"
    " study. Pain Rep. 2023;8(4):e1080."
)
# A second article, with its own desk, that cites FINAL only and says something older of it.
DRUGS_ARTICLE = f"""
[[articles]]
title = "Drugs for fibromyalgia"
url = "{OTHER_URL}"
trials = ["{FINAL}"]
recipients = ["drugs-desk@example.org"]

[[articles.claims]]
trial = "{FINAL}"
status = "RECRUITING"
passage = "the table of ongoing trials"
"""


def articles(world: World, *blocks: str) -> None:
    """The world's config names its articles with [[articles]] (no watch.trials)."""
    world.trials = []
    world.extra = "".join(blocks)


def results_published(world: World) -> None:
    """The registry as it is now: both cited trials link their (negative) results papers."""
    world.registry.update(FINAL, lambda r: add_reference(r, "38258677", "RESULT", LANCET))
    world.registry.update(DANISH, lambda r: add_reference(r, "38226027", "DERIVED", PAIN_REPORTS))


# -- the first look -------------------------------------------------------------------------


def test_the_first_check_says_first_that_a_cited_trial_published_results_it_does_not_cite(
    world: World,
) -> None:
    """The registry alone (PubMed holds nothing of these trials): FINAL links its results paper
    (RESULT), the crossover a paper that only names it (DERIVED)."""
    articles(world, LDN_ARTICLE)
    results_published(world)
    run = world.check()
    assert run.code == 0, run
    assert "article check" in run.out
    assert world.messages == []  # the search's first run is a silent baseline
    [check] = world.article_checks
    assert check["Subject"] == (
        "[LDN monitor] Article check: “Low-dose naltrexone: what the evidence says”:"
        " FINAL has published results it does not cite"
    )
    text, html = body(check), unescape(body(check, "html"))
    for part in (text, html):
        assert "FINAL (NCT04270877) has published results: the article does not cite it." in part
        assert "The results paper: PMID 38258677" in part
        assert "Naltrexone 6 mg once daily versus placebo" in part
        assert "https://pubmed.ncbi.nlm.nih.gov/38258677/" in part
        assert "A paper that names this trial: PMID 38226027" in part
        assert URL in part
    # The verdict first; the agreements in one line; what to re-check, where.
    assert text.split(" TO RE-CHECK ")[0].endswith(
        "A trial this article relies on has published results that it does not mention:"
        " FINAL (PMID 38258677)."
    )
    assert "Status, enrollment and phase agree for both trials; completion agrees for FINAL." in (
        text
    )
    assert "Re-check: the paragraph on FINAL." in text
    # Once: the next cycles are quiet while nothing moves.
    assert world.check().code == 0
    assert len(world.article_checks) == 1 and world.messages == []


def test_verify_prints_the_same_standing_and_exits_1_until_the_article_says_what_was_found(
    world: World,
) -> None:
    articles(world, LDN_ARTICLE)
    results_published(world)
    run = world.command("verify")
    assert run.code == 1, run
    out = flat(run.out)
    assert "Article check: “Low-dose naltrexone: what the evidence says”" in out
    assert "FINAL (NCT04270877) has published results: the article does not cite it." in out
    assert run.out.splitlines()[-1] == (
        "verify: 7 of 7 claims agree with the registry; 1 thing to re-check"
    )
    # The article cites the results paper now, but does not say what the trial found.
    cites = LDN_ARTICLE.replace(
        'passage = "the paragraph on FINAL"', 'publications = ["38258677"]'
    ).replace('passage = "the paragraph on the Danish crossover"', 'publications = ["38226027"]')
    world.extra = cites
    run = world.command("verify")
    assert run.code == 1, run
    assert "the article cites it but does not say what the trial found" in flat(run.out)
    # And once it says: every claim and every paper agrees.
    world.extra = cites.replace(
        'publications = ["38258677"]', 'publications = ["38258677"]\noutcome = "no benefit"'
    )
    run = world.command("verify")
    assert run.code == 0, run
    assert run.out.splitlines()[-1] == (
        "verify: 7 of 7 claims agree with the registry; nothing to re-check"
    )


@pytest.mark.no_database
def test_verify_exits_3_with_one_line_when_it_could_not_ask_the_registry(world: World) -> None:
    articles(world, LDN_ARTICLE)
    world.registry.fail_always(Fault.status(503))
    run = world.command("verify")
    assert run.code == 3, run
    assert run.out == ""
    assert "Traceback" not in run.err
    line = run.err.strip().splitlines()[-1]  # after the retries' warnings
    assert line.startswith("trial-monitor: verify: could not check: ") and "503" in line


# -- two articles, one trial ------------------------------------------------------------------


def test_a_change_to_a_trial_two_articles_cite_is_sent_once_and_names_both(world: World) -> None:
    articles(world, LDN_ARTICLE, DRUGS_ARTICLE)
    world.baseline()
    assert len(world.article_checks) == 2  # one first look per article

    def stopped(record: dict[str, object]) -> None:
        set_piece(record, "OverallStatus", "TERMINATED")
        set_piece(record, "WhyStopped", "Sponsor decision")

    world.registry.update(FINAL, stopped)
    assert world.check().code == 0
    [message] = world.messages
    [accepted] = world.accepted
    # Everyone on email.recipients and the second article's desk: one copy each.
    assert sorted(accepted.recipients) == sorted(
        ["editor@example.org", "desk@example.org", "drugs-desk@example.org"]
    )
    text, html = body(message), body(message, "html")
    # The change once (the claims it contradicts are said beside it, not apart).
    assert text.count("[high] Status: Completed → Terminated") == 1
    assert "contradicted" not in text.lower()
    for part in (text, html):
        assert "Reason given: Sponsor decision" in part
    assert (
        "“Low-dose naltrexone: what the evidence says” says Completed; the registry now says"
        " Terminated. Re-check: the paragraph on FINAL." in text
    )
    assert (
        "“Drugs for fibromyalgia” says Recruiting; the registry now says Terminated."
        " Re-check: the table of ongoing trials." in text
    )
    assert URL in text and OTHER_URL in text
    assert f'<a href="{URL}"' in html and f'<a href="{OTHER_URL}"' in html
    # The Danish trial is the first article's only: its desk-less change skips the second desk.
    world.registry.update(DANISH, lambda r: set_piece(r, "OverallStatus", "WITHDRAWN"))
    assert world.check().code == 0
    latest = world.accepted[-1]
    assert "drugs-desk@example.org" not in latest.recipients
    assert "Drugs for fibromyalgia" not in body(world.messages[-1])


# -- importance follows the article ----------------------------------------------------------


def test_search_finds_are_ranked_by_closeness_and_off_topic_ones_summarised_last(
    world: World,
) -> None:
    articles(world, LDN_ARTICLE)
    world.searches = [LDN_SEARCH, ("LDN", "LDN")]
    world.baseline()
    close = study(
        "NCT06100001",
        BriefTitle="Low Dose Naltrexone for Fibromyalgia in Men",
        OverallStatus="RECRUITING",
        Phase=["PHASE3"],
        EnrollmentCount=240,
        EnrollmentType="ESTIMATED",
        LeadSponsorName="Haukeland University Hospital",
        StartDate="2026-10-01",
    )
    off_topic = study(
        "NCT06100002",
        BriefTitle="Lateral Neck Dissection (LDN) in Papillary Thyroid Cancer",
        OfficialTitle="Lateral Neck Dissection (LDN) in Papillary Thyroid Cancer",
        OverallStatus="NOT_YET_RECRUITING",
        Condition=["Papillary Thyroid Cancer"],
    )
    off_topic["protocolSection"]["armsInterventionsModule"]["interventions"] = [
        {"type": "PROCEDURE", "name": "Lateral neck dissection"}
    ]
    off_topic["protocolSection"]["conditionsModule"]["keywords"] = ["LDN"]
    world.registry.put_all([close, off_topic])
    world.registry.update(FINAL, lambda r: add_reference(r, "38258677", "RESULT", LANCET))
    assert world.check().code == 0
    [message] = world.messages
    text = body(message, raw=True)
    sections = [line for line in text.splitlines() if line.startswith("== ")]
    assert sections == [
        "== TRIALS THE ARTICLE CITES ==",
        "== TRIALS YOUR SEARCHES FOUND ==",
        "== FURTHER FROM THE ARTICLE ==",
    ]
    cited, found, further = re.split(r"^== .* ==$", text, flags=re.M)[1:]
    assert "38258677" in cited and "NCT06100001" not in cited and "NCT06100002" not in cited
    # The close find, with what it is and why it is here, at medium.
    found = flat(found)
    assert "[medium] New trial: found by the search “Low-dose naltrexone”" in found
    assert "Close to “Low-dose naltrexone: what the evidence says”: it too studies" in found
    assert (
        "Phase 3 · 240 participants (estimated) · Sponsor: Haukeland University Hospital"
        " · Conditions: Fibromyalgia · Start: 1 October 2026" in found
    )
    # The off-topic find: one line at the end, not in what matters most.
    assert "NCT06100002" in further and "NCT06100002" not in found
    assert "Lateral Neck Dissection (LDN)" in flat(further) and "[low]" not in further
    top = text[: text.index("== TRIALS THE ARTICLE CITES ==")]
    assert "NCT04270877" in top and "NCT06100001" not in top and "NCT06100002" not in top
    html = body(message, "html")
    assert html.index("38258677") < html.index("NCT06100001") < html.index("NCT06100002")


# -- message identity and headers ------------------------------------------------------------


def test_two_monitors_never_send_one_editor_two_digests_under_one_message_id(
    world: World, tmp_path: Path
) -> None:
    other = World(
        tmp_path / "second",
        world.registry,
        world.smtp,
        "sqlite:///" + str(tmp_path / "second" / "monitor.db"),
    )
    other.tmp.mkdir()
    for monitor in (world, other):
        monitor.searches = []
        monitor.baseline()
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    for monitor in (world, other):
        assert monitor.check().code == 0
    first, second = world.messages
    assert first["Message-ID"] != second["Message-ID"]
    for message in (first, second):
        # The sender's own domain after the @, not a name every installation shares.
        assert str(message["Message-ID"]).endswith("@example.org>")


def test_the_list_id_label_is_quoted_so_a_comma_or_colon_keeps_the_header_valid(
    world: World,
) -> None:
    world.searches = []
    world.digest_settings = 'subject_prefix = "[LDN, daily: monitor]"'
    world.baseline()
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.check()
    [message] = world.messages
    assert message["List-Id"] == '"LDN, daily: monitor" <digest.trial-monitor.localhost>'
    raw = message.as_bytes()
    reparsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert reparsed["List-Id"] == '"LDN, daily: monitor" <digest.trial-monitor.localhost>'


# -- from the article to the configuration -----------------------------------------------------


ARTICLE = ROOT / "tests" / "fixtures" / "articles" / "ldn-evidence.txt"


@pytest.mark.no_database
def test_cite_drafts_the_articles_block_from_the_real_article(world: World) -> None:
    run = world.command("cite", str(ARTICLE))
    assert run.code == 0, run
    out = run.out
    assert f'trials = ["{FINAL}", "{DANISH}"]' in out
    assert 'pmids = ["32068870", "32845365", "30248938"]' in out
    final, danish = out.split("[[articles.claims]]")[1:]
    for line in (f'trial = "{FINAL}"', "enrollment = 99", 'phase = "PHASE2"'):
        assert line in final
    assert "completion_year = 2022" in final and 'status = "COMPLETED"' in final
    for line in (f'trial = "{DANISH}"', "enrollment = 58", 'phase = "PHASE4"'):
        assert line in danish
    assert "# could not read: completion year" in danish
    assert "# design: randomized, double-blind, placebo-controlled, crossover" in danish


@pytest.mark.no_database
def test_the_shipped_config_holds_the_reviewed_block_cite_drafts(world: World) -> None:
    """What `cite` read from the article is what config.toml ships (title and url filled in)."""
    shipped = (ROOT / "config.toml").read_text(encoding="utf-8")
    drafted = world.command("cite", str(ARTICLE)).out
    for line in drafted.splitlines():
        if line.startswith(("trials", "pmids", "trial =", "status", "enrollment", "phase")):
            assert line in shipped, line
        if line.startswith(("completion_year", "passage")):
            assert line in shipped, line


@pytest.mark.no_database
def test_cite_says_in_one_line_what_it_could_not_read(world: World, tmp_path: Path) -> None:
    missing = world.command("cite", str(tmp_path / "nowhere.txt"))
    assert missing.code == 2 and missing.err.count("\n") == 1 and "cannot read" in missing.err
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Caf\xe9 NCT04270877".encode("latin-1"))
    wrong = world.command("cite", str(latin1))
    assert wrong.code == 2 and "not UTF-8" in wrong.err and "Traceback" not in wrong.err
    empty = tmp_path / "empty.md"
    empty.write_text("# Nothing cited here\n\nJust words.\n", encoding="utf-8")
    nothing = world.command("cite", str(empty))
    assert nothing.code == 1 and "found no NCT id and no PubMed id" in nothing.err
