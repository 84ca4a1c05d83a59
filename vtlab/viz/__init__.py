"""Figures and widgets for the notebooks and the tutorial site (plotly + ipywidgets)."""

from .code import equation_beside_code, source_excerpt
from .explorer import FigureExplorer
from .notebook import setup_notebook
from .render import use_vtlab_renderer

__all__ = ["FigureExplorer", "equation_beside_code", "setup_notebook", "source_excerpt", "use_vtlab_renderer"]
