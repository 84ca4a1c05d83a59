"""The notebooks' exercises can be checked: each folded solution, run in the notebook's kernel, gives the answers
its check cell calls right; a wrong answer is called not yet right; and the committed notebooks give nothing away
(their check cells say "not answered yet").

A notebook's exercises are checked by cells added after its last cell, the check cell (`exercise_cells`): the
solutions from the Exercises section's ``<details><summary>Solution</summary>`` blocks, in order, then the check
cell again, which must print "right" for every answer, then the check cell once more with every answer made wrong
(a bool flipped, a number or tensor moved by 1% + 0.01), which must print "not yet right" for each (an answer the
check accepts whatever it is, such as a timing, prints "right" there too; `Exercises.accepts_any` names them).

Executing a notebook takes 7-70 s here and `pytest --nbval` (pyproject.toml) executes every notebook anyway, so
where all of a notebook's nbval cells are in the session together with anything from tests/ (which loads
tests/conftest.py: `python -m pytest`, CI's AVX2-capped pass, `pytest notebooks/NN_name.ipynb tests/test_notebooks.py`),
these cells are appended to its nbval run (``notebooks/NN_name.ipynb::exercise ...``, in the kernel that has just
run the notebook, outputs compared by nbval) and `test_solutions_are_right` for that notebook, which would execute
it a second time, is deselected. Run without the notebooks (``pytest tests/test_exercises.py``),
`test_solutions_are_right` executes each notebook itself, with nbclient.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = [path for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")) if "check_answers(" in path.read_text()]

# What vtlab.viz.notebook.check_answers prints after "answer_k: ".
RIGHT, WRONG, UNANSWERED = "right", "not yet right: try again", "not answered yet"
SOLUTION = re.compile(r"<details><summary>Solution</summary>\s*```python\n(.*?)\n\s*```\s*</details>", re.DOTALL)
# Makes every answer named in ANSWERS wrong: a bool flipped, anything else (a number, a tensor, an array) moved by
# 1% of its size plus 0.01, which no tolerance of the check cells accepts.
MAKE_WRONG = """\
import numpy as _exercise_np

for _exercise_name in ANSWERS:
    _exercise_value = globals()[_exercise_name]
    globals()[_exercise_name] = (not _exercise_value if isinstance(_exercise_value, bool | _exercise_np.bool_)
                                 else _exercise_value + 0.01 * (abs(_exercise_value) + 1))
"""


@dataclass(frozen=True)
class Exercises:
    solutions: list[str]  # the code of each Solution block, dedented
    check: str  # the check cell's source
    answers: list[str]  # the names the check cell checks, in its order
    accepts_any: list[str]  # answers whose expected value is computed from the answer itself
    last_code_cell: str  # the notebook's last code cell


def read_exercises(source: Path) -> Exercises:
    cells = jupytext.read(source).cells
    starts = [i for i, cell in enumerate(cells)
              if cell.cell_type == "markdown" and re.search(r"^## Exercises$", cell.source, re.MULTILINE)]
    assert len(starts) == 1, f"{source.name}: expected one '## Exercises' heading, found {len(starts)}"
    section = cells[starts[0]:]
    solutions = [textwrap.dedent(code) for cell in section if cell.cell_type == "markdown"
                 for code in SOLUTION.findall(cell.source)]
    checks = [cell.source.strip() for cell in section if cell.cell_type == "code" and "check_answers(" in cell.source]
    assert len(checks) == 1, f"{source.name}: expected one check_answers cell after '## Exercises'"
    (call,) = [node for node in ast.walk(ast.parse(checks[0]))
               if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check_answers"]
    expected = call.args[1]
    assert isinstance(expected, ast.Dict), f"{source.name}: check_answers' expected values are not a dict literal"
    answers = [key.value for key in expected.keys]
    accepts_any = [name for name, value in zip(answers, expected.values, strict=True)
                   if any(isinstance(node, ast.Constant) and node.value == name
                          or isinstance(node, ast.Name) and node.id == name for node in ast.walk(value))]
    code = [cell.source.strip() for cell in cells if cell.cell_type == "code"]
    return Exercises(solutions, checks[0], answers, accepts_any, code[-1])


def exercise_cells(source: Path) -> list[tuple[str, str, str | None]]:
    """The cells that check ``source``'s exercises after its last cell: (name, code, the stdout it must print, or
    None where it is not compared: the solutions print and draw what they like)."""
    exercises = read_exercises(source)
    verdict = {name: RIGHT if name in exercises.accepts_any else WRONG for name in exercises.answers}
    return ([(f"exercise {i} solution", code, None) for i, code in enumerate(exercises.solutions, 1)]
            + [("exercise check, solved", exercises.check, lines({name: RIGHT for name in exercises.answers})),
               ("exercise check, wrong answers",
                MAKE_WRONG.replace("ANSWERS", repr(exercises.answers)) + exercises.check, lines(verdict))])


def lines(verdicts: dict[str, str]) -> str:
    return "".join(f"{name}: {verdict}\n" for name, verdict in verdicts.items())


def stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(output.text for output in cell.outputs if output.output_type == "stream" and output.name == "stdout")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_exercises_are_checkable(source: Path):
    """2-3 exercises, each naming the variables its folded solution assigns; the check cell checks exactly those
    and is the notebook's last code cell (so the cells added after it run where the check cell runs)."""
    exercises = read_exercises(source)
    assert 2 <= len(exercises.solutions) <= 3, f"{source.name}: {len(exercises.solutions)} folded solutions"
    assigned = []
    for code in exercises.solutions:
        names = [node.id for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name)
                 and isinstance(node.ctx, ast.Store) and node.id.startswith("answer_")]
        assert names, f"{source.name}: a solution assigns no answer_*:\n{code}"
        assigned += [name for name in dict.fromkeys(names) if name not in assigned]
    assert assigned == exercises.answers, f"{source.name}: solutions assign {assigned}, the check cell checks " \
                                          f"{exercises.answers}"
    text = "\n".join(cell.source for cell in jupytext.read(source).cells if cell.cell_type == "markdown")
    assert all(f"`{name}`" in text for name in exercises.answers), f"{source.name}: an exercise names no answer"
    assert exercises.last_code_cell == exercises.check, f"{source.name}: the check cell is not the last code cell"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_is_unanswered(source: Path):
    """The executed notebook that ships (and the site shows) checked no answers: no solution is revealed."""
    exercises = read_exercises(source)
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip() == exercises.check]
    assert len(cells) == 1, f"{source.stem}.ipynb lacks {source.name}'s check cell: sync and execute it"
    assert stdout(cells[0]) == lines(dict.fromkeys(exercises.answers, UNANSWERED))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_solutions_are_right(source: Path):
    """The notebook executed with its exercise cells after its last cell (deselected where nbval runs them, see
    the module's docstring)."""
    from nbclient import NotebookClient

    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    added = exercise_cells(source)
    notebook.cells += [nbformat.v4.new_code_cell(code) for _, code, _ in added]
    NotebookClient(notebook, kernel_name="python3", timeout=1200,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    exercises = read_exercises(source)
    (check,) = [cell for cell in notebook.cells[:-len(added)] if cell.cell_type == "code"
                and cell.source.strip() == exercises.check]
    assert stdout(check) == lines(dict.fromkeys(exercises.answers, UNANSWERED)), "an answer was set before the " \
                                                                                  "exercises"
    for (name, _, expected), cell in zip(added, notebook.cells[-len(added):], strict=True):
        if expected is not None:
            assert stdout(cell) == expected, f"{source.name}, {name}"


def add_to_nbval(config: pytest.Config, items: list[pytest.Item]) -> None:
    """For each notebook with exercises whose nbval cells are in ``items``: its exercise cells as nbval cells after
    its last one, and its `test_solutions_are_right` deselected. Called by tests/conftest.py."""
    try:
        from nbval.plugin import IPyNbCell, IPyNbFile
    except ImportError:
        return
    last, selected = {}, defaultdict(int)  # IPyNbFile -> position of its last item, and its number of items
    for index, item in enumerate(items):
        if isinstance(item.parent, IPyNbFile) and item.path.with_suffix(".py") in SOURCES:
            last[item.parent] = index
            selected[item.parent] += 1
    # Only where the whole notebook runs (not a few cells picked with -k): the exercises need all of it.
    last = {notebook: index for notebook, index in last.items()
            if selected[notebook] == sum(cell.cell_type == "code" for cell in notebook.nb.cells)}
    for notebook, index in sorted(last.items(), key=lambda pair: -pair[1]):  # from the end: positions stay valid
        code_cells = selected[notebook]
        added = []
        for number, (name, code, expected) in enumerate(exercise_cells(notebook.path.with_suffix(".py")), code_cells):
            outputs = [] if expected is None else [nbformat.v4.new_output("stream", name="stdout", text=expected)]
            cell = nbformat.v4.new_code_cell(code, execution_count=number + 1, outputs=outputs)
            options = defaultdict(bool, check=expected is not None)
            added.append(IPyNbCell.from_parent(notebook, name=name, cell_num=number, cell=cell, options=options))
        items[index + 1:index + 1] = added
    stems = {notebook.path.stem for notebook in last}
    replaced = [item for item in items if getattr(item, "originalname", None) == "test_solutions_are_right"
                and item.path.name == Path(__file__).name and item.callspec.params["source"].stem in stems]
    if replaced:
        config.hook.pytest_deselected(items=replaced)
        items[:] = [item for item in items if item not in replaced]
