"""Token coefficient maps over images (the paper's Figures 5 and 6), as plotly figures and a widget.

Inputs are what :mod:`vtlab.probe` returns: per block, maps (N, heads, L, h, w) on the feature map's grid
(:func:`vtlab.probe.coefficient_maps`), each summing to 1 over the pixels. A map is stretched over its image
(smoothed by the browser) as a heat layer, scaled to its own maximum so that where a token looks shows whatever
its spread. Images are embedded as PNG, which keeps notebooks small.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image
from plotly.subplots import make_subplots

from .._checks import check_finite, check_positive
from .explorer import FigureExplorer

HEAT = [[0.0, "rgba(255,255,0,0)"], [0.3, "rgba(255,160,0,0.35)"], [1.0, "rgba(220,0,0,0.85)"]]


def image_png(image: torch.Tensor) -> str:
    """(3, H, W) uint8 (or any integer dtype holding 0..255, the same 8-bit levels) or float in [0, 1] → a PNG
    data URI."""
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3 or image.numel() == 0:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"expected an image (3, H, W) with H, W >= 1 as a tensor, got {shape}")
    image = _eight_bit(image)
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _eight_bit(image: torch.Tensor) -> torch.Tensor:
    """An image's values as uint8 levels: floats in [0, 1] scaled by 255, integers taken as levels if they lie
    in 0..255 (anything else has no clear meaning as a picture and raises)."""
    if image.is_floating_point():
        check_finite("an image", image)
        return (image.clamp(0, 1) * 255).round().to(torch.uint8)
    if image.dtype == torch.uint8:
        return image
    if image.dtype == torch.bool or image.is_complex():
        raise ValueError(f"expected an image of uint8 levels or floats in [0, 1], got {image.dtype}")
    low, high = int(image.min()), int(image.max())
    if low < 0 or high > 255:
        raise ValueError(f"expected an image of uint8 levels (integers in 0..255) or floats in [0, 1], got "
                         f"{image.dtype} values in {low}..{high}")
    return image.to(torch.uint8)


def heat_map(coefficients: torch.Tensor) -> np.ndarray:
    """A map scaled to [0, 1] by its maximum, rounded so that figures are the same on every run."""
    if not isinstance(coefficients, torch.Tensor):
        raise ValueError(f"expected a coefficient map as a tensor, got {type(coefficients).__name__}")
    check_finite("a coefficient map", coefficients)
    scaled = coefficients / coefficients.max().clamp_min(1e-12)
    return np.round(scaled.numpy(), 3)


def add_overlay(fig: go.Figure, uri: str, size: tuple[int, int], heat: np.ndarray | None, row: int = 1,
                col: int = 1) -> None:
    """An image (its :func:`image_png` data URI, encoded once per figure, and its (H, W)) in pixel coordinates
    and, over it, the map's cells stretched to cover the same area."""
    height, width = size
    fig.add_trace(go.Image(source=uri, hoverinfo="skip"), row=row, col=col)
    if heat is not None:
        dy, dx = height / heat.shape[0], width / heat.shape[1]
        fig.add_trace(go.Heatmap(z=heat, x0=(dx - 1) / 2, dx=dx, y0=(dy - 1) / 2, dy=dy, zsmooth="best",
                                 colorscale=HEAT, zmin=0, zmax=1, showscale=False,
                                 hovertemplate="%{z:.2f} of the map's maximum<extra></extra>"), row=row, col=col)


def token_map_figure(image: torch.Tensor, coefficients: torch.Tensor, title: str = "") -> go.Figure:
    """One token's coefficient map (h, w) over its image (3, H, W)."""
    if coefficients.ndim != 2:
        raise ValueError(f"expected one map (h, w), got shape {tuple(coefficients.shape)}")
    fig = make_subplots(rows=1, cols=1)
    add_overlay(fig, image_png(image), image.shape[-2:], heat_map(coefficients))
    fig.update_layout(title=title, width=420, height=420, margin=dict(l=10, r=10, t=40, b=10))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def token_grid_figure(image: torch.Tensor, maps: torch.Tensor, labels: Sequence[str] | None = None,
                      title: str = "", columns: int = 3) -> go.Figure:
    """The image and each of its L tokens' maps (L, h, w), as in the paper's Figure 5: in rows of at most
    ``columns`` panels (530 px wide for three, which fits the tutorial site's text column in a 1000-px window
    without a sideways scroll), each titled on two lines ("token 3" over what its label says after a
    colon) so that no title overlaps its neighbour."""
    if maps.ndim != 3:
        raise ValueError(f"expected maps (L, h, w), got shape {tuple(maps.shape)}")
    check_positive(columns=columns)
    L = maps.shape[0]
    labels = list(labels) if labels is not None else [f"token {t}" for t in range(L)]
    columns = min(columns, L + 1)
    rows = math.ceil((L + 1) / columns)
    titles = ["image", *(text.replace(": ", "<br>", 1) for text in labels)]
    panel, gap, top = 160, 36, 80  # pixels: a panel's side, the room a two-line title needs, the figure's title
    height = top + 10 + rows * panel + (rows - 1) * gap
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.03,
                        vertical_spacing=gap / (height - top - 10) if rows > 1 else 0.0)
    uri, size = image_png(image), image.shape[-2:]
    add_overlay(fig, uri, size, None, row=1, col=1)
    for t in range(L):
        add_overlay(fig, uri, size, heat_map(maps[t]), row=(t + 1) // columns + 1, col=(t + 1) % columns + 1)
    fig.update_annotations(font_size=11)
    fig.update_layout(title=title, height=height, width=20 + columns * (panel + 10),
                      margin=dict(l=10, r=10, t=top, b=10))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def token_explorer(images: torch.Tensor, maps: Sequence[torch.Tensor],
                   region_mass: Sequence[torch.Tensor] | None = None,
                   region_names: Sequence[str] | None = None) -> FigureExplorer:
    """A widget: choose image, block, head (or their mean) and token (or all tokens) and see the maps.

    images (N, 3, H, W); maps: per block (N, heads, L, h, w); optionally region_mass per
    block (N, heads, L, R) from :func:`vtlab.probe.region_mass`, shown in the titles with ``region_names``."""
    if not maps:
        raise ValueError("expected the maps of at least one block")
    if len(images) == 0:
        raise ValueError("expected at least one image, got none")
    heads = maps[0].shape[1]

    def token_options(block: int) -> list[tuple[str, int]]:
        # a dynamic block renews only some tokens (L/2 in vtlab): its A has fewer columns than a static one's
        return [("all", -1)] + [(str(t), t) for t in range(maps[block].shape[2])]

    controls = {
        "image": widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image"),
        "block": widgets.Dropdown(options=list(range(len(maps))), value=0, description="block"),
        "head": widgets.Dropdown(options=[("mean", -1)] + [(str(h), h) for h in range(heads)], value=-1,
                                 description="head"),
        "token": widgets.Dropdown(options=token_options(0), value=-1, description="token"),
    }

    def block_changed(change: dict) -> None:  # registered before the explorer's redraw, so it runs first
        controls["token"].options = token_options(change["new"])
        controls["token"].value = -1

    controls["block"].observe(block_changed, names="value")

    def label(image: int, block: int, head: int, token: int) -> str:
        if region_mass is None:
            return f"token {token}"
        mass = region_mass[block][image]
        mass = mass.mean(0) if head < 0 else mass[head]
        best = int(mass[token].argmax())
        name = region_names[best] if region_names is not None else f"region {best}"
        return f"token {token}: {mass[token, best]:.0%} on {name}"

    def draw(image: int, block: int, head: int, token: int) -> go.Figure:
        selected = maps[block][image]
        selected = selected.mean(0) if head < 0 else selected[head]
        where = f"image {image}, block {block}, head {'mean' if head < 0 else head}"
        if token < 0 or token >= selected.shape[0]:
            labels = [label(image, block, head, t) for t in range(selected.shape[0])]
            return token_grid_figure(images[image], selected, labels, title=where)
        return token_map_figure(images[image], selected[token], title=f"{where}: {label(image, block, head, token)}")

    return FigureExplorer(draw, controls)
