"""The tutorial site builds (`mkdocs build --strict`) and its pages work in a browser, offline.

The site is built into a temporary folder, served over http from this machine, and opened in headless Chromium
(Debian's `chromium` and `chromium-driver`, which `.ci/run` installs; no browser is downloaded). Each tutorial
page must render every plotly figure its notebook shows and typeset its math, with no JavaScript error, and
load nothing from outside the site. The browser checks skip only where Chromium or its driver is absent.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from _browser import NEEDS_BROWSER, headless_chromium

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MATH = re.compile(r"\$[^$\n]+\$")
PAGE_TIMEOUT = 30  # seconds for a page's figures and math to appear


def notebook(name: str) -> dict:
    return json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())


def expected_figures(name: str) -> int:
    """The plotly figures the notebook shows outside widgets: its outputs with the vtlab renderer's HTML."""
    return sum("Plotly.newPlot" in "".join(output.get("data", {}).get("text/html", ""))
               and "application/vnd.jupyter.widget-view+json" not in output.get("data", {})
               for cell in notebook(name)["cells"] if cell["cell_type"] == "code" for output in cell["outputs"])


def has_math(name: str) -> bool:
    cells = notebook(name)["cells"]
    return any(MATH.search("".join(cell["source"])) for cell in cells if cell["cell_type"] == "markdown")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """`mkdocs build --strict` into a temporary folder."""
    pytest.importorskip("mkdocs", reason="mkdocs comes with the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


@pytest.fixture(scope="module")
def server(site: Path):
    """The built site over http on 127.0.0.1 (file:// URLs would change how the browser loads scripts)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    yield from headless_chromium(PAGE_TIMEOUT)


def test_site_builds_strictly(site: Path):
    assert (site / "index.html").exists()
    for name in NOTEBOOKS:
        assert (site / "notebooks" / name / "index.html").exists(), f"no page for notebooks/{name}.ipynb"
    assert (site / "assets" / "vendor" / "plotly.min.js").stat().st_size > 1_000_000
    assert (site / "assets" / "vendor" / "mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000


def open_page(driver, url: str) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)


def wait_for(driver, script: str) -> bool:
    """Whether ``script`` returned true within PAGE_TIMEOUT (the assertions that follow say what is missing)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, PAGE_TIMEOUT, poll_frequency=0.2).until(lambda d: d.execute_script(script))
    except TimeoutException:
        return False
    return True


# What a page shows once loaded: plotly figures drawn, math typeset, what MathJax failed on, what was fetched.
PAGE_STATE = """
    const figures = Array.from(document.querySelectorAll('.plotly-graph-div'));
    const markdown = '.jp-MarkdownOutput, .jp-RenderedMarkdown, .arithmatex';
    const prose = Array.from(document.querySelectorAll(markdown)).map(e => {
      const text = e.cloneNode(true);  // the text a reader sees, less code and typeset math
      text.querySelectorAll('code, pre, mjx-container').forEach(c => c.remove());
      return text.textContent;
    });
    const texErrors = Array.from(document.querySelectorAll('mjx-container [data-mjx-error]'))
      .map(e => e.getAttribute('data-mjx-error'));
    const undefinedMacros = Array.from(document.querySelectorAll('mjx-container [data-mml-node="mtext"][fill="red"]'))
      .map(() => 'an undefined macro');  // MathJax shows an unknown \\macro in red
    return {
      divs: figures.length,
      drawn: figures.filter(d => d.querySelector('.main-svg')).length,
      math: document.querySelectorAll('.jp-MarkdownOutput mjx-container, .jp-RenderedMarkdown mjx-container, '
                                      + '.arithmatex mjx-container').length,
      untypeset: prose.filter(t => /\\$[^$\\n]+\\$|\\\\\\(|\\\\\\[/.test(t)).length,
      mathErrors: texErrors.concat(undefinedMacros),
      resources: performance.getEntriesByType('resource').map(r => r.name),
    };
"""


def check_page(driver, base: str, page: str, figures: int, math: bool) -> None:
    url = base + page
    open_page(driver, url)
    mathjax = wait_for(driver, "return !!(window.MathJax && MathJax.startup && MathJax.startup.promise);")
    if mathjax:
        driver.execute_async_script("MathJax.startup.promise.then(() => arguments[arguments.length - 1](true));")
    wait_for(driver, f"return document.querySelectorAll('.plotly-graph-div .main-svg').length >= {figures};")
    state = driver.execute_script(PAGE_STATE)
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"{url}: JavaScript errors:\n" + "\n".join(errors)
    assert mathjax, f"{url}: MathJax did not load"
    assert state["drawn"] == state["divs"] >= figures, f"{url}: {state['drawn']} of {state['divs']} figures drawn"
    if math:
        assert state["math"] > 0, f"{url}: no typeset math"
    assert state["untypeset"] == 0, f"{url}: {state['untypeset']} blocks still show TeX as text"
    assert not state["mathErrors"], f"{url}: MathJax could not typeset: {state['mathErrors']}"
    outside = [r for r in state["resources"] if not r.startswith(base)]
    assert not outside, f"{url}: loaded from outside the site (it must work offline): {outside}"


@NEEDS_BROWSER
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_tutorial_page_renders_figures_and_math(browser, server: str, name: str):
    check_page(browser, server, f"notebooks/{name}/", figures=expected_figures(name), math=has_math(name))


@NEEDS_BROWSER
@pytest.mark.parametrize(("page", "figures", "math"), [("", 0, True), ("concepts/", 2, True), ("scale/", 2, False)])
def test_page_renders_figures_and_math(browser, server: str, page: str, figures: int, math: bool):
    check_page(browser, server, page, figures=figures, math=math)


# How far the page and each figure reach past the visible width (0: no sideways scroll); per figure, how many of its
# title, subplot titles and legend entries run past its edge, and how many titles overlap another.
OVERFLOW = """
    const page = document.documentElement.scrollWidth - document.documentElement.clientWidth;
    const figures = Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => {
      const box = plot.getBoundingClientRect();
      const texts = Array.from(plot.querySelectorAll('.gtitle, .annotation-text, .legendtext'))
        .map(t => t.getBoundingClientRect())
        .filter(r => r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1));
      const titles = Array.from(plot.querySelectorAll('.gtitle, .annotation-text')).map(t => t.getBoundingClientRect())
        .filter(r => r.width > 0);
      const overlapping = titles.filter((a, i) => titles.some((b, j) => j > i && a.left < b.right - 1
        && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)).length;
      const parent = plot.parentElement.getBoundingClientRect();
      return {id: plot.id, over: Math.round(box.right - parent.right), cut: texts.length, overlapping: overlapping};
    });
    return {page: page, figures: figures};
"""


@NEEDS_BROWSER
@pytest.mark.parametrize("page", ["notebooks/01_equations/", "notebooks/02_vt_resnet/", "notebooks/04_token_maps/",
                                  "notebooks/07_scaling/", "concepts/", "scale/"])
def test_no_sideways_scroll_or_cut_titles_at_1000px(browser, server: str, page: str):
    """At a 1000-px window no page scrolls sideways, no figure is wider than its column, no title is cut."""
    browser.set_window_size(1000, 1000)
    try:
        open_page(browser, server + page)
        wait_for(browser, "return document.querySelectorAll('.js-plotly-plot .main-svg').length > 0;")
        state = browser.execute_script(OVERFLOW)
    finally:
        browser.set_window_size(1280, 1000)
    assert state["page"] <= 0, f"{page}: the page scrolls sideways by {state['page']} px at 1000 px"
    wide = [f for f in state["figures"] if f["over"] > 1]
    assert not wide, f"{page}: figures wider than their column at 1000 px: {wide}"
    cut = [f for f in state["figures"] if f["cut"]]
    assert not cut, f"{page}: figures whose titles or legend run past their edge: {cut}"
    overlapping = [f for f in state["figures"] if f["overlapping"]]
    assert not overlapping, f"{page}: figures with overlapping titles: {overlapping}"
