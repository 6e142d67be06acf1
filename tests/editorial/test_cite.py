"""`trial-monitor cite`'s core: the LDN article (as supplied, and as Markdown and HTML) read into
a draft `[[articles]]` block, and the false friends a careless reader would take for claims."""

from __future__ import annotations

import html
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.editorial.cite import ArticleDraft, TrialDraft, config_block, read_article
from monitor.settings.config import WatchConfig
from monitor.settings.configarticles import read_articles
from monitor.settings.tomltable import Table

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = ROOT / "tests" / "fixtures" / "articles" / "ldn-evidence.txt"
FINAL, DANISH = "NCT04270877", "NCT02806440"
PMIDS = ("32068870", "32845365", "30248938")
# The lines of the article that are headings (plain text sets them apart only by blank lines).
HEADINGS = frozenset(
    {"Key takeaways", "What Is Low-Dose Naltrexone?", "How It Is Thought to Work"}
    | {"The Human Evidence", "What It Is Being Explored For", "The evidence"}
)


@pytest.fixture(scope="module")
def ldn_text() -> str:
    return ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ldn(ldn_text: str) -> ArticleDraft:
    return read_article(ldn_text)


def trial(draft: ArticleDraft, nct_id: str) -> TrialDraft:
    return next(t for t in draft.trials if t.nct_id == nct_id)


def as_markdown(text: str) -> str:
    """The article as an editor might write it in Markdown: # headings, - bullets, emphasis, and
    ids that appear only in links' addresses in the reference list."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in HEADINGS:
            lines.append(f"## {stripped}")
            continue
        line = re.sub(r"^\s*• ", "- ", line)
        line = re.sub(r"\((NCT\d{8})\)", r"([\1](https://clinicaltrials.gov/study/\1))", line)
        line = re.sub(r"PubMed (\d+)$", r"[PubMed](https://pubmed.ncbi.nlm.nih.gov/\1/)", line)
        line = re.sub(
            r"ClinicalTrials\.gov\. (NCT\d{8})$",
            r"[ClinicalTrials.gov](https://clinicaltrials.gov/study/\1)",
            line,
        )
        line = line.replace("The FINAL study", "The **FINAL** study")
        lines.append(line.replace("crossover study", "*crossover* study"))
    return "\n".join(lines)


def as_html(text: str) -> str:
    """The article as a web page: <h2> headings, <p> paragraphs, <li> bullets and references
    (a paper's id only in its link), entities for quotes, ampersands and spaces."""
    parts = ["<!DOCTYPE html>\n<html><head><title>LDN &amp; pain</title></head><body>"]
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped in HEADINGS:
            parts.append(f"<h2>{html.escape(stripped)}</h2>")
        elif stripped.startswith("•"):
            parts.append(f"<ul><li>{html.escape(stripped[1:].strip())}</li></ul>")
        elif paper := re.search(r" PubMed (\d+)$", stripped):
            words = html.escape(stripped[: paper.start()])
            link = f"https://pubmed.ncbi.nlm.nih.gov/{paper[1]}/"
            parts.append(f'<ul><li><a href="{link}">{words}</a></li></ul>')
        elif record := re.search(r" ClinicalTrials\.gov\. (NCT\d{8})$", stripped):
            words = html.escape(stripped[: record.start()])
            link = f"https://clinicaltrials.gov/study/{record[1]}"
            parts.append(f'<ul><li>{words}\n  <a href="{link}">ClinicalTrials.gov</a></li></ul>')
        else:
            body = html.escape(stripped).replace("The FINAL study", "The&nbsp;FINAL&#32;study")
            body = body.replace("or LDN,", "or &ldquo;LDN&rdquo;,").replace(" and ", " &amp; ")
            parts.append(f"<p>{body}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


# The real article


def test_the_ldn_article_cites_both_trials_and_three_papers_in_order(ldn: ArticleDraft) -> None:
    assert [t.nct_id for t in ldn.trials] == [FINAL, DANISH]
    assert ldn.pmids == PMIDS


def test_the_ldn_article_has_no_title_to_read(ldn: ArticleDraft) -> None:
    assert ldn.title is None  # its first line is "Key takeaways", a section, not a title


def test_the_ldn_articles_claims_are_read_from_its_sentences(ldn: ArticleDraft) -> None:
    final, danish = trial(ldn, FINAL), trial(ldn, DANISH)
    assert (final.status, final.enrollment, final.phase, final.completion_year) == (
        "COMPLETED",
        99,
        "PHASE2",
        2022,
    )
    assert final.design == ("randomized", "double-blind", "placebo-controlled")
    assert final.unread == ()
    assert (danish.status, danish.enrollment, danish.phase) == ("COMPLETED", 58, "PHASE4")
    assert "crossover" in danish.design
    assert danish.completion_year is None  # "Completed." and no year anywhere
    assert danish.unread == ("completion year",)


def test_a_passage_names_the_section_and_opens_the_sentence(ldn: ArticleDraft) -> None:
    assert trial(ldn, FINAL).passage == (
        "The Human Evidence: “The FINAL study (NCT04270877) was a phase 2 randomized…”"
    )
    danish = trial(ldn, DANISH).passage
    assert danish is not None
    assert danish.startswith("The Human Evidence: “A separate randomized")


def test_the_block_parses_and_carries_the_claims(ldn: ArticleDraft) -> None:
    block = config_block(ldn)
    (article,) = tomllib.loads(block)["articles"]
    assert article["title"] == ""
    assert article["trials"] == [FINAL, DANISH]
    assert article["pmids"] == list(PMIDS)
    final, danish = article["claims"]
    assert final == {
        "trial": FINAL,
        "status": "COMPLETED",
        "enrollment": 99,
        "phase": "PHASE2",
        "completion_year": 2022,
        "passage": final["passage"],
        "outcome": "not stated",  # the article never says what the trials found
    }
    assert final["passage"].startswith("The Human Evidence")
    assert (danish["status"], danish["enrollment"], danish["phase"]) == ("COMPLETED", 58, "PHASE4")
    assert "completion_year" not in danish


def test_the_block_comments_on_what_to_fill_in_and_check(ldn: ArticleDraft) -> None:
    block = config_block(ldn)
    assert block.startswith("# From the article: check each value against the text")
    assert 'title = ""  # could not read a title: fill it in\n' in block
    assert "# design: randomized, double-blind, placebo-controlled, crossover\n" in block
    assert block.count("# could not read: completion year\n") == 1  # the Danish trial's
    assert block.count('outcome = "not stated"  # the text says nothing of it\n') == 2


def test_the_block_once_titled_is_what_the_monitors_config_accepts(ldn: ArticleDraft) -> None:
    block = config_block(ldn).replace('title = ""', 'title = "LDN"', 1)
    block = block.replace('url = ""', 'url = "https://example.org/ldn"', 1)
    (article,) = read_articles(Table(tomllib.loads(block), ""), WatchConfig())
    assert article.trials == (FINAL, DANISH)
    assert article.pmids == PMIDS
    said = {(c.trial, str(c.field), c.expected) for c in article.claims}
    assert said == {
        *((FINAL, "status", "COMPLETED"), (FINAL, "enrollment", "99")),
        *((FINAL, "phase", "PHASE2"), (FINAL, "completion_year", "2022")),
        *((DANISH, "status", "COMPLETED"), (DANISH, "enrollment", "58")),
        (DANISH, "phase", "PHASE4"),
    }


# The same article in other clothes


@pytest.mark.parametrize("dress", [as_markdown, as_html], ids=["markdown", "html"])
def test_markdown_and_html_read_as_the_plain_text_does(
    ldn: ArticleDraft, ldn_text: str, dress: Callable[[str], str], tmp_path: Path
) -> None:
    copy = tmp_path / "article"
    copy.write_text(dress(ldn_text), encoding="utf-8")
    dressed = read_article(copy.read_text(encoding="utf-8"))
    assert dressed.trials == ldn.trials  # every claim, the design words and the passage
    assert dressed.pmids == ldn.pmids


def test_a_links_address_is_a_citation() -> None:
    draft = read_article(
        "See [the dose-response trial](https://pubmed.ncbi.nlm.nih.gov/32068870/) and "
        "[FINAL](https://clinicaltrials.gov/study/nct04270877), which enrolled 99 women.\n"
    )
    assert draft.pmids == ("32068870",)
    assert [(t.nct_id, t.enrollment) for t in draft.trials] == [(FINAL, 99)]


def test_html_entities_are_decoded() -> None:
    draft = read_article(
        "<h2>Q&amp;A</h2>\n<p>&ldquo;FINAL&rdquo; (NCT04270877)\n enrolled 99&nbsp;women.</p>"
    )
    assert draft.trials[0].passage == "Q&A: ““FINAL” (NCT04270877) enrolled 99 women.”"
    assert draft.trials[0].enrollment == 99


@pytest.mark.parametrize(
    ("text", "title"),
    [
        (
            "# Low-dose naltrexone for pain\n\nNCT04270877 completed.\n",
            "Low-dose naltrexone for pain",
        ),
        (
            "Low-dose naltrexone for pain\n\nNCT04270877 completed.\n",
            "Low-dose naltrexone for pain",
        ),
        ("<title>LDN &amp; pain</title><h2>Key takeaways</h2><p>NCT04270877</p>", "LDN & pain"),
        ("<h2>Key takeaways</h2><p>NCT04270877 completed.</p>", None),
        ("NCT04270877 completed in 2022.\n", None),
    ],
)
def test_the_title_is_a_heading_that_looks_like_one(text: str, title: str | None) -> None:
    assert read_article(text).title == title


# False friends, and the claims beside them: one case a line

CLAIMS = [
    # article text, trial, field, what is read
    ("A 2020 trial (NCT04270877) enrolled 40 women.", FINAL, "completion_year", None),
    ("A 2020 trial (NCT04270877) enrolled 40 women.", FINAL, "enrollment", 40),
    ("NCT04270877 gave LDN to patients for 12 weeks.", FINAL, "enrollment", None),
    ("NCT04270877 ran 12 weeks in women with fibromyalgia.", FINAL, "enrollment", None),
    ("NCT04270877 randomised 1:1 a total of 120 adults.", FINAL, "enrollment", 120),
    ("NCT04270877 (n = 1,250) is a trial.", FINAL, "enrollment", 1250),
    (
        "NCT01234567 enrolled 40 patients and NCT07654321 enrolled 60 patients.",
        "NCT01234567",
        "enrollment",
        40,
    ),
    (
        "NCT01234567 enrolled 40 patients and NCT07654321 enrolled 60 patients.",
        "NCT07654321",
        "enrollment",
        60,
    ),
    (
        "FINAL enrolled 99 women (NCT04270877) while the Danish study (NCT02806440) enrolled 58.",
        FINAL,
        "enrollment",
        99,
    ),
    (
        "FINAL enrolled 99 women (NCT04270877) while the Danish study (NCT02806440) enrolled 58.",
        DANISH,
        "enrollment",
        58,
    ),
    (
        "NCT04270877 was phase 2, and a study of 58 patients (NCT02806440) was phase 4.",
        FINAL,
        "enrollment",
        None,
    ),
    (
        "NCT04270877 was phase 2, and a study of 58 patients (NCT02806440) was phase 4.",
        DANISH,
        "enrollment",
        58,
    ),
    (
        "NCT04270877 was phase 2, and a study of 58 patients (NCT02806440) was phase 4.",
        DANISH,
        "phase",
        "PHASE4",
    ),
    ("NCT04270877 (phase II) and NCT02806440 (phase 4) are trials.", DANISH, "phase", "PHASE4"),
    ("NCT04270877 is a phase II trial.", FINAL, "phase", "PHASE2"),
    ("NCT04270877 is a phase 2/3 trial.", FINAL, "phase", "PHASE2|PHASE3"),
    ("NCT04270877 is a Phase I/II trial.", FINAL, "phase", "PHASE1|PHASE2"),
    ("NCT04270877 has not yet completed.", FINAL, "status", None),
    ("NCT04270877 is expected to be completed in 2025.", FINAL, "status", None),
    ("NCT04270877 completed enrollment in 2021.", FINAL, "status", None),
    ("NCT04270877 finished in December 2022.", FINAL, "completion_year", 2022),
    ("NCT04270877 completed, and a 2024 paper reported on it.", FINAL, "status", "COMPLETED"),
    ("NCT04270877 completed, and a 2024 paper reported on it.", FINAL, "completion_year", None),
    ("In 2022, NCT04270877 completed.", FINAL, "completion_year", None),
    ("NCT04270877 is a non-randomized, open label trial.", FINAL, "design", ("open-label",)),
    ("NCT04270877 is a randomised cross-over trial.", FINAL, "design", ("randomized", "crossover")),
]


@pytest.mark.parametrize(("text", "nct_id", "field", "expected"), CLAIMS)
def test_claims_are_read_beside_their_trial(
    text: str, nct_id: str, field: str, expected: object
) -> None:
    assert getattr(trial(read_article(text), nct_id), field) == expected


def test_claims_far_from_any_trial_are_nobodys() -> None:
    draft = read_article("A 2020 trial enrolled 40 women. It completed in 2021, phase 2.\n")
    assert draft == ArticleDraft(title=None, trials=(), pmids=())


def test_the_body_is_preferred_to_the_reference_list() -> None:
    draft = read_article(
        "Trials\n\nThe FINAL study (NCT04270877) enrolled 99 women.\n\n"
        "References\n\nFINAL (101 participants). Completed 2022. ClinicalTrials.gov. NCT04270877\n"
    )
    final = draft.trials[0]
    assert (final.enrollment, final.completion_year) == (99, 2022)
    assert final.passage == "Trials: “The FINAL study (NCT04270877) enrolled 99 women.”"


def test_a_paragraph_ending_in_a_citation_is_still_read_by_sentences() -> None:
    draft = read_article(
        "The FINAL study (NCT04270877) enrolled 99 women. A review agreed (PMID: 30248938).\n"
    )
    assert draft.trials[0].passage == "“The FINAL study (NCT04270877) enrolled 99 women.”"


def test_a_citation_line_is_read_whole_without_a_references_heading() -> None:
    draft = read_article(
        "Studies\n\nFINAL (99 participants). Completed 2022. ClinicalTrials.gov. NCT04270877\n"
    )
    final = draft.trials[0]
    assert (final.enrollment, final.completion_year, final.status) == (99, 2022, "COMPLETED")


def test_only_labelled_numbers_are_pubmed_ids() -> None:
    draft = read_article(
        "See 32068870 (a page), PMID: 30248938, PMID 32845365, PubMed 38258677 and\n"
        "https://pubmed.ncbi.nlm.nih.gov/38226027/ and PubMed and ClinicalTrials.gov.\n"
    )
    assert draft.pmids == ("30248938", "32845365", "38258677", "38226027")


# The block itself


def test_an_article_citing_nothing_gives_an_empty_draft_that_says_so() -> None:
    draft = read_article(
        "Key takeaways\n\nLDN is studied for pain. A 2020 trial enrolled 40 women.\n"
    )
    assert draft == ArticleDraft(title=None, trials=(), pmids=())
    block = config_block(draft)
    assert "# Found no NCT id and no PubMed id in it" in block
    (article,) = tomllib.loads(block)["articles"]
    assert article == {"title": "", "url": "", "trials": [], "pmids": []}
    assert "claims" not in article


def test_several_phases_are_a_list_as_the_config_takes_them() -> None:
    block = config_block(read_article("NCT04270877 is a phase 2/3 trial.\n"))
    assert tomllib.loads(block)["articles"][0]["claims"][0]["phase"] == ["PHASE2", "PHASE3"]


@pytest.mark.parametrize(
    "title", ['He said "no"', "C:\\new\\table", "tab\there", "del\x7f", "é “curly” ✓", "\x01"]
)
def test_strings_are_valid_toml_whatever_they_hold(title: str) -> None:
    passage = f"{title}: “{title}”"
    draft = ArticleDraft(
        title=title,
        trials=(TrialDraft(FINAL, None, None, None, None, (), passage, ()),),
        pmids=(),
    )
    parsed: dict[str, Any] = tomllib.loads(config_block(draft))
    assert parsed["articles"][0]["title"] == title
    assert parsed["articles"][0]["claims"][0]["passage"] == passage


FRAGMENTS = st.sampled_from(
    [
        *("NCT04270877", "nct02806440", "PMID: 32068870", "PubMed 1", " ", "\n", "\n\n", ". "),
        *("<p>", "</p>", "<h2>", "<li>", "<a href='https://pubmed.ncbi.nlm.nih.gov/9/'>", "</a>"),
        *("# ", "**", "*", "_", "[x](", ")", "&amp;", "&ldquo;", '"', "\\", "\x7f", "\x00", "é"),
        *("enrolled 99 women", "phase 2/3", "completed in 2022", "randomized", "The evidence"),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FRAGMENTS | st.text(max_size=5), max_size=40).map("".join))
def test_any_text_gives_a_block_that_parses(text: str) -> None:
    draft = read_article(text)
    (article,) = tomllib.loads(config_block(draft))["articles"]
    assert article["trials"] == [t.nct_id for t in draft.trials]
    assert article["pmids"] == list(draft.pmids)
    assert len(article.get("claims", [])) == len(draft.trials)


# What an article says a trial found: a labelled sentence for each value `outcome` takes.
OUTCOMES = [
    ("The FINAL trial (NCT04270877) found no benefit of naltrexone over placebo.", "no benefit"),
    ("In NCT04270877, naltrexone significantly reduced pain compared with placebo.", "benefit"),
    ("NCT04270877 was stopped early because naltrexone was harmful.", "harm"),
    ("The results of NCT04270877 were mixed, with some measures improving.", "mixed"),
    ("NCT04270877 enrolled 99 women with fibromyalgia.", "not stated"),
]


@pytest.mark.parametrize(("sentence", "outcome"), OUTCOMES)
def test_the_draft_says_what_the_article_says_the_trial_found(sentence: str, outcome: str) -> None:
    draft = read_article(f"# An article\n\n{sentence}\n")
    assert trial(draft, FINAL).outcome == outcome
    (article,) = tomllib.loads(config_block(draft))["articles"]
    assert article["claims"][0]["outcome"] == outcome


def test_a_trial_discussed_in_several_sections_names_each_passage() -> None:
    text = (
        "# LDN\n\n## Key takeaways\n\nFINAL (NCT04270877) found no benefit.\n\n"
        "## What the trials found\n\nThe FINAL study (NCT04270877) enrolled 99 women.\n"
    )
    draft = trial(read_article(text), FINAL)
    assert draft.passage == "Key takeaways: “FINAL (NCT04270877) found no benefit.”"
    assert draft.passages == (
        "What the trials found: “The FINAL study (NCT04270877) enrolled 99 women.”",
    )
    block = config_block(read_article(text))
    block = block.replace('url = ""', 'url = "https://example.org/ldn"', 1)
    (article,) = read_articles(Table(tomllib.loads(block), ""), WatchConfig())
    assert article.passages[FINAL] == (draft.passage, *draft.passages)
