"""A widget that redraws one plotly figure whenever one of its controls changes.

The figure logic is a plain function ``draw(**values) -> go.Figure``, so it can be tested without a browser:
set ``explorer.controls[name].value`` and read ``explorer.figure``. The figure is shown in an ``Output``
widget (drawn by JupyterLab's plotly extension), which needs no widget library beyond ipywidgets.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
import plotly.graph_objects as go


class FigureExplorer(widgets.VBox):
    """Controls above a figure; ``figure`` is the figure for the controls' current values."""

    def __init__(self, draw: Callable[..., go.Figure], controls: dict[str, widgets.ValueWidget]):
        self.draw = draw
        self.controls = controls
        self.output = widgets.Output()
        self.figure: go.Figure = go.Figure()
        for control in controls.values():
            control.observe(self._redraw, names="value")
        super().__init__([widgets.HBox(list(controls.values())), self.output])
        self._redraw()

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def _redraw(self, change: dict | None = None) -> None:
        self.figure = self.draw(**self.values)
        # Set as the Output widget's state rather than display()ed into it: a state change reaches the front end
        # without printing anything into the notebook cell that happened to change a control.
        self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {"application/vnd.plotly.v1+json": self.figure.to_dict(),
                                         "text/plain": f"<plotly figure: {self.figure.layout.title.text or ''}>"}},)
