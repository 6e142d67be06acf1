"""The HTML digest in a real browser (headless Chromium) at phone and desktop widths: nothing
overflows, nothing needs a script or an image. Skipped where Chromium is not installed; .ci/run
installs it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from browser import CHROMEDRIVER, CHROMIUM, browser, load, overflow, screenshot
from sample import sample_digest

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER and importlib.util.find_spec("selenium")),
    reason="needs Debian's chromium and chromium-driver, and selenium",
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
