"""Headless Chromium for the browser tests (the site, JupyterLab): Debian's chromium and its driver, found on
PATH, never downloaded; the tests that need them skip, saying why, where they are absent."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
NEEDS_BROWSER = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium is absent: `apt-get install chromium chromium-driver` (.ci/run does)")


def headless_chromium(timeout: float) -> Iterator:
    """A Selenium driver for headless Chromium at a 1280x1000 window that keeps the console log, with page-load
    and script timeouts of ``timeout`` seconds; quit when the generator closes (use it in a fixture)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium comes with the dev extra")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(timeout)
    driver.set_script_timeout(timeout)
    yield driver
    driver.quit()
