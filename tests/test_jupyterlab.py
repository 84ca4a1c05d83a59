"""A widget notebook in JupyterLab, in a real browser: Run All gives no error and no console error, and every
control of its widget redraws the figure.

JupyterLab runs on a free port of 127.0.0.1 with temporary config, data, runtime, settings and workspace folders
(nothing of the user's is read or written), serving a temporary copy of ``notebooks/07_scaling.ipynb`` without
its outputs (JupyterLab's autosave cannot touch the repository's file, and what the test sees comes from this
run). It is opened in headless Chromium driven by Selenium, found the way tests/test_site.py finds them (Debian's
``chromium`` and ``chromium-driver``, which ``.ci/run`` installs); the test skips where they are absent.
JupyterLab exposes its application object to the page (``LabApp.expose_app_in_browser``), so the test runs
commands and reads cell outputs from the notebook's model rather than from the screen. Notebook 7 runs in about
a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from _browser import NEEDS_BROWSER, headless_chromium

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07_scaling.ipynb"
pytestmark = NEEDS_BROWSER
START_TIMEOUT = 60  # seconds for JupyterLab to answer, and for the page and its kernel to be ready
RUN_TIMEOUT = 240  # seconds for Run All (about a minute on 2 busy cores)
REDRAW_TIMEOUT = 60  # seconds for a control's change to reach the figure (a new setting is counted first)
TOKEN = "vtlab-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> str:
    """JupyterLab serving a copy of the notebook; yields the notebook's URL."""
    pytest.importorskip("jupyterlab", reason="JupyterLab comes with the notebooks extra")
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "root"
    root.mkdir()
    # the copy without outputs, so that "every cell has run" means this run, and the widget comes from this kernel
    notebook = json.loads(NOTEBOOK.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    (root / NOTEBOOK.name).write_text(json.dumps(notebook))
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # every cell in the DOM (JupyterLab 4 otherwise renders only the cells in view), no autosave into the copy
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    (home / "settings" / "@jupyterlab" / "docmanager-extension").mkdir(parents=True)
    (home / "settings" / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings").write_text(
        json.dumps({"autosave": False}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "IPYTHONDIR": str(home / "ipython")}
    port = free_port()
    log = (home / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={TOKEN}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.port_retries=0", *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(home / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={TOKEN}&reset"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    yield from headless_chromium(START_TIMEOUT)


def wait_until(driver, script: str, timeout: float, what: str):
    """Poll ``script`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


NOTEBOOK_READY = """
    const app = window.jupyterapp;
    const panel = app && app.shell.currentWidget;
    if (!panel || !panel.sessionContext || !panel.content || !panel.content.model) return false;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle' && panel.context.isReady;
"""
# After Run All: every code cell executed, the kernel idle; the outputs as nbformat JSON.
RUN_STATE = """
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = [];
    for (let i = 0; i < panel.content.model.cells.length; i++) cells.push(panel.content.model.cells.get(i).toJSON());
    const code = cells.filter(c => c.cell_type === 'code');
    return {
      done: code.every(c => c.execution_count) && panel.sessionContext.session.kernel.status === 'idle',
      running: code.filter(c => !c.execution_count).length,
      errors: code.flatMap(c => c.outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)),
    };
"""
# The widget's figure: the plotly plot inside an ipywidgets Output area, as JSON of its traces.
WIDGET_FIGURE = """
    const plot = document.querySelector('.jupyter-widgets .jp-OutputArea .js-plotly-plot');
    return plot && plot.data ? JSON.stringify(plot.data.map(t => [t.name, t.x, t.y])) : null;
"""


def figure_changed(before: str) -> str:
    """A script that is true once the widget's figure differs from ``before`` (what :data:`WIDGET_FIGURE` gave)."""
    return f"""
    const plot = document.querySelector('.jupyter-widgets .jp-OutputArea .js-plotly-plot');
    return !!(plot && plot.data) && JSON.stringify(plot.data.map(t => [t.name, t.x, t.y])) !== {json.dumps(before)};
"""


def severe(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_run_all_then_every_control_redraws_the_figure(lab: str, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    started = time.monotonic()
    browser.get(lab)
    wait_until(browser, NOTEBOOK_READY, START_TIMEOUT, "the notebook and an idle kernel")
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    deadline = time.monotonic() + RUN_TIMEOUT
    while (state := browser.execute_script(RUN_STATE)) and not state["done"]:
        assert not state["errors"], f"error output during Run All: {state['errors']}"
        if time.monotonic() > deadline:
            pytest.fail(f"Run All did not finish in {RUN_TIMEOUT} s ({state['running']} cells left)")
        time.sleep(1)
    assert not state["errors"], f"error output: {state['errors']}"
    errors = severe(browser)
    assert not errors, "console errors during Run All:\n" + "\n".join(errors)

    figure = wait_until(browser, WIDGET_FIGURE, REDRAW_TIMEOUT, "the widget's figure")
    dropdowns = browser.find_elements(By.CSS_SELECTOR, ".jupyter-widgets.widget-dropdown select")
    assert len(dropdowns) == 3, f"expected the scaling widget's three dropdowns (C, CT, L), found {len(dropdowns)}"
    for select in dropdowns:
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", select)
        choice = Select(select)
        current = choice.first_selected_option.text
        other = next(option.text for option in choice.options if option.text != current)
        choice.select_by_visible_text(other)
        label = select.find_element(By.XPATH, "./preceding-sibling::label").text
        wait_until(browser, figure_changed(figure), REDRAW_TIMEOUT, f"the figure to change after {label} = {other}")
        figure = browser.execute_script(WIDGET_FIGURE)
    errors = severe(browser)
    assert not errors, "console errors while using the widget:\n" + "\n".join(errors)
    print(f"JupyterLab test: {time.monotonic() - started:.0f} s")
