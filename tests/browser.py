"""Headless Chromium (Debian's chromium and chromium-driver, driven by selenium) at a given
viewport width: what a person sees of an HTML email, and whether anything overflows it."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
# The flags these machines need: no sandbox as root, and nothing that calls out to the network.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
# Elements whose right edge passes the viewport's, and the page's own width.
OVERFLOW = """
const width = document.documentElement.clientWidth;
const over = [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > width + 0.5)
  .map(e => e.tagName + ': ' + (e.textContent || '').trim().slice(0, 40));
return {width: width, scrollWidth: document.documentElement.scrollWidth, over: over};
"""


@contextmanager
def browser(width: int, height: int = 900) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    # Device metrics make the layout viewport exactly `width` (a window cannot be that narrow).
    metrics = {"width": width, "height": height, "pixelRatio": 2 if width < 600 else 1}
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or "chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def load(driver: Any, html: str, folder: Path, name: str) -> None:
    page = folder / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    driver.get(page.resolve().as_uri())


def overflow(driver: Any) -> dict[str, Any]:
    result: dict[str, Any] = driver.execute_script(OVERFLOW)
    return result


def screenshot(driver: Any, path: Path) -> None:
    """The whole page, not only the viewport."""
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
