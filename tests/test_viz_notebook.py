"""Notebook helpers: exercise checks that do not give the answer away, widget captions that name the setting."""

from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest
import torch

from vtlab.viz import FigureExplorer
from vtlab.viz.notebook import check_answers


def test_check_answers_says_right_wrong_or_missing_without_the_value(capsys):
    check_answers({"a": 24.5, "b": torch.tensor([1.0, 2.0]), "c": True, "e": 3.0},
                  {"a": 24.5, "b": [1, 2], "c": True, "d": 7.0, "e": 3.5})
    out = capsys.readouterr().out
    assert out.splitlines() == ["a: right", "b: right", "c: right", "d: not answered yet",
                                "e: not yet right: try again"]
    assert "3.5" not in out and "7.0" not in out


def test_check_answers_is_strict_about_bools_and_shapes(capsys):
    check_answers({"c": 1, "b": [1, 2, 3]}, {"c": True, "b": [1, 2]})
    assert capsys.readouterr().out.splitlines() == ["c: not yet right: try again", "b: not yet right: try again"]


def test_explorer_caption_names_the_setting_and_the_default():
    controls = {"n": widgets.IntSlider(value=1, min=0, max=3), "kind": widgets.Dropdown(options=[("bars", 0),
                                                                                                ("lines", 1)])}
    explorer = FigureExplorer(lambda n, kind: go.Figure(go.Scatter(y=[n, kind])), controls)
    assert explorer.caption() == "The widget above in its default view: n = 1, kind = bars."
    controls["kind"].value = 1
    assert explorer.caption() == "The widget above at n = 1, kind = lines (its default view: n = 1, kind = bars)."
    assert list(explorer.figure.data[0].y) == [1, 1]


def test_explorer_set_changes_several_controls_with_one_redraw():
    drawn = []

    def draw(n: int, kind: int) -> go.Figure:
        drawn.append((n, kind))
        return go.Figure(go.Scatter(y=[n, kind]))

    controls = {"n": widgets.IntSlider(value=1, min=0, max=3), "kind": widgets.Dropdown(options=[0, 1])}
    explorer = FigureExplorer(draw, controls)
    explorer.set(n=3, kind=1)
    assert drawn == [(1, 0), (3, 1)] and list(explorer.figure.data[0].y) == [3, 1]
    with pytest.raises(ValueError, match="unknown controls"):
        explorer.set(colour=2)


def test_explorer_show_draws_another_setting_without_moving_the_widget(capsys, monkeypatch):
    drawn, shown = [], []

    def draw(n: int, kind: int) -> go.Figure:
        drawn.append((n, kind))
        return go.Figure(go.Scatter(y=[n, kind]))

    controls = {"n": widgets.IntSlider(value=1, min=0, max=3), "kind": widgets.Dropdown(options=[("bars", 0),
                                                                                                ("lines", 1)])}
    explorer = FigureExplorer(draw, controls)
    widget_figure, widget_outputs = explorer.figure, explorer.output.outputs
    monkeypatch.setattr(go.Figure, "show", lambda self: shown.append(list(self.data[0].y)))
    monkeypatch.setattr("vtlab.viz.explorer.display", lambda item: shown.append(item.data))
    explorer.show(kind=1)
    assert drawn == [(1, 0), (1, 1)] and shown[1] == [1, 1]
    assert "at n = 1, kind = lines (its default view: n = 1, kind = bars)" in shown[0]
    # the widget kept its setting, its figure and its output: nothing the front end shows was replaced
    assert explorer.values == {"n": 1, "kind": 0} and explorer.figure is widget_figure
    assert explorer.output.outputs is widget_outputs
    with pytest.raises(ValueError, match="unknown controls"):
        explorer.show(colour=2)
