"""An article's id (what `findings --article` and each finding's id are keyed on), what it says a
trial found (`outcome`) and where (`passage`, `passages`): read from the config, each mistake a
one-line error naming the key and exit 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.core.articles import StatedOutcome
from monitor.house import parse_config


def articles(*tables: dict[str, object], **top: object) -> list[tuple[str, str]]:
    config = parse_config({"articles": list(tables), **top}, {}, "test")
    return [(a.id, a.title) for a in config.articles]


def test_an_article_is_known_by_its_id_else_its_urls_last_segment_else_its_title() -> None:
    assert articles(
        {"title": "A", "id": "ldn-2026", "url": "https://example.org/x", "pmids": ["1"]},
        {
            "title": "B",
            "url": "https://example.org/evidence/low-dose-naltrexone.html",
            "pmids": ["2"],
        },
        {"title": "Low-dose naltrexone (LDN): what the evidence says", "pmids": ["3"]},
    ) == [
        ("ldn-2026", "A"),
        ("low-dose-naltrexone", "B"),
        (
            "low-dose-naltrexone-ldn-what-the-evidence-says",
            "Low-dose naltrexone (LDN): what the evidence says",
        ),
    ]


def test_the_unnamed_article_of_watch_trials_is_default() -> None:
    config = parse_config({"watch": {"trials": ["NCT04270877"]}}, {}, "test")
    assert [a.id for a in config.articles] == ["default"]


def run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    code = main(["--config", str(path), "findings"])
    return code, capsys.readouterr().err


def test_two_articles_with_one_id_are_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(
        tmp_path,
        """
        [[articles]]
        title = "LDN for pain"
        url = "https://example.org/a/ldn"
        pmids = ["1"]

        [[articles]]
        title = "LDN for fatigue"
        url = "https://example.org/b/ldn"
        pmids = ["2"]
        """,
        capsys,
    )
    assert code == 2
    assert err.count("\n") == 1 and "has the id 'ldn' of an earlier article" in err, err


@pytest.mark.parametrize(
    ("said", "problem"),
    [
        ('id = "no spaces allowed"', "is not a short id"),
        ('outcome = "great"', "outcome = 'great' is not one of"),
        ("passages = [1]", "passages must be a list of non-empty strings"),
        ('passages = [""]', "passages must be a list of non-empty strings"),
    ],
)
def test_a_malformed_id_outcome_or_passage_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], said: str, problem: str
) -> None:
    table, claim = (said, "") if said.startswith("id") else ("", said)
    code, err = run(
        tmp_path,
        f"""
        [[articles]]
        title = "LDN"
        trials = ["NCT04270877"]
        {table}

        [[articles.claims]]
        trial = "NCT04270877"
        status = "COMPLETED"
        {claim}
        """,
        capsys,
    )
    assert code == 2
    assert err.count("\n") == 1 and problem in err, err


def test_outcome_reads_each_of_its_five_values_as_written_by_hand() -> None:
    for written, value in [
        ("benefit", StatedOutcome.BENEFIT),
        ("No benefit", StatedOutcome.NO_BENEFIT),
        ("no-benefit", StatedOutcome.NO_BENEFIT),
        ("harm", StatedOutcome.HARM),
        ("mixed", StatedOutcome.MIXED),
        ("not  stated", StatedOutcome.NOT_STATED),
    ]:
        claim = {"trial": "NCT04270877", "outcome": written}
        config = parse_config(
            {"articles": [{"title": "x", "trials": ["NCT04270877"], "claims": [claim]}]},
            {},
            "test",
        )
        assert config.articles[0].outcomes == {"NCT04270877": value}, written
