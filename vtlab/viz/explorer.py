"""A widget that redraws one plotly figure whenever one of its controls changes.

The figure logic is a plain function ``draw(**values) -> go.Figure``, so it can be tested without a browser:
set ``explorer.controls[name].value`` and read ``explorer.figure``. :meth:`FigureExplorer.show` displays the
figure under a caption naming its setting, for readers without a kernel. The figure is shown in an ``Output``
widget (drawn by JupyterLab's plotly extension), which needs no widget library beyond ipywidgets.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable

import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import Markdown, display


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
        self.defaults = self.settings()
        self._redraw()

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def settings(self) -> dict[str, str]:
        """The controls' current settings as a reader sees them (a dropdown's label, a slider's value)."""
        return {name: str(control.label if getattr(control, "label", None) is not None else control.value)
                for name, control in self.controls.items()}

    def caption(self) -> str:
        """One line naming the setting the figure shows, and the default view when it is another."""
        def named(settings: dict[str, str]) -> str:
            return ", ".join(f"{name} = {value}" for name, value in settings.items())

        current = self.settings()
        if current == self.defaults:
            return f"The widget above in its default view: {named(current)}."
        return f"The widget above at {named(current)} (its default view: {named(self.defaults)})."

    @contextlib.contextmanager
    def _holding(self, values: dict):
        """Set ``values`` on the controls without a redraw for each, and hold redraws until the block ends."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown controls {sorted(unknown)}; expected some of {sorted(self.controls)}")
        self._held = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
            yield
        finally:
            self._held = False

    def set(self, **values: object) -> None:
        """Set several controls and redraw once: set one by one, each change would redraw (and send a figure to the
        front end) for a setting nobody asked to see."""
        with self._holding(values):
            pass
        self._redraw()

    def show(self, **values: object) -> None:
        """Display the figure for the current settings under a caption naming them (:meth:`caption`): the view
        a reader without a kernel (the executed notebook, the tutorial site) sees of the widget. With ``values``
        (some controls' values), the figure for that setting instead, drawn without moving the widget: the
        widget's own figure is never replaced by this, so no plot that the front end is still laying out is
        taken away (JupyterLab's plotly renderer logs an error for such a plot)."""
        caption, figure = self.caption(), self.figure
        before = self.values
        with self._holding(values):  # no redraw: the controls move to name the setting, and back
            try:
                if values:
                    caption, figure = self.caption(), self.draw(**self.values)
            finally:
                for name, value in before.items():
                    self.controls[name].value = value
        display(Markdown(f'<p class="vtlab-widget-view"><em>{html.escape(caption)}</em></p>'))
        figure.show()

    def _redraw(self, change: dict | None = None) -> None:
        if getattr(self, "_held", False):  # inside set(): one redraw at its end
            return
        self.figure = self.draw(**self.values)
        # Set as the Output widget's state rather than display()ed into it: a state change reaches the front end
        # without printing anything into the notebook cell that happened to change a control.
        self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {"application/vnd.plotly.v1+json": self.figure.to_dict(),
                                         "text/plain": f"<plotly figure: {self.figure.layout.title.text or ''}>"}},)
