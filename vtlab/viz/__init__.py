"""Figures and widgets for the notebooks and the tutorial site (plotly + ipywidgets).

The names below are imported when first used, so that the plotly-only modules (e.g. :mod:`vtlab.viz.training`,
which ``vtlab reproduce`` uses) work in a base install, without the notebooks extra's ipywidgets and IPython.
"""

from __future__ import annotations

import importlib

_HOMES = {"FigureExplorer": ".explorer", "equation_beside_code": ".code", "setup_notebook": ".notebook",
          "source_excerpt": ".code", "use_vtlab_renderer": ".render"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FigureExplorer", "equation_beside_code", "setup_notebook", "source_excerpt", "use_vtlab_renderer"]
