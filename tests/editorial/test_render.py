"""The digest's words: subject, plain text and HTML, from stored changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import flat
from sample import sample_digest

from monitor.core.models import Change, ChangeKind, PendingChange
from monitor.editorial.digest import build_digest
from monitor.editorial.render import TEXT_WIDTH, make_environment, render_digest, wrap
from monitor.editorial.words import date_words, enrollment_words

NOW = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
FINAL, DANISH = "NCT04270877", "NCT02806440"
TITLES = {
    FINAL: "Low-Dose Naltrexone for Fibromyalgia (FINAL)",
    DANISH: "LDN Crossover at Rigshospitalet",
}


def render(*changes: Change, titles: dict[str, str] = TITLES) -> tuple[str, str, str]:
    pending = [PendingChange(i, c, NOW) for i, c in enumerate(changes, start=1)]
    digest = build_digest(pending, titles, NOW, "2026-11-24T09:00:06")
    message = render_digest(digest, "[LDN monitor]", make_environment())
    return message.subject, flat(message.text), message.html


def test_the_subject_says_what_happened_most_importantly_first() -> None:
    subject, _, _ = render(
        Change(DANISH, ChangeKind.ENROLLMENT, "60 ESTIMATED", "58 ACTUAL"),
        Change(FINAL, ChangeKind.RESULTS_POSTED, None, "2023-01-10"),
        Change(FINAL, ChangeKind.STATUS, "ACTIVE_NOT_RECRUITING", "COMPLETED"),
    )
    assert subject == "[LDN monitor] 2 trials changed — results posted for NCT04270877"


@pytest.mark.parametrize(
    ("change", "subject"),
    [
        (
            Change(FINAL, ChangeKind.STATUS, "RECRUITING", "WITHDRAWN"),
            "1 trial changed — NCT04270877 now Withdrawn",
        ),
        (
            Change(FINAL, ChangeKind.RECORD_MISSING, "COMPLETED"),
            "1 trial changed — record not found: NCT04270877",
        ),
        (
            Change(FINAL, ChangeKind.PUBLICATION, None, "32845365", "RESULT x"),
            "1 trial changed — results published for NCT04270877",
        ),
        (
            Change("NCT05000001", ChangeKind.NEW_TRIAL, None, "LDN", "RECRUITING"),
            "1 new trial found — NCT05000001",
        ),
    ],
)
def test_subjects(change: Change, subject: str) -> None:
    assert render(change)[0] == "[LDN monitor] " + subject


def test_each_change_reads_as_old_to_new_in_the_registry_words() -> None:
    _, text, html = render(
        Change(FINAL, ChangeKind.STATUS, "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING"),
        Change(FINAL, ChangeKind.ENROLLMENT, "120 ESTIMATED", "112 ACTUAL"),
        Change(FINAL, ChangeKind.PRIMARY_COMPLETION, "2022-06 ESTIMATED", "2022-09-15 ACTUAL"),
        Change(FINAL, ChangeKind.PUBLICATION, None, "32845365", "RESULT Bruun KD. Pain. 2021."),
    )
    for body in (text, html):
        assert "Enrolling by invitation → " in body
        assert "Active, not recruiting" in body
        assert "120 (estimated) → " in body
        assert "112 (actual)" in body
        assert "June 2022 (estimated) → " in body
        assert "15 September 2022 (actual)" in body
        assert "PMID 32845365" in body
        assert "Bruun KD. Pain. 2021." in body
        assert "https://pubmed.ncbi.nlm.nih.gov/32845365/" in body
        assert "https://clinicaltrials.gov/study/NCT04270877" in body
        assert "https://clinicaltrials.gov/study/NCT04270877?tab=history" in body
        assert "24 November 2026, 09:00 UTC" in body
    assert "NCT04270877 — Low-Dose Naltrexone for Fibromyalgia (FINAL)" in text


def test_hostile_registry_text_is_escaped_in_html_and_kept_off_the_subject() -> None:
    titles = {FINAL: '<script>alert("x")</script> & <b>LDN</b>'}
    subject, text, html = render(
        Change(
            FINAL, ChangeKind.STATUS, "RECRUITING", "TERMINATED", "<img src=x onerror=alert(1)>"
        ),
        titles=titles,
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&amp; &lt;b&gt;LDN&lt;/b&gt;" in html
    assert '<script>alert("x")</script>' in text  # plain text shows it as it is, harmlessly
    assert "\n" not in subject
    assert "\r" not in subject


def test_words_for_registry_values() -> None:
    assert date_words("2022-06") == "June 2022"
    assert date_words("2022") == "2022"
    assert date_words(None) == "not given"
    assert enrollment_words("99 ACTUAL") == "99 (actual)"
    assert enrollment_words("ESTIMATED") == "number not given (estimated)"


def test_the_html_needs_no_script_stylesheet_or_image_to_read() -> None:
    html = sample_digest().html.lower()
    for forbidden in ("<script", "<link", "<style", "<img", "url(", "@import"):
        assert forbidden not in html
    assert 'name="viewport"' in html


def test_the_plain_text_part_stands_on_its_own() -> None:
    text = sample_digest().text
    assert "<strong>" not in text and "&amp;" not in text
    assert "WHAT MATTERS MOST" in text
    assert "https://clinicaltrials.gov/study/NCT04270877?tab=history" in text
    assert "[high] Results of this cited trial have been published: “Low-dose" in flat(text)
    assert "2024), PMID 38258677 Its conclusion: “Low-dose naltrexone was not better" in flat(text)


def test_the_plain_text_wraps_for_a_terminal_mail_reader_with_hanging_indents() -> None:
    lines = sample_digest().text.splitlines()
    # Only a link too long for a line (it must stay whole to work) may pass the width.
    assert [line for line in lines if len(line) > TEXT_WIDTH and " " in line.strip()] == []
    # A change's continuation lines hang under its first word, not under the bullet.
    at = next(i for i, line in enumerate(lines) if "[high] Results posted" in line)
    assert lines[at].startswith("  * [high]") and lines[at + 1].startswith("    ")
    assert lines[at + 1][4] != " "


def test_wrap_keeps_a_long_link_whole_on_its_own_line() -> None:
    url = "https://example.org/" + "a" * 90
    assert wrap(f"See {url} now", 2, "* ").splitlines() == ["  * See", f"    {url}", "    now"]
