"""How vtlab's plotly figures reach the page: interactive in JupyterLab, self-contained on the tutorial site.

``use_vtlab_renderer()`` makes every ``fig.show()`` emit two representations of the figure:

- ``application/vnd.plotly.v1+json``, which JupyterLab's plotly extension draws (no network needed), and
- ``text/html``: a ``<div>`` and a ``Plotly.newPlot`` call *without* plotly.js, for pages (the mkdocs site)
  that load plotly.js once from their own assets instead of embedding 3.5 MB in every notebook or fetching it
  from a CDN.

The ``<div>`` ids are numbered in display order (``vtlab-figure-1``, ``-2``, …) rather than random, so that an
executed notebook's outputs are the same on every run and ``pytest --nbval`` can compare them strictly. For the
same reason the figure's JSON is written by the standard library's :mod:`json` (plotly's ``"json"`` engine), never
by ``orjson``: plotly's default engine, ``"auto"``, takes ``orjson`` whenever it is importable, and ``orjson``
writes non-ASCII text (``→``, ``±``) literally where :mod:`json` writes ``\\u2192``, so the stored outputs would
depend on whether an undeclared package happens to be installed.
"""

from __future__ import annotations

import itertools

import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer

RENDERER_NAME = "vtlab"
JSON_ENGINE = "json"  # plotly's engine for the figures' JSON: the same output with or without orjson


class VTLabRenderer(MimetypeRenderer):
    """plotly's mimetype output plus a plotly.js-free HTML fallback with deterministic ids."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)

    def to_mimebundle(self, fig_dict: dict) -> dict:
        div_id = f"vtlab-figure-{next(self.counter)}"
        height = fig_dict.get("layout", {}).get("height") or 450
        html = pio.to_html(fig_dict, include_plotlyjs=False, full_html=False, div_id=div_id,
                           default_width="100%", default_height=f"{height}px",
                           config={"displaylogo": False, "responsive": True}, validate=False)
        return {"application/vnd.plotly.v1+json": fig_dict, "text/html": html}


def use_vtlab_renderer() -> None:
    """Register the ``vtlab`` plotly renderer and make it the default (numbering restarts at 1), and make plotly
    write JSON with the standard library's :mod:`json` whether or not ``orjson`` is installed."""
    pio.json.config.default_engine = JSON_ENGINE
    pio.renderers[RENDERER_NAME] = VTLabRenderer()
    pio.renderers.default = RENDERER_NAME


def significant(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant digits, for the numbers put into a figure: short, and the same on every
    run (so that executed notebooks compare strictly)."""
    return float(f"{value:.{digits}g}")
