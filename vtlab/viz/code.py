r"""An equation beside the code that computes it: the paper's formula, vtlab's module and the literal transcription.

:func:`equation_beside_code` shows three things together: the equation in LaTeX, the source of the vtlab
methods that implement it (its ``forward`` and the helpers it calls) and the function of :mod:`vtlab.vt.literal`
that transcribes it as plain matrix algebra. The sources are read with :func:`inspect.getsource` when the cell
runs, never copied, so what a notebook shows is the code as it is: change a module and the executed notebook no
longer matches until it is re-run (strict nbval then says so).

The result is one Markdown display: a ``$$`` paragraph (typeset by JupyterLab, and by the tutorial site's
MathJax, which reads rendered Markdown outputs) followed by an HTML block of two columns (the module, the literal
form) that wrap one under the other on a narrow page, each code column scrolling sideways inside itself rather
than widening the page. Code is highlighted with inline styles, so it looks the same wherever the output is
rendered, and the output is the same on every run and with every Pygments release: Pygments only splits the code
into tokens, and vtlab writes the HTML itself (its colours, its escaping), because Pygments' own HTML formatter
differs between releases (in how it escapes quotes, in which blanks it styles), which would change the listings
stored in an executed notebook.
"""

from __future__ import annotations

import html
import inspect
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from IPython.display import Markdown
from pygments import lex
from pygments.lexers import PythonLexer
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String, Token

TokenType = type(Token)  # a Pygments token type, e.g. Name.Builtin
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds vtlab/, for short file names


@dataclass(frozen=True)
class SourceExcerpt:
    """The source of one function or method as it is in its file now: ``path`` (relative to the folder that
    holds ``vtlab/``), the 1-based ``first_line`` and the dedented ``text``."""

    name: str
    path: str
    first_line: int
    text: str

    @property
    def last_line(self) -> int:
        return self.first_line + self.text.count("\n") - (1 if self.text.endswith("\n") else 0)

    @property
    def where(self) -> str:
        return f"{self.path}, lines {self.first_line}–{self.last_line}"


def source_excerpt(function: Callable) -> SourceExcerpt:
    """The current source of ``function`` (a function, or a method taken from its class, e.g.
    ``StaticTokenizer.forward``), read from its file by :mod:`inspect`."""
    function = inspect.unwrap(function)
    lines, first_line = inspect.getsourcelines(function)
    path = Path(inspect.getsourcefile(function) or "").resolve()
    try:
        shown = path.relative_to(PACKAGE_ROOT).as_posix()
    except ValueError:
        shown = path.name
    return SourceExcerpt(function.__qualname__, shown, first_line, textwrap.dedent("".join(lines)))


# Inline CSS per token type, the colours of Pygments' "default" style written out here so that they do not change
# with Pygments; a token type not listed takes its nearest listed parent's style (Token itself: none).
TOKEN_STYLES: dict[TokenType, str] = {
    Token: "",
    Comment: "color: #3D7B7B; font-style: italic",
    Comment.Preproc: "color: #9C6500",
    Keyword: "color: #008000; font-weight: bold",
    Keyword.Pseudo: "color: #008000",
    Keyword.Type: "color: #B00040",
    Operator: "color: #666",
    Operator.Word: "color: #A2F; font-weight: bold",
    Name.Builtin: "color: #008000",
    Name.Function: "color: #00F",
    Name.Class: "color: #00F; font-weight: bold",
    Name.Namespace: "color: #00F; font-weight: bold",
    Name.Exception: "color: #CB3F38; font-weight: bold",
    Name.Variable: "color: #19177C",
    Name.Constant: "color: #800",
    Name.Label: "color: #767600",
    Name.Entity: "color: #717171; font-weight: bold",
    Name.Attribute: "color: #687822",
    Name.Tag: "color: #008000; font-weight: bold",
    Name.Decorator: "color: #A2F",
    String: "color: #BA2121",
    String.Doc: "color: #BA2121; font-style: italic",
    String.Interpol: "color: #A45A77; font-weight: bold",
    String.Escape: "color: #AA5D1F; font-weight: bold",
    String.Regex: "color: #A45A77",
    String.Symbol: "color: #19177C",
    String.Other: "color: #008000",
    Number: "color: #666",
    Error: "border: 1px solid #F00",
}
# every character that HTML text or an attribute value may not hold literally, always escaped the same way
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


def token_style(token_type: TokenType) -> str:
    """The inline CSS of a Pygments token type: its own entry of :data:`TOKEN_STYLES`, else its nearest parent's."""
    while token_type not in TOKEN_STYLES:
        token_type = token_type.parent
    return TOKEN_STYLES[token_type]


def highlighted(code: str) -> str:
    """``code`` as highlighted HTML with inline styles (no stylesheet needed), for a ``<pre>``, on one line.

    Consecutive tokens of one style share a ``<span>``, blanks are not styled, a span never crosses a line end, and
    leading and trailing blank lines are dropped. Newlines are written as character references (``&#10;``) so that
    the whole block stays on one line: Markdown renderers then keep it as one raw HTML block (a blank line of code
    would otherwise end the block and the rest be read as Markdown)."""
    lines: list[list[tuple[str, str]]] = [[]]  # per line: (style, text) runs
    for token_type, value in lex(code.strip("\n"), PythonLexer(stripnl=False)):
        # blank text is unstyled whatever its type (its colour cannot be seen): Pygments releases differ in which
        # blanks they call Whitespace and which Text
        style = token_style(token_type) if value.strip() else ""
        for index, piece in enumerate(value.split("\n")):
            if index:
                lines.append([])
            if not piece:
                continue
            if lines[-1] and lines[-1][-1][0] == style:
                lines[-1][-1] = (style, lines[-1][-1][1] + piece)
            else:
                lines[-1].append((style, piece))
    while lines and not lines[-1]:
        lines.pop()
    return "&#10;".join("".join(f'<span style="{style}">{_escaped(text)}</span>' if style else _escaped(text)
                                for style, text in line) for line in lines)


def _escaped(text: str) -> str:
    return text.translate(_HTML_ESCAPES)


CODE_STYLE = ("margin:0;padding:0.5em;overflow-x:auto;font-size:0.8em;line-height:1.35;"
              "color:#111;background:#f7f7f7;border:1px solid #ddd;border-radius:3px")
COLUMN_STYLE = "flex:1 1 26em;min-width:0"


def _column(heading: str, excerpts: Sequence[SourceExcerpt]) -> str:
    parts = [f'<div style="{COLUMN_STYLE}"><p style="margin:0.2em 0"><b>{html.escape(heading)}</b></p>']
    for excerpt in excerpts:
        parts.append(f'<p style="margin:0.4em 0 0.1em 0;font-size:0.8em"><code>{html.escape(excerpt.name)}</code>'
                     f" &middot; {html.escape(excerpt.where)}</p>")
        parts.append(f'<pre style="{CODE_STYLE}">{highlighted(excerpt.text)}</pre>')
    parts.append("</div>")
    return "".join(parts)


def equation_code_markdown(equation: str, module_code: Sequence[Callable], literal_code: Sequence[Callable],
                           title: str = "") -> str:
    """The Markdown text that :func:`equation_beside_code` displays (see there)."""
    if not module_code or not literal_code:
        raise ValueError("expected at least one module function and one literal function to show")
    if "$" in equation:
        raise ValueError("give the equation's LaTeX without $ signs: it is wrapped in $$ ... $$")
    module = [source_excerpt(f) for f in module_code]
    literal = [source_excerpt(f) for f in literal_code]
    head = f"**{title}**\n\n" if title else ""
    columns = ('<div style="display:flex;flex-wrap:wrap;gap:0.8em;align-items:flex-start">'
               + _column("vtlab's module (what the models run)", module)
               + _column("the literal transcription (vtlab/vt/literal.py)", literal) + "</div>")
    return f"{head}$${equation.strip()}$$\n\n{columns}\n"


def equation_beside_code(equation: str, module_code: Callable | Sequence[Callable],
                         literal_code: Callable | Sequence[Callable], title: str = "") -> Markdown:
    """Show an equation (LaTeX, without ``$``), the vtlab code that computes it and its literal transcription.

    ``module_code``: the method(s) the module runs, e.g. ``[StaticTokenizer.forward, StaticTokenizer.tokens]``
    (a ``forward`` often delegates to a shared helper, which is where the equation is); ``literal_code``: the
    :mod:`vtlab.vt.literal` function(s). Returns an :class:`IPython.display.Markdown` to display (the last
    expression of a cell is displayed by itself)."""
    module_list = [module_code] if callable(module_code) else list(module_code)
    literal_list = [literal_code] if callable(literal_code) else list(literal_code)
    return Markdown(equation_code_markdown(equation, module_list, literal_list, title))
