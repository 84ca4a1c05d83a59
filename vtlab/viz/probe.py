"""Figures of the token-probing measurements of :mod:`vtlab.probe`: how different a block's tokens are and how
much they look at objects (:func:`vtlab.probe.token_report`), for several models side by side and per epoch of
a training run (the engine's ``tokens.csv``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .._checks import Expect, check_keys
from .render import significant

# (key of token_report, panel title, value a flat/indistinct map gives, the target the shipped model is held to)
PANELS = (("cosine", "mean pairwise cosine (1 = one token repeated)", None, 0.5),
          ("effective_tokens", "effective number of tokens", None, None),
          ("lift", "median lift of the best region (1 = no preference)", 1.0, 2.0),
          ("on_objects", "share of weight on shapes", None, None))
REPORT_KEYS = tuple(key for key, _, _, _ in PANELS)


def token_report_figure(reports: Mapping[str, Sequence[Mapping[str, float]]], object_share: float) -> go.Figure:
    """Per block, each model's token measurements (``reports``: model name → :func:`vtlab.probe.token_report`'s
    list), one panel per quantity, with dashed lines for a flat map's value and the targets; ``object_share`` is
    the shapes' share of the pixels (what a flat map puts on them)."""
    Expect(float, low=0, high=1).check("object_share (a share of the pixels)", object_share)
    for name, per_block in reports.items():
        for block, report in enumerate(per_block):
            check_keys(f"the report of {name!r} on block {block}", report, REPORT_KEYS)
    fig = make_subplots(rows=2, cols=2, subplot_titles=[title for _, title, _, _ in PANELS],
                        vertical_spacing=0.18, horizontal_spacing=0.1)
    for index, (key, _, flat, target) in enumerate(PANELS):
        row, col = index // 2 + 1, index % 2 + 1
        for name, per_block in reports.items():
            fig.add_trace(go.Bar(x=[f"block {b}" for b in range(len(per_block))],
                                 y=[significant(r[key]) for r in per_block], name=name, legendgroup=name,
                                 showlegend=index == 0), row=row, col=col)
        if flat is not None:
            fig.add_hline(y=flat, line_dash="dot", annotation_text="flat map", row=row, col=col)
        if target is not None:
            fig.add_hline(y=target, line_dash="dash", line_color="firebrick", annotation_text="target", row=row,
                          col=col)
    fig.add_hline(y=significant(object_share), line_dash="dot", annotation_text="pixels on shapes", row=2, col=2)
    fig.update_layout(barmode="group", height=560, width=900, margin=dict(t=60, b=40))
    return fig


def token_history_figure(history: Sequence[Mapping[str, float]]) -> go.Figure:
    """The token measurements per epoch of a training run (rows of the engine's ``tokens.csv``: epoch, block and
    :func:`vtlab.probe.token_report`'s keys), one line per block, one panel per quantity."""
    if not history:
        raise ValueError("expected at least one row of token measurements, got none")
    for i, row in enumerate(history):
        check_keys(f"row {i} of the token measurements", row, ("epoch", "block", *REPORT_KEYS))
    fig = make_subplots(rows=2, cols=2, subplot_titles=[title for _, title, _, _ in PANELS],
                        vertical_spacing=0.18, horizontal_spacing=0.1)
    blocks = sorted({int(row["block"]) for row in history})
    for index, (key, _, _, target) in enumerate(PANELS):
        row, col = index // 2 + 1, index % 2 + 1
        for block in blocks:
            rows = [r for r in history if int(r["block"]) == block]
            fig.add_trace(go.Scatter(x=[int(r["epoch"]) for r in rows], y=[significant(r[key]) for r in rows],
                                     mode="lines+markers", name=f"block {block}", legendgroup=f"block {block}",
                                     showlegend=index == 0), row=row, col=col)
        if target is not None:
            fig.add_hline(y=target, line_dash="dash", line_color="firebrick", annotation_text="target", row=row,
                          col=col)
    fig.update_xaxes(title_text="epoch", row=2)
    fig.update_layout(height=560, width=900, margin=dict(t=60, b=40))
    return fig
