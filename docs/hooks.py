"""mkdocs hooks of the vtlab site (``hooks:`` in mkdocs.yml).

- The tutorials are the executed notebooks in ``notebooks/`` (outside ``docs/``): each ``notebooks/NN_name.ipynb``
  becomes the page ``notebooks/NN_name.ipynb`` (URL ``notebooks/NN_name/``), which mkdocs-jupyter renders from its
  stored outputs.
- The site serves its own JavaScript, so that it works offline: plotly.js from the installed ``plotly`` package
  (the notebooks' figures are ``Plotly.newPlot`` calls without plotly.js, see :mod:`vtlab.viz.render`) and
  MathJax 3 from the ``django-static-mathjax`` package (a plain copy of MathJax's files). Both are copied at
  build time, not committed. ``docs/overrides/main.html`` loads them in the ``<head>`` (plotly.js on the notebook
  pages, and on pages whose front matter says ``plotly: true``).
- An API page names a package with ``<!-- api: vtlab.NAME -->``; the hook writes the mkdocstrings directives for
  what the package's ``__init__`` defines itself and for each of its modules, so that a module added later is
  documented without editing the page (rendering the package with ``show_submodules`` would show everything the
  ``__init__`` re-exports twice).
- A Markdown page can hold a figure or a table that vtlab computes when the site is built,
  ``<!-- figure: NAME -->`` or ``<!-- table: NAME -->`` on a line of its own (:func:`site_figure`,
  :func:`site_table`): the concepts page's diagrams are drawn from the models, never stored as pictures, and
  the speed figures of the scale page from the results files the benchmarks write (``benchmarks/results/``).
- On the notebook pages, what nbconvert would fetch from CDNs is removed: its MathJax 2 loader (the site's
  MathJax 3 typesets the notebooks' ``$...$`` too), its Mermaid loader and the ipywidgets renderer. A widget
  needs a running kernel, so its output is replaced by a short note; the notebooks show a figure of each widget
  right after it (with ``FigureExplorer.show()``, under a caption naming the setting drawn; the note says so).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import plotly
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

try:
    import mathjax  # the django-static-mathjax package: MathJax's files, nothing of Django
except ImportError as error:
    raise PluginError("MathJax is missing: `pip install -e \".[docs]\"` installs django-static-mathjax") from error

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BENCHMARK_RESULTS = ROOT / "benchmarks" / "results"

MATHJAX = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
# site path → installed file or folder. tex-svg-full.js holds every TeX extension and the SVG fonts (nothing is
# loaded on demand for typesetting); a11y/, ui/ and sre/ are what MathJax's menu may load when a reader asks.
VENDORED = {
    "assets/vendor/plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
    "assets/vendor/mathjax/tex-svg-full.js": MATHJAX / "tex-svg-full.js",
    "assets/vendor/mathjax/a11y": MATHJAX / "a11y",
    "assets/vendor/mathjax/ui": MATHJAX / "ui",
    "assets/vendor/mathjax/sre": MATHJAX / "sre",
}

NBCONVERT_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
WIDGETS_LOADER = re.compile(r"<script>\s*\(function\(\) \{\s*function addWidgetsRenderer\(\).*?</script>", re.S)
WIDGET_STATE = re.compile(r"<script type=\"application/vnd\.jupyter\.widget-state\+json\">.*?</script>", re.S)
WIDGET_VIEW = re.compile(
    r"<div [^>]*class=\"jupyter-widgets jp-OutputArea-output[^\"]*\"[^>]*>\s*"
    r"<script type=\"text/javascript\">[^<]*</script>\s*"
    r"<script type=\"application/vnd\.jupyter\.widget-view\+json\">[^<]*</script>\s*</div>")
# nbconvert's Mermaid loader (inert without diagrams, but it names a CDN)
MERMAID_LOADER = re.compile(
    r"<script type=\"module\">\s*document\.addEventListener\(\"DOMContentLoaded\", async "
    r"\(\) => \{\s*const diagrams = document\.querySelectorAll\(\"\.jp-Mermaid.*?</script>", re.S)
WIDGET_NOTE = ('<div class="jp-OutputArea-output vtlab-widget-note">An interactive widget: it needs a running '
               "kernel, so open the notebook in JupyterLab to use it. Its default view is the figure below.</div>")
# On a page whose notebook shows its widgets with FigureExplorer.show(), each figure after a widget is captioned
# with the setting it shows (class vtlab-widget-view), which need not be the default view.
CAPTIONED_WIDGET_NOTE = ('<div class="jp-OutputArea-output vtlab-widget-note">An interactive widget: it needs a '
                         "running kernel, so open the notebook in JupyterLab to use it. Below, the notebook shows "
                         "it as a figure, under a caption that names the setting drawn.</div>")


API_MARKER = re.compile(r"^<!-- api: (vtlab(?:\.\w+)*) -->$", re.M)


def api_directives(package: str) -> str:
    """``:::`` blocks for ``package``: its own top-level classes and functions, then each public module."""
    folder = ROOT.joinpath(*package.split("."))
    tree = ast.parse((folder / "__init__.py").read_text())
    own = [node.name for node in tree.body if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
           and not node.name.startswith("_")]
    members = "\n".join(f"        - {name}" for name in own) if own else None
    blocks = [f"::: {package}\n    options:\n      show_root_heading: false\n"
              + (f"      members:\n{members}\n" if members else "      members: false\n")]
    blocks += [f"::: {package}.{path.stem}\n" for path in sorted(folder.glob("*.py")) if not path.stem.startswith("_")]
    return "\n".join(blocks)


# A figure or table computed by vtlab when the site is built (never a stored picture): <!-- figure: NAME -->.
FIGURE_MARKER = re.compile(r"^<!-- (figure|table): ([\w-]+) -->$", re.M)


def site_figure(name: str) -> str:
    """The HTML of figure ``name``: a plotly ``<div>`` drawn by the plotly.js the page loads (``plotly: true`` in
    the page's front matter), with a fixed id so that the built page is the same on every build."""
    import plotly.io as pio

    from vtlab.viz.architecture import architecture_figure, vt_vs_patch_figure
    from vtlab.viz.render import JSON_ENGINE

    pio.json.config.default_engine = JSON_ENGINE  # the same page with or without orjson installed
    from vtlab.viz.speed import speed_curves_figure, time_per_mac_figure

    figures = {"vt-resnet18": lambda: architecture_figure("vt_resnet18"), "vt-vs-patches": vt_vs_patch_figure,
               "speed-curves": lambda: speed_curves_figure(speed_results("speed-cpu")),
               "time-per-mac": lambda: time_per_mac_figure(speed_results("speed-cpu"))}
    if name not in figures:
        raise PluginError(f"unknown site figure {name!r}; expected one of {sorted(figures)}")
    fig = figures[name]()
    height = fig.layout.height or 450
    html = pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=f"vtlab-site-{name}",
                       default_width="100%", default_height=f"{height}px",
                       config={"displaylogo": False, "responsive": True})
    return f'<div class="vtlab-site-figure">{html}</div>'


def speed_results(name: str) -> dict:
    """A results file the benchmarks wrote, ``benchmarks/results/NAME.json``."""
    from vtlab.viz.speed import load_speed_results

    return load_speed_results(BENCHMARK_RESULTS / f"{name}.json")


def site_table(name: str) -> str:
    """A Markdown table computed by vtlab: ``vt-vs-patches`` (:func:`vtlab.viz.architecture.vt_vs_patch_tokens`),
    ``speed-curves`` and ``rewrites`` (the benchmarks' results, :mod:`vtlab.viz.speed`)."""
    from vtlab.viz.architecture import vt_vs_patch_tokens
    from vtlab.viz.speed import rewrites_table, speed_table

    if name == "speed-curves":
        return speed_table(speed_results("speed-cpu"))
    if name == "rewrites":
        return rewrites_table(json.loads((BENCHMARK_RESULTS / "rewrites-cpu.json").read_text()))
    if name != "vt-vs-patches":
        raise PluginError(f"unknown site table {name!r}; expected 'vt-vs-patches', 'speed-curves' or 'rewrites'")
    rows = vt_vs_patch_tokens()
    lines = ["| at 224×224, counted by vtlab | VT (VT-ResNet-18, stage 5) | patch tokens (ViT-B/16 sizes) | ratio |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r.quantity} | {r.vt:,} | {r.patches:,} | {r.patches / r.vt:,.1f}x |" for r in rows]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    markdown = FIGURE_MARKER.sub(lambda m: site_figure(m[2]) if m[1] == "figure" else site_table(m[2]), markdown)
    return API_MARKER.sub(lambda match: api_directives(match[1]), markdown)


def notebook_files(config: MkDocsConfig) -> list[File]:
    """One page per executed notebook, ``notebooks/NN_name.ipynb``, read where it is (the source folder is the
    repository's root rather than ``docs/``: mkdocs-jupyter needs a file whose ``src_dir/src_uri`` is the notebook)."""
    return [File(f"{NOTEBOOKS.name}/{path.name}", src_dir=str(ROOT), dest_dir=config.site_dir,
                 use_directory_urls=config.use_directory_urls)
            for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]


def vendored_files(config: MkDocsConfig) -> list[File]:
    files = []
    for site_path, source in VENDORED.items():
        if not source.exists():
            raise PluginError(f"{source} is missing: `pip install -e \".[docs]\"` installs it")
        sources = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        for path in sources:
            uri = site_path if path == source else f"{site_path}/{path.relative_to(source).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns the .ipynb files into pages
def on_files(files: Files, config: MkDocsConfig) -> Files:
    for file in notebook_files(config) + vendored_files(config):
        files.append(file)
    return files


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    return clean_notebook_html(html)


def clean_notebook_html(html: str) -> str:
    """Remove what nbconvert's HTML would load from CDNs; replace widget views by a note."""
    html = NBCONVERT_MATHJAX.sub("", html)
    html = WIDGETS_LOADER.sub("", html)
    html = WIDGET_STATE.sub("", html)
    html = MERMAID_LOADER.sub("", html)
    note = CAPTIONED_WIDGET_NOTE if 'class="vtlab-widget-view"' in html else WIDGET_NOTE
    return WIDGET_VIEW.sub(note, html)
