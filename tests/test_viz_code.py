"""vtlab.viz.code shows the code as it is: the source it displays is the module's current source, read from
its file, and a change to the file shows up in what is displayed."""

from __future__ import annotations

import ast
import html
import importlib
import json
import re
import sys
from pathlib import Path

import pytest
from pygments.token import Name, Token

from vtlab.viz.code import (
    TOKEN_STYLES,
    equation_beside_code,
    equation_code_markdown,
    highlighted,
    source_excerpt,
    token_style,
)
from vtlab.vt import DynamicTokenizer, PositionEncoder, Projector, StaticTokenizer, Transformer, literal

ROOT = Path(__file__).resolve().parents[1]
SHOWN = [StaticTokenizer.forward, StaticTokenizer.tokens, DynamicTokenizer.forward, PositionEncoder.forward,
         PositionEncoder.downsample, Transformer.forward, Transformer.attention, Projector.forward, Projector.read_back,
         literal.eq1_static_tokens, literal.eq2_position_encoding, literal.eq3_transformer, literal.eq4_projector,
         literal.eq5_dynamic_tokens, DynamicTokenizer.filter]


def file_source(path: Path, qualname: str) -> tuple[int, str]:
    """(first line, text) of the def named ``qualname`` (``Class.method`` or ``function``), read with ast."""
    text = path.read_text()
    scope: list[ast.stmt] = ast.parse(text).body
    node = None
    for part in qualname.split("."):
        node = next(n for n in scope if isinstance(n, ast.ClassDef | ast.FunctionDef) and n.name == part)
        scope = node.body
    lines = text.splitlines(keepends=True)[node.lineno - 1: node.end_lineno]
    indent = len(lines[0]) - len(lines[0].lstrip())
    return node.lineno, "".join(line[indent:] if line.strip() else line.lstrip(" ") for line in lines)


def shown_code(markdown: str) -> list[str]:
    """The code of each <pre> in the displayed Markdown, as a reader sees it (tags removed, entities decoded)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", pre)) for pre in re.findall(r"<pre[^>]*>(.*?)</pre>", markdown)]


@pytest.mark.parametrize("function", SHOWN, ids=lambda f: f.__qualname__)
def test_excerpt_is_the_files_current_source(function):
    excerpt = source_excerpt(function)
    first_line, text = file_source(ROOT / excerpt.path, excerpt.name)
    assert excerpt.path.startswith("vtlab/vt/")
    assert (excerpt.first_line, excerpt.text) == (first_line, text)
    assert excerpt.where.endswith(f"lines {first_line}–{first_line + text.rstrip(chr(10)).count(chr(10))}")


def test_display_shows_the_equation_and_every_source_verbatim():
    module, literal_code = [StaticTokenizer.forward, StaticTokenizer.tokens], [literal.eq1_static_tokens]
    markdown = equation_code_markdown(r"T = A^T \bar X W_V", module, literal_code, title="Equation (1)")
    assert markdown.startswith("**Equation (1)**\n\n$$T = A^T \\bar X W_V$$\n\n")
    assert shown_code(markdown) == [source_excerpt(f).text.rstrip("\n") for f in module + literal_code]
    assert markdown.count("\n") == 5, "the HTML block must be one line (a blank code line would end it)"
    assert equation_beside_code(r"T", StaticTokenizer.forward, literal.eq1_static_tokens).data == \
        equation_code_markdown(r"T", [StaticTokenizer.forward], [literal.eq1_static_tokens])


def test_display_is_the_same_on_every_call():
    args = (r"T_{out} = T_{in}", [Transformer.forward], [literal.eq3_transformer])
    assert equation_code_markdown(*args) == equation_code_markdown(*args)


def test_a_changed_file_is_what_is_shown(tmp_path, monkeypatch):
    """Edit a module's file: the display follows the file, not a copy made earlier."""
    package = tmp_path / "vtlab_code_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module_file = package / "eq.py"
    module_file.write_text("def forward(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("vtlab_code_probe.eq")
    before = shown_code(equation_code_markdown("x", [module.forward], [literal.eq3_transformer]))[0]
    module_file.write_text("def forward(x):\n    return x + 2  # changed\n")
    importlib.reload(module)
    after = shown_code(equation_code_markdown("x", [module.forward], [literal.eq3_transformer]))[0]
    assert "x + 1" in before and "x + 2  # changed" in after
    sys.modules.pop("vtlab_code_probe.eq", None)
    sys.modules.pop("vtlab_code_probe", None)


def test_rejects_what_it_cannot_show():
    with pytest.raises(ValueError, match="without \\$"):
        equation_code_markdown("$x$", [Transformer.forward], [literal.eq3_transformer])
    with pytest.raises(ValueError, match="at least one"):
        equation_code_markdown("x", [], [literal.eq3_transformer])


def test_notebook_01_shows_the_current_source_of_each_equation():
    """The executed notebook 01 stores what equation_beside_code showed when it ran: it must still be the code
    (re-execute the notebook after changing a module of vtlab.vt)."""
    notebook = json.loads((ROOT / "notebooks" / "01_equations.ipynb").read_text())
    shown = ["".join(output["data"]["text/markdown"]) for cell in notebook["cells"] if cell["cell_type"] == "code"
             for output in cell["outputs"] if "<pre" in "".join(output.get("data", {}).get("text/markdown", ""))]
    assert len(shown) == 5, "notebook 01 shows equations (1)-(5) beside their code"
    for markdown in shown:
        names = re.findall(r"<code>([\w.]+)</code> &middot; (vtlab/vt/\w+\.py), lines (\d+)–\d+", markdown)
        assert len(names) == len(shown_code(markdown))
        for (name, path, first), code in zip(names, shown_code(markdown), strict=True):
            line, text = file_source(ROOT / path, name)
            assert (int(first), code) == (line, text.rstrip("\n")), f"notebook 01 shows an old {name}: re-execute it"


def test_listing_html_is_written_the_same_way_by_every_pygments():
    """vtlab writes the listing's HTML from Pygments' tokens: quotes are always escaped (Pygments' own HTML
    formatter escapes them in some releases only), blanks carry no style (releases differ on which blanks are
    Whitespace tokens), and a token type without a colour of its own takes its parent's."""
    shown = highlighted("def f(a):\n    return a < 'b' & \"c\"  # <d>\n")
    assert shown == ('<span style="color: #008000; font-weight: bold">def</span> <span style="color: #00F">f</span>'
                     '(a):&#10;    <span style="color: #008000; font-weight: bold">return</span> a '
                     '<span style="color: #666">&lt;</span> <span style="color: #BA2121">&#39;b&#39;</span> '
                     '<span style="color: #666">&amp;</span> <span style="color: #BA2121">&quot;c&quot;</span>  '
                     '<span style="color: #3D7B7B; font-style: italic"># &lt;d&gt;</span>')
    assert token_style(Name.Builtin.Pseudo) == TOKEN_STYLES[Name.Builtin] == "color: #008000"
    assert token_style(Token.Text) == ""
