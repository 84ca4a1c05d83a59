"""Figures of the token-probing measurements of :mod:`vtlab.probe`."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots


def concentration_figure(summary: dict[str, list[dict[str, float]]], shares: dict[str, float]) -> go.Figure:
    """Per block, each model's mean lift (left) and the share of token weight on shapes and on the labelled
    shape (right), beside those regions' share of the pixels (dashed lines: what a uniform map would give).

    ``summary``: model name → per block {"lift", "on_shape", "on_label"}; ``shares``: {"shapes": …,
    "labelled shape": …}, pixel shares."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["lift of each token's best region",
                                                        "share of token weight"])
    for name, per_block in summary.items():
        blocks = [f"block {b}" for b in range(len(per_block))]
        fig.add_trace(go.Bar(x=blocks, y=[round(s["lift"], 3) for s in per_block], name=f"{name}: lift"),
                      row=1, col=1)
        for key, region in (("on_shape", "shapes"), ("on_label", "labelled shape")):
            fig.add_trace(go.Bar(x=blocks, y=[round(s[key], 3) for s in per_block], name=f"{name}: on {region}"),
                          row=1, col=2)
    fig.add_hline(y=1, line_dash="dash", annotation_text="uniform", row=1, col=1)
    for region, share in shares.items():
        fig.add_hline(y=round(share, 3), line_dash="dash", annotation_text=f"pixels on {region}", row=1, col=2)
    fig.update_layout(barmode="group", height=400, margin=dict(t=50, b=40))
    return fig
