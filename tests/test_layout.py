"""The project's structure rules (issue 21, "Done when"), read from the source with ast, so that they stay true:

- no import cycle among the modules of vtlab/ and benchmarks/ (imports inside functions count as edges too, since
  they run as soon as the function does; imports under ``if TYPE_CHECKING:`` never run and do not count);
- no file in vtlab/ over 400 lines, and no function there over 80 (argparse tables, ``build_parser``, aside);
- vtlab/train/engine.py names no dataset: from vtlab.data it takes the registry's ``create_data`` and checks that
  hold for any dataset, nothing else.

Nothing is imported or run: a failure names the files, the edges or the functions to change.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vtlab", "benchmarks")  # benchmarks/ holds scripts that import each other by their bare names
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80
TABLE_BUILDERS = {"build_parser"}  # argparse tables: one add_argument per option, long by nature
ENGINE = ROOT / "vtlab" / "train" / "engine.py"
DATASET_WORDS = re.compile(r"(?<![a-z0-9])(shapes|cifar\d*|lip|coco)(?![a-z0-9])")
# what the engine may take from vtlab.data: the registry's one entry point, and checks that hold for any dataset
ENGINE_DATA_IMPORTS = {"create_data", "IGNORE_INDEX", "check_same_classes", "scan_dataset"}


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target``, at ``path``:``line``, at module level or inside function ``function``."""

    source: str
    target: str
    path: str
    line: int
    function: str | None

    def __str__(self) -> str:
        where = f"in {self.function}()" if self.function else "module level"
        return f"{self.source} -> {self.target} ({where}, {self.path}:{self.line})"


@cache
def modules() -> dict[str, Path]:
    """Dotted module name → file, for every .py file of vtlab/ and benchmarks/."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


@cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, function: str | None = None):
    """(import node, enclosing function or None) for every import that can run."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, function
        elif isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), function)
        else:
            inner = node.name if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else function
            yield from _imports(node, inner)


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    """(project module, name taken from it) for what an import statement loads: the named submodule where there
    is one (name None), else its package and the name."""
    known = modules()
    in_benchmarks = module.startswith("benchmarks.")

    def resolve(name: str) -> str | None:
        if in_benchmarks and name.split(".")[0] not in PACKAGES and f"benchmarks.{name}" in known:
            return f"benchmarks.{name}"
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        return [(target, None) for alias in node.names if (target := resolve(alias.name))]
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    targets = []
    for alias in node.names:
        if (submodule := resolve(f"{base}.{alias.name}")) == f"{base}.{alias.name}":
            targets.append((submodule, None))
        elif target := resolve(base):
            targets.append((target, alias.name))
    return targets


@cache
def import_edges() -> tuple[Edge, ...]:
    """One edge per import statement and project module it loads (a package importing its own names aside)."""
    edges = {}
    for module, path in modules().items():
        for node, function in _imports(parsed(path)):
            for target, _ in _targets(module, path, node):
                if target != module:
                    edges[module, target, node.lineno] = Edge(module, target, str(path.relative_to(ROOT)), node.lineno,
                                                              function)
    return tuple(edges.values())


def import_cycles(edges: tuple[Edge, ...]) -> list[list[Edge]]:
    """The edges inside each strongly connected component of more than one module (Tarjan's algorithm): every
    import cycle runs along them."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [sorted((e for e in edges if e.source in c and e.target in c), key=str) for c in components]


def test_the_cycle_finder_reports_a_cycle_through_a_function_level_import():
    edges = (Edge("a", "b", "a.py", 1, None), Edge("b", "c", "b.py", 2, None), Edge("c", "a", "c.py", 3, "late"),
             Edge("c", "d", "c.py", 4, None))
    (cycle,) = import_cycles(edges)
    assert [str(e) for e in cycle] == ["a -> b (module level, a.py:1)", "b -> c (module level, b.py:2)",
                                       "c -> a (in late(), c.py:3)"]
    assert import_cycles(edges[:2] + edges[3:]) == []


def test_imports_are_resolved_to_the_modules_they_load():
    edges = {(e.source, e.target) for e in import_edges()}
    assert ("vtlab.reproduce", "vtlab.cost.paper") in edges  # from .cost import paper: a submodule
    assert ("vtlab.viz.scaling", "vtlab.cost.scaling") in edges  # from ..cost.scaling import (...)
    assert ("benchmarks.rewrites", "benchmarks._protocol") in edges  # a script's bare-name import
    assert ("benchmarks._protocol", "benchmarks.reassociation") in edges  # inside the worker's function
    assert ("vtlab.viz.segmentation", "vtlab.data") in edges  # from ..data import IGNORE_INDEX: a package's name


def test_vtlab_imports_nothing_from_benchmarks():
    """The scripts use the library, never the other way round (benchmarks/ is not installed with vtlab)."""
    upward = [str(e) for e in import_edges() if e.source.startswith("vtlab") and e.target.startswith("benchmarks.")]
    assert not upward, upward


def test_no_import_cycle_in_vtlab_or_benchmarks():
    cycles = import_cycles(import_edges())
    assert not cycles, "import cycles, each with the edges that close it:\n" + "\n\n".join(
        "\n".join(f"  {edge}" for edge in cycle) for cycle in cycles)


def test_no_vtlab_file_over_400_lines():
    long = {str(path.relative_to(ROOT)): n for path in modules().values() if path.is_relative_to(ROOT / "vtlab")
            and (n := len(path.read_text().splitlines())) > MAX_FILE_LINES}
    assert not long, f"files over {MAX_FILE_LINES} lines (split the module): {long}"


def long_functions() -> dict[str, int]:
    """``path:line name`` → lines (from ``def`` to the last line of the body) of each vtlab function over the
    limit, methods and nested functions included."""
    long = {}
    for path in modules().values():
        if not path.is_relative_to(ROOT / "vtlab"):
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name not in TABLE_BUILDERS:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    return long


def test_no_vtlab_function_over_80_lines():
    long = long_functions()
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps): {long}"


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string constants that are docstrings (a module's, class's or function's first statement)."""
    owners = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef |
                                                                ast.AsyncFunctionDef))]
    return {id(owner.body[0].value) for owner in owners if owner.body and isinstance(owner.body[0], ast.Expr)
            and isinstance(owner.body[0].value, ast.Constant) and isinstance(owner.body[0].value.value, str)}


def dataset_names(tree: ast.Module) -> list[str]:
    """``line: text`` of each string (docstrings aside), name, attribute, argument or definition of ``tree`` that
    names a built-in dataset (shapes, CIFAR, LIP, COCO)."""
    docstrings, found = _docstrings(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        elif isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.arg):
            text = node.arg
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            text = node.name
        elif isinstance(node, ast.alias):
            text = node.asname or node.name
        else:
            continue
        if DATASET_WORDS.search(text.lower()):
            found.append((node.lineno, node.col_offset, f"{node.lineno}: {text!r}"))
    return [text for *_, text in sorted(found)]


def data_imports(tree: ast.Module, module: str) -> list[str]:
    """``line: what`` for each module or name that ``tree`` (module ``module``) imports from vtlab.data."""
    found = []
    for node, _ in _imports(tree):
        for target, name in _targets(module, ENGINE, node):
            if target == "vtlab.data" or target.startswith("vtlab.data."):
                found.append(f"{node.lineno}: {target}" + (f".{name}" if name else ""))
    return found


def test_the_dataset_checks_see_what_they_look_for():
    tree = ast.parse('"""Trains on shapes."""\nfrom ..data import create_data, create_dataset\n'
                     "from ..data.cifar import CIFARDataset\n"
                     'def f(lip_root):\n    """shapes"""\n    clip = 1\n    return "coco-stuff", x.shapes\n')
    assert dataset_names(tree) == ["4: 'lip_root'", "7: 'coco-stuff'", "7: 'shapes'"]
    assert data_imports(tree, "vtlab.train.engine") == [
        "2: vtlab.data.create_data", "2: vtlab.data.create_dataset", "3: vtlab.data.cifar.CIFARDataset"]


def test_the_engine_names_no_dataset():
    tree = parsed(ENGINE)
    names = dataset_names(tree)
    assert not names, f"{ENGINE.relative_to(ROOT)} names a dataset: {names}"
    outside = [i for i in data_imports(tree, "vtlab.train.engine")
               if i.partition(": ")[2] not in {f"vtlab.data.{name}" for name in ENGINE_DATA_IMPORTS}]
    assert not outside, (f"{ENGINE.relative_to(ROOT)} reaches data other than through the registry "
                         f"(allowed from vtlab.data: {sorted(ENGINE_DATA_IMPORTS)}): {outside}")
