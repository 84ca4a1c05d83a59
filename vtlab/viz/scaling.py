"""Cost against feature-map size for a convolution, a non-local block and a VT block, as plotly figures.

The data comes from :mod:`vtlab.cost.scaling`: a list of :class:`~vtlab.cost.scaling.SizeCost` (MACs or
measured seconds per square map side) and the :class:`~vtlab.cost.scaling.Crossover` points where two blocks
cost the same; measured times, run by run, from :mod:`vtlab.timing` (:class:`~vtlab.timing.TimedSize`). Both
axes are logarithmic: a cost linear in the pixel count n = H·W is then a line of slope 2 against the side H, a
quadratic one bends to slope 4, so the three blocks' growth can be read off the slopes. Values are rounded
before they go into a figure, so that an executed notebook's figures are the same on every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import plotly.graph_objects as go

from ..cost.scaling import (
    BLOCKS,
    DEFAULT_CONFIG,
    LABELS,
    Crossover,
    SizeCost,
    mac_crossovers,
    mac_polynomials,
    mac_scaling,
)
from ..timing import TimedSize
from ..vt import VTConfig
from .explorer import FigureExplorer
from .render import significant

COLOURS = {"conv": "#1f77b4", "nonlocal": "#d62728", "vt": "#2ca02c"}
UNITS = {"MACs": (1e6, "MACs (M)"), "seconds": (1e-3, "time per image (ms)")}


def cost_figure(points: Sequence[SizeCost], crossovers: Sequence[Crossover] = (), unit: str = "MACs",
                title: str = "") -> go.Figure:
    """One line per block (cost against the map's side H = W, log–log) and the crossovers as labelled markers.

    ``unit``: "MACs" (plotted in millions) or "seconds" (plotted in milliseconds). Crossovers outside the range
    of ``points`` are left out. Traces: one per block, named by :data:`~vtlab.cost.scaling.LABELS`, then one
    named "crossovers" when there is any to show.
    """
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {list(UNITS)}")
    if not points:
        raise ValueError("expected the costs at one size at least")
    scale, axis_title = UNITS[unit]
    points = sorted(points, key=lambda p: p.n)
    sides = [p.H for p in points]
    fig = go.Figure()
    for name in (b for b in BLOCKS if b in points[0].costs):
        fig.add_trace(go.Scatter(
            x=sides, y=[significant(p.costs[name] / scale) for p in points], mode="lines+markers" if len(points) < 20
            else "lines", name=LABELS[name], line=dict(color=COLOURS[name]),
            hovertemplate=f"{LABELS[name]}<br>%{{x}}x%{{x}}: %{{y:.4g}} {axis_title}<extra></extra>"))
    shown = [c for c in crossovers if points[0].n <= c.n <= points[-1].n]
    if shown:
        fig.add_trace(go.Scatter(
            x=[significant(c.side) for c in shown], y=[significant(c.cost / scale) for c in shown], mode="markers+text",
            name="crossovers", marker=dict(symbol="diamond", size=11, color="black"),
            text=[f"{c.side:.1f}" for c in shown], textposition="top left",
            hovertext=[c.describe(unit) for c in shown], hoverinfo="text"))
        for c in shown:
            fig.add_vline(x=significant(c.side), line=dict(color="grey", dash="dot", width=1))
    fig.update_xaxes(type="log", title="feature map side H = W (pixels)")
    fig.update_yaxes(type="log", title=axis_title)
    fig.update_layout(title=title, height=450, legend=dict(x=0.01, y=0.99), margin=dict(l=60, r=20, t=50, b=50))
    return fig


def mac_figure(sides: Sequence[int], config: VTConfig = DEFAULT_CONFIG, title: str | None = None) -> go.Figure:
    """:func:`cost_figure` of the MACs counted for ``config`` (see :func:`vtlab.cost.scaling.mac_polynomials`)."""
    points = mac_scaling(sides, config)
    crossovers = mac_crossovers(mac_polynomials(config))
    if title is None:
        title = f"MACs per block, C = {config.C}, CT = {config.CT}, L = {config.L}"
    return cost_figure(points, crossovers, "MACs", title)


def scaling_explorer(sides: Sequence[int], config: VTConfig = DEFAULT_CONFIG,
                     C_options: Sequence[int] = (128, 256, 512, 1024), CT_options: Sequence[int] = (256, 512, 1024),
                     L_options: Sequence[int] = (4, 8, 16, 32)) -> FigureExplorer:
    """A widget: choose C, CT and L and see the three blocks' MACs and crossovers (:func:`mac_figure`).

    The other settings (heads, groups, position encoder) stay those of ``config``; each new setting is counted
    once (about a second) and cached."""
    controls = {
        "C": widgets.Dropdown(options=list(C_options), value=config.C, description="C"),
        "CT": widgets.Dropdown(options=list(CT_options), value=config.CT, description="CT"),
        "L": widgets.Dropdown(options=list(L_options), value=config.L, description="L"),
    }

    def draw(C: int, CT: int, L: int) -> go.Figure:
        return mac_figure(sides, config.replace(C=C, CT=CT, L=L))

    return FigureExplorer(draw, controls)


def time_figure(points: Sequence[TimedSize], title: str = "") -> go.Figure:
    """Measured time per block against the map's side (log–log): the median of the runs as a line, and the
    fastest and slowest run as an error bar, so that the noise is drawn with the measurement. No crossovers are
    marked: where two blocks' bars overlap, the data do not say which is faster (the MAC crossovers do).
    Traces: one per block, named by :data:`~vtlab.cost.scaling.LABELS`."""
    if not points:
        raise ValueError("expected the times at one size at least")
    scale, axis_title = UNITS["seconds"]
    points = sorted(points, key=lambda p: p.H * p.W)
    fig = go.Figure()
    for name in (b for b in BLOCKS if b in points[0].runs):
        medians = [significant(p.median(name) / scale) for p in points]
        low = [significant((p.median(name) - p.spread(name)[0]) / scale) for p in points]
        high = [significant((p.spread(name)[1] - p.median(name)) / scale) for p in points]
        fig.add_trace(go.Scatter(
            x=[p.H for p in points], y=medians, mode="lines+markers", name=LABELS[name],
            line=dict(color=COLOURS[name]), error_y=dict(type="data", symmetric=False, array=high, arrayminus=low),
            customdata=[[len(p.runs[name])] for p in points],
            hovertemplate=f"{LABELS[name]}<br>%{{x}}x%{{x}}: median %{{y:.3g}} ms of %{{customdata[0]}} runs"
                          "<extra></extra>"))
    fig.update_xaxes(type="log", title="feature map side H = W (pixels)")
    fig.update_yaxes(type="log", title=axis_title)
    fig.update_layout(title=title, height=420, legend=dict(x=0.01, y=0.99),
                      margin=dict(l=60, r=20, t=50, b=50))
    return fig
