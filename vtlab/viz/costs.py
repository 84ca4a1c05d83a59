"""The cost of VT-ResNets and their ResNet baselines against the paper's Tables 1 and 2, as plotly figures.

Two kinds of data go in, both counted by vtlab (never copied from the paper):

- :class:`~vtlab.cost.report.ModelCost` (whole model and stage 5) from :func:`vtlab.cost.report.model_cost`,
  the numbers ``vtlab cost`` prints, for :func:`table1_figure` and :func:`table2_figure`;
- :class:`~vtlab.cost.report.StageCosts` from :func:`vtlab.cost.report.stage_costs`: MACs and parameters per
  stage of Table 5's layout (stage 1 = the stem, stages 2–4 = ``layer1``–``layer3``, stage 5 = ``layer4`` or
  the VT stage ``vt``, then the head), and per part of stage 5, for :func:`stage_figure` and the widget
  :func:`stage_explorer`.

The paper gives stage costs only for stage 5, and only as a baseline / VT ratio (Table 2), so its VT stage-5
cost has to be inferred; :func:`paper_stage5` does so in the two ways the tables allow (see there), which do
not agree with each other. Values are rounded before they go into a figure, so that an executed notebook's
figures are the same on every run.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..cost import paper
from ..cost.report import (
    DEPTHS,
    STAGES,
    TABLE2_KEYS,
    ModelCost,
    StageCosts,
    relative_error,
    table2_ratios,
)
from .explorer import FigureExplorer
from .render import significant

METRICS = {"macs": (1e6, "MACs (M)"), "params": (1e6, "parameters (M)")}
COLOURS = {"paper": "#7f7f7f", "vtlab": "#1f77b4", "resnet": "#ff7f0e", "vt": "#1f77b4",
           "via Table 2": "#7f7f7f", "via Table 1": "#bcbd22"}


def short_name(model: str) -> str:
    """The paper's abbreviation of a registered model name: ``"resnet18"`` → "R-18", ``"vt_resnet50"`` →
    "VT-R-50" (other names are returned unchanged)."""
    if model.startswith("vt_resnet"):
        return f"VT-R-{model.removeprefix('vt_resnet')}"
    if model.startswith("resnet"):
        return f"R-{model.removeprefix('resnet')}"
    return model


def paper_stage5(depth: str, resnet: StageCosts, metric: str = "macs") -> dict[str, float]:
    """VT-ResNet-``depth``'s stage-5 cost implied by the paper, in two ways (MACs or parameters, as counted).

    ``"via Table 2"``: the baseline's stage 5 (vtlab's count of ``layer4``, whose model totals match Table 1's
    ResNets) divided by Table 2's stage-5 ratio. ``"via Table 1"``: Table 1's VT-ResNet total minus what it
    shares with the baseline (stages 1–4, vtlab's counts) and minus its head (a CT → 1000 classifier, CT from
    Table 5). Where the two disagree, the paper's own tables disagree.
    """
    if depth not in DEPTHS:
        raise ValueError(f"unknown depth {depth!r}; expected one of {DEPTHS}")
    values = resnet.metric(metric)
    ratio = paper.TABLE2[f"resnet{depth}"][f"{metric}_stage5"]
    row = paper.table1(f"vt_resnet{depth}")
    total = row.macs_g * 1e9 if metric == "macs" else row.params_m * 1e6
    CT = paper.TABLE5[f"vt_resnet{depth}"]["CT"]
    head = CT * 1000 if metric == "macs" else CT * 1000 + 1000  # the classifier's weights (+ bias)
    shared = sum(values[s] for s in ("stage 1", "stage 2", "stage 3", "stage 4"))
    return {"via Table 2": values["stage 5"] / ratio, "via Table 1": total - shared - head}


def add_paper_and_vtlab_bars(fig: go.Figure, labels: list[str], theirs: list[float], ours: list[float], table: str,
                             row: int, col: int, legend: bool, hover: bool = True) -> None:
    """The paper's figures (grey, "paper (<table>)") and vtlab's (blue, with its relative difference as hover
    text) as two bar traces in one subplot; ``legend`` shows them in the legend (once per figure)."""
    fig.add_trace(go.Bar(x=labels, y=theirs, name=f"paper ({table})", marker_color=COLOURS["paper"],
                         legendgroup="paper", showlegend=legend), row=row, col=col)
    hovertext = [f"{relative_error(o, t):+.1f}% vs paper" for o, t in zip(ours, theirs, strict=True)] if hover else None
    fig.add_trace(go.Bar(x=labels, y=ours, name="vtlab", marker_color=COLOURS["vtlab"], legendgroup="vtlab",
                         showlegend=legend, hovertext=hovertext), row=row, col=col)


def table1_figure(costs: Mapping[str, ModelCost]) -> go.Figure:
    """Table 1's MACs (G, left) and parameters (M, right): the paper's bar beside vtlab's for each model in
    ``costs`` (registered name → :func:`vtlab.cost.report.model_cost`), in the mapping's order.

    Traces: "paper (Table 1)" and "vtlab" in each panel (four in all, the MAC panel's first); the hover text
    gives vtlab's relative difference."""
    names = list(costs)
    fig = make_subplots(rows=1, cols=2, subplot_titles=["MACs (G) at 224x224", "parameters (M)"])
    for col, (metric, scale, digits) in enumerate((("macs", 1e9, 3), ("params", 1e6, 2)), start=1):
        theirs = [getattr(paper.table1(n), f"{metric}_g" if metric == "macs" else "params_m") for n in names]
        ours = [round(getattr(costs[n], metric) / scale, digits) for n in names]
        labels = [short_name(n) for n in names]
        add_paper_and_vtlab_bars(fig, labels, theirs, ours, "Table 1", row=1, col=col, legend=col == 1)
    fig.update_layout(barmode="group", height=400, margin=dict(l=50, r=20, t=50, b=40))
    return fig


def table2_figure(costs: Mapping[str, ModelCost]) -> go.Figure:
    """Table 2's baseline / VT ratios, one panel per ratio (MACs and parameters, whole model and stage 5), the
    paper's bar beside vtlab's for each depth whose ``resnetD`` and ``vt_resnetD`` are both in ``costs``.

    Traces: "paper (Table 2)" and "vtlab" per panel, in the order of :data:`vtlab.cost.report.TABLE2_KEYS`
    (eight in all)."""
    depths = [d for d in DEPTHS if f"resnet{d}" in costs and f"vt_resnet{d}" in costs]
    if not depths:
        raise ValueError("expected the costs of at least one pair resnetD, vt_resnetD")
    ours = {d: table2_ratios(costs[f"resnet{d}"], costs[f"vt_resnet{d}"]) for d in depths}
    # two-line titles: side by side on one line each, they overlap in the site's column at a 1000-px window
    fig = make_subplots(rows=2, cols=2, vertical_spacing=0.16,
                        subplot_titles=[f"{label}<br>(baseline / VT)" for label in TABLE2_KEYS.values()])
    labels = [f"R-{d}" for d in depths]
    for i, key in enumerate(TABLE2_KEYS):
        row, col = divmod(i, 2)
        add_paper_and_vtlab_bars(fig, labels, [paper.TABLE2[f"resnet{d}"][key] for d in depths],
                                 [round(ours[d][key], 2) for d in depths], "Table 2", row=row + 1, col=col + 1,
                                 legend=i == 0, hover=False)
    fig.add_hline(y=1, line=dict(color="black", width=1, dash="dot"))
    fig.update_layout(barmode="group", height=580, margin=dict(l=50, r=20, t=60, b=40))
    return fig


def stage_figure(resnet: StageCosts, vt: StageCosts, metric: str = "macs") -> go.Figure:
    """MACs or parameters per stage of a ResNet and its VT-ResNet (vtlab's counts), with the paper's VT
    stage 5 as far as the tables imply it (:func:`paper_stage5`, two bars at stage 5 only).

    Traces, in order: the ResNet, the VT-ResNet, "paper, via Table 2", "paper, via Table 1"."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {list(METRICS)}")
    scale, axis_title = METRICS[metric]
    depth = vt.model.removeprefix("vt_resnet")
    stages = list(STAGES)
    fig = go.Figure()
    for costs, colour in ((resnet, COLOURS["resnet"]), (vt, COLOURS["vt"])):
        values = costs.metric(metric)
        fig.add_trace(go.Bar(x=stages, y=[significant(values[s] / scale) for s in stages],
                             name=f"{short_name(costs.model)} (vtlab)", marker_color=colour))
    if depth in DEPTHS and resnet.model == f"resnet{depth}":
        for way, value in paper_stage5(depth, resnet, metric).items():
            fig.add_trace(go.Bar(x=["stage 5"], y=[significant(value / scale)],
                                 name=f"{short_name(vt.model)} paper, {way}", marker_color=COLOURS[way]))
    fig.update_layout(barmode="group", height=420, yaxis_title=axis_title, margin=dict(l=60, r=20, t=50, b=40),
                      title=f"{axis_title.split(' (')[0]} per stage: {short_name(resnet.model)} vs "
                            f"{short_name(vt.model)} at {vt.input_size}x{vt.input_size}")
    return fig


def stage_explorer(costs: Mapping[str, StageCosts]) -> FigureExplorer:
    """A widget: choose a depth (18, 34, 50, 101) and MACs or parameters, and see :func:`stage_figure`.

    ``costs``: registered name → :func:`vtlab.cost.report.stage_costs`, holding ``resnetD`` and ``vt_resnetD``
    for each depth offered (counted beforehand, so that the widget redraws at once)."""
    depths = [d for d in DEPTHS if f"resnet{d}" in costs and f"vt_resnet{d}" in costs]
    if not depths:
        raise ValueError("expected the stage costs of at least one pair resnetD, vt_resnetD")
    controls = {
        "depth": widgets.Dropdown(options=depths, value=depths[0], description="depth"),
        "metric": widgets.ToggleButtons(options=[("MACs", "macs"), ("parameters", "params")], value="macs",
                                        description="count"),
    }

    def draw(depth: str, metric: str) -> go.Figure:
        return stage_figure(costs[f"resnet{depth}"], costs[f"vt_resnet{depth}"], metric)

    return FigureExplorer(draw, controls)

