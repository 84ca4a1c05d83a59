"""Table 3's ablations as figures and a widget: switch the transformer (TF), the position encoding (PE) and
dynamic tokenization (DT) off and see what changes, beside the paper's deltas.

Three panels, each a difference to the base model: MACs (M) and parameters (M) of a VT-ResNet at 224×224,
counted by vtlab (:func:`vtlab.cost.report.model_cost`), and top-1 accuracy (points). The paper's accuracy
deltas are ImageNet runs of 90 epochs; vtlab's are short runs of the compact ``vt_resnet_mini`` on the generated
``shapes`` scenes (:mod:`vtlab.studies`), drawn as the mean over seeds of the per-seed difference, with
the lowest and highest per-seed difference as the error bar: a different model, data and scale, shown for the
direction and the noise, not as a reproduction. Combinations of ablations are counted too; Table 3 has none,
and only the variants that were trained have accuracies (a missing value is a gap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..cost import paper
from ..cost.report import cost_deltas, paper_deltas
from ..studies import VariantSummary
from ..vt.block import ABLATION_SWITCHES
from .costs import short_name
from .explorer import FigureExplorer

# Widget control → the VT option it switches (True: the component is kept), in Table 3's order: "TF" →
# "transformer" (the declaration beside VTConfig).
SWITCHES: dict[str, str] = ABLATION_SWITCHES
SWITCH_NAMES = {"TF": "transformer", "PE": "position encoding", "DT": "dynamic tokens"}
TABLE3_MODELS = tuple(dict.fromkeys(row.model for row in paper.TABLE3))
PANELS = ("MACs (M)", "parameters (M)", "top-1 accuracy (points)")
TRACES = ("paper (Table 3, ImageNet)", "vtlab (counted)", "vtlab (vt_resnet_mini on shapes)")
COLOURS = dict(zip(TRACES, ("#7f7f7f", "#1f77b4", "#2ca02c"), strict=True))


def ablation_options(TF: bool = True, PE: bool = True, DT: bool = True) -> dict[str, bool]:
    """The VT options of a variant, from which components it keeps: ``ablation_options(TF=False)`` →
    ``{"transformer": False}``; all kept → ``{}`` (the base model)."""
    kept = {"TF": TF, "PE": PE, "DT": DT}
    return {SWITCHES[name]: False for name, keep in kept.items() if not keep}


def ablation_label(options: Mapping[str, bool]) -> str:
    """Table 3's name of a variant: ``{}`` → "base", ``{"dynamic": False}`` → "-DT", two switches → "-TF -DT"."""
    unknown = set(options) - set(SWITCHES.values())
    if unknown or any(options.values()):
        raise ValueError(f"expected VT options among {list(SWITCHES.values())} set to False, got {dict(options)}")
    removed = [name for name, option in SWITCHES.items() if option in options]
    return " ".join(f"-{name}" for name in removed) or "base"


def ablation_figure(model: str, variants: Sequence[Mapping[str, bool]],
                    summaries: Mapping[str, VariantSummary] | None = None, title: str | None = None) -> go.Figure:
    """Differences to the base of each variant in ``variants`` (VT options, e.g. ``{"dynamic": False}``), one
    panel per quantity (:data:`PANELS`), x = the variants' labels.

    Traces, in order: :data:`TRACES` [0] and [1] in the MAC and parameter panels (paper, vtlab's count of
    ``model``), then [0] and [2] in the accuracy panel (paper, ``summaries`` from
    :meth:`vtlab.studies.Study.summaries`: mean paired difference, error bar from the lowest to the
    highest). Values missing from the paper or the summaries are ``None`` (a gap)."""
    if not variants:
        raise ValueError("expected at least one variant")
    labels = [ablation_label(v) for v in variants]
    ours = [cost_deltas(model, v) for v in variants]
    theirs = [paper_deltas(model, label) for label in labels]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{panel}, vs base" for panel in PANELS])
    for col, (key, digits) in enumerate((("macs", 3), ("params", 4)), start=1):
        fig.add_trace(go.Bar(x=labels, y=[t[key] if t else None for t in theirs], name=TRACES[0],
                             marker_color=COLOURS[TRACES[0]], legendgroup=TRACES[0], showlegend=col == 1),
                      row=1, col=col)
        fig.add_trace(go.Bar(x=labels, y=[round(o[key], digits) for o in ours], name=TRACES[1],
                             marker_color=COLOURS[TRACES[1]], legendgroup=TRACES[1], showlegend=col == 1),
                      row=1, col=col)
    if any(theirs):  # an accuracy panel with no value gets no trace, so the legend lists nothing empty
        fig.add_trace(go.Bar(x=labels, y=[t["top1"] if t else None for t in theirs], name=TRACES[0],
                             marker_color=COLOURS[TRACES[0]], legendgroup=TRACES[0], showlegend=False), row=1, col=3)
    found = [summaries.get(label) if summaries else None for label in labels]
    means = [round(s.mean_delta, 2) if s else None for s in found]
    if any(found):
        fig.add_trace(go.Bar(
            x=labels, y=means, name=TRACES[2], marker_color=COLOURS[TRACES[2]],
            error_y=dict(type="data", symmetric=False,
                         array=[round(s.delta_range[1] - m, 2) if s else None
                                for s, m in zip(found, means, strict=True)],
                         arrayminus=[round(m - s.delta_range[0], 2) if s else None
                                     for s, m in zip(found, means, strict=True)])),
            row=1, col=3)
    for col in (1, 2, 3):
        fig.add_hline(y=0, line=dict(color="black", width=1), row=1, col=col)
    fig.update_layout(barmode="group", height=420, margin=dict(l=50, r=20, t=70, b=40),
                      title=title if title is not None else f"{short_name(model)}: ablations against the base",
                      legend=dict(orientation="h", y=-0.12))
    return fig


def table3_figure(model: str = "vt_resnet34", summaries: Mapping[str, VariantSummary] | None = None) -> go.Figure:
    """:func:`ablation_figure` of Table 3's three ablations (-TF, -PE, -DT) of ``model``."""
    return ablation_figure(model, list(paper.ABLATIONS.values()), summaries)


def ablation_explorer(summaries: Mapping[str, VariantSummary] | None = None,
                      model: str = "vt_resnet34") -> FigureExplorer:
    """A widget: choose the model (VT-ResNet-18 or -34) and tick which components to keep (``controls["TF"]``,
    ``["PE"]``, ``["DT"]``: True keeps the component), and see :func:`ablation_figure` for that one variant.
    Each new setting is counted once (about a second), then cached."""
    if model not in TABLE3_MODELS:
        raise ValueError(f"expected one of Table 3's models {TABLE3_MODELS}, got {model!r}")
    controls = {"model": widgets.Dropdown(options=[(short_name(m), m) for m in TABLE3_MODELS], value=model,
                                          description="model")}
    controls |= {name: widgets.Checkbox(value=True, description=f"{SWITCH_NAMES[name]} ({name})", indent=False)
                 for name in SWITCHES}

    def draw(model: str, TF: bool, PE: bool, DT: bool) -> go.Figure:
        options = ablation_options(TF, PE, DT)
        label = ablation_label(options)
        note = "" if label == "base" or paper_deltas(model, label) else " (not in Table 3)"
        return ablation_figure(model, [options], summaries, title=f"{short_name(model)} {label}{note}")

    return FigureExplorer(draw, controls)
