"""The notebooks' stored outputs do not depend on what happens to be installed: re-running a cell that stores a
figure gives the stored output whether ``orjson`` is importable or not (plotly's "auto" JSON engine would take it,
and it writes non-ASCII text literally where the standard library writes ``\\u2192``), and re-running notebook
01's code listings gives the stored HTML with this environment's Pygments (whose HTML formatter changes between
releases; vtlab writes the listing HTML itself).

Each case re-runs the notebook's set-up cell and the chosen cells in a fresh Python process, in an IPython shell,
and passes every rich output through jupyter_client's message packing, as the kernel does for nbval; the outputs
are compared with the committed notebook's, as strict nbval compares them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ORJSON_INSTALLED = importlib.util.find_spec("orjson") is not None

# Runs in a fresh process: argv = orjson mode ("blocked" or "importable"), the .ipynb, the code-cell indices.
# Prints, on its last line, whether orjson was loaded and each cell's rich outputs as the kernel would send them.
RERUN = r"""
import json, sys
if sys.argv[1] == "blocked":
    sys.modules["orjson"] = None  # import orjson now raises ImportError, as where it is not installed
import plotly.io
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from jupyter_client.session import Session

cells = [c for c in json.load(open(sys.argv[2]))["cells"] if c["cell_type"] == "code"]
shell, session = InteractiveShell.instance(), Session(key=b"")
shown = []
for index in map(int, sys.argv[3].split(",")):
    with capture_output() as captured:
        result = shell.run_cell("".join(cells[index]["source"]))
    result.raise_error()
    outputs = [output.data for output in captured.outputs]
    if result.result is not None:  # the value of the cell's last expression, formatted as the kernel's hook does
        outputs.append(shell.display_formatter.format(result.result)[0])
    shown.append([session.unpack(session.pack(data)) for data in outputs])
print(json.dumps({"orjson_loaded": sys.modules.get("orjson") is not None, "shown": shown,
                  "plotly_json_engine": plotly.io.json.config.default_engine}))
"""


def code_cells(notebook: str) -> list[dict]:
    return [cell for cell in json.loads((NOTEBOOKS / notebook).read_text())["cells"] if cell["cell_type"] == "code"]


def stored_outputs(cell: dict) -> list[dict]:
    """A cell's stored rich outputs (display data, the result), each as {mimetype: data}, text joined as nbval
    joins it."""
    return [{mime: "".join(data) if isinstance(data, list) else data for mime, data in output["data"].items()}
            for output in cell["outputs"] if output["output_type"] in ("display_data", "execute_result")]


def rerun(notebook: str, indices: list[int], orjson: str, tmp_path: Path) -> dict:
    """Run the notebook's set-up cell (code cell 0), then the cells at ``indices``, in a fresh process with orjson
    ``"blocked"`` or ``"importable"``: ``shown`` holds each cell's rich outputs (the set-up cell's first),
    ``plotly_json_engine`` the engine plotly was left with."""
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}  # IPython's history stays out of the home folder
    done = subprocess.run([sys.executable, "-c", RERUN, orjson, str(NOTEBOOKS / notebook),
                           ",".join(map(str, [0, *indices]))],
                          capture_output=True, text=True, timeout=300, cwd=NOTEBOOKS, env=env)
    assert done.returncode == 0, f"re-running {notebook} failed:\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["orjson_loaded"] == (orjson == "importable"), f"orjson was not {orjson} in the re-run"
    return result


def cell_index(notebook: str, text: str) -> int:
    return next(i for i, cell in enumerate(code_cells(notebook)) if text in "".join(cell["source"]))


@pytest.mark.parametrize("orjson", ["blocked", "importable"])
def test_a_stored_figure_is_the_same_with_and_without_orjson(orjson, tmp_path):
    """Notebook 02's first figure (the VT-ResNet-18 diagram: '→' and '×' in its text) re-drawn with orjson
    blocked, and with it importable, is the stored output."""
    if orjson == "importable" and not ORJSON_INSTALLED:
        pytest.skip("orjson is not installed here, so only the orjson-blocked half runs (pip install orjson for both)")
    notebook = "02_vt_resnet.ipynb"
    index = cell_index(notebook, 'architecture_figure("vt_resnet18").show()')
    stored = stored_outputs(code_cells(notebook)[index])
    assert [list(output) for output in stored] == [["application/vnd.plotly.v1+json", "text/html"]]
    figure = json.dumps(stored[0]["application/vnd.plotly.v1+json"], ensure_ascii=False)
    assert any(ord(character) > 127 for character in figure), "the case needs a figure with non-ASCII text"
    result = rerun(notebook, [index], orjson, tmp_path)
    assert result["shown"][1:] == [stored], f"the figure drawn with orjson {orjson} differs from the stored one"
    # plotly's default, "auto", takes orjson wherever it is installed: the set-up must leave it no choice (this
    # holds the run without orjson, which cannot show the difference, to the same rule)
    assert result["plotly_json_engine"] == "json", "the notebooks' set-up leaves plotly's JSON engine to chance"


def test_stored_code_listings_are_what_this_pygments_gives(tmp_path):
    """Notebook 01's equation listings (``equation_beside_code``) re-run are the stored HTML, byte for byte."""
    import pygments

    notebook = "01_equations.ipynb"
    cells = code_cells(notebook)
    indices = [i for i, cell in enumerate(cells) if "".join(cell["source"]).startswith("equation_beside_code(")]
    assert len(indices) == 5, "notebook 01 shows equations (1)-(5) beside their code"
    stored = [stored_outputs(cells[i]) for i in indices]
    assert all("<pre" in outputs[0]["text/markdown"] for outputs in stored)
    shown = rerun(notebook, indices, "importable" if ORJSON_INSTALLED else "blocked", tmp_path)["shown"][1:]
    for index, now, then in zip(indices, shown, stored, strict=True):
        assert now == then, f"code cell {index} of {notebook} differs from its stored output with Pygments " \
                            f"{pygments.__version__}"
