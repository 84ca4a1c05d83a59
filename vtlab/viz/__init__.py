"""Figures and widgets for the notebooks and the tutorial site (plotly + ipywidgets)."""

from .explorer import FigureExplorer
from .notebook import setup_notebook
from .render import use_vtlab_renderer

__all__ = ["FigureExplorer", "setup_notebook", "use_vtlab_renderer"]
