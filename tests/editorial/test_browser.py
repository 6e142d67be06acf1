"""The HTML digest in a real browser (headless Chromium) at phone and desktop widths: nothing
overflows, nothing needs a script or an image. Skipped where Chromium is not installed; .ci/run
installs it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from browser import CHROMEDRIVER, CHROMIUM, browser, load, overflow, screenshot
from conftest import FINAL, ROOT, World, body
from sample import sample_digest
from standin import add_reference

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER and importlib.util.find_spec("selenium")),
    reason="needs Debian's chromium and chromium-driver, and selenium",
)


# The shipped config.toml's article: its [[articles]] block, as an editor would have it.
_SHIPPED = (ROOT / "config.toml").read_text(encoding="utf-8")
SHIPPED_ARTICLE = "\n" + _SHIPPED[_SHIPPED.index("[[articles]]") : _SHIPPED.index("[digest]")]
LONG_CITATION = (
    "Bruun KD, Christensen R, Amris K, Vaegter HB, Blichfeldt-Eckhardt MR, Bye-Møller L, et al."
    " Naltrexone 6 mg once daily versus placebo in women with fibromyalgia: a randomised,"
    " double-blind, placebo-controlled trial. Lancet Rheumatol. 2024;6(1):e31-e39."
    " doi:10.1016/S2665-9913(23)00278-3"
)


@pytest.mark.parametrize(("width", "name"), [(375, "phone"), (1280, "desktop")])
def test_the_digest_fits_the_screen_without_sideways_scrolling(
    tmp_path: Path, width: int, name: str
) -> None:
    html = sample_digest().html
    with browser(width) as driver:
        load(driver, html, tmp_path, name)
        found = overflow(driver)
        screenshot(driver, tmp_path / f"{name}.png")
    assert found["width"] == width
    assert found["scrollWidth"] <= width, found
    assert found["over"] == [], found
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000  # a page was drawn


def test_the_digest_reads_at_phone_width_in_a_readable_size(tmp_path: Path) -> None:
    with browser(375) as driver:
        load(driver, sample_digest().html, tmp_path, "phone")
        sizes = driver.execute_script(
            "return [...document.querySelectorAll('p, li, div, span, a, strong')]"
            ".filter(e => e.textContent.trim()).map(e => parseFloat(getComputedStyle(e).fontSize));"
        )
    assert min(sizes) >= 11  # the smallest text is a label; body text is 14-16 px


def test_a_real_digest_and_article_check_read_at_phone_width(world: World, tmp_path: Path) -> None:
    """As the editor gets them: the article check of the first `check`, and a digest of a cited
    trial's results paper, through the database and the mail server into Chromium at 375 px."""
    world.trials = []
    world.extra = SHIPPED_ARTICLE
    world.baseline()
    world.registry.update(FINAL, lambda r: add_reference(r, "38258677", "RESULT", LONG_CITATION))
    assert world.check().code == 0
    [check] = world.article_checks
    [digest] = world.messages
    for name, message in (("check", check), ("digest", digest)):
        with browser(375) as driver:
            load(driver, body(message, "html", raw=True), tmp_path, name)
            found = overflow(driver)
            seen = driver.find_element("tag name", "body").text
            links = [a.get_attribute("href") for a in driver.find_elements("tag name", "a")]
        assert found["scrollWidth"] <= 375 and found["over"] == [], (name, found)
        assert "https://example.org/articles/low-dose-naltrexone" in links, name
        if name == "digest":
            # The article named with its link, what it says beside the registry, what to re-check.
            assert "does not cite this trial's results paper, PMID 38258677." in seen
            assert "Re-check: The Human Evidence" in seen
            assert "https://pubmed.ncbi.nlm.nih.gov/38258677/" in links
            assert any(link.endswith("#NCT04270877") for link in links if link)  # the index
