"""Semantic segmentation with FPN and VT-FPN (Section 4.2, Table 4), as plotly figures and a widget.

Figures: :func:`table4_figure` (neck and whole-model MACs beside the paper's), :func:`prediction_figure`
(scenes, ground-truth masks and each model's predicted masks), :func:`class_iou_figure`, :func:`level_token_figure`
(each level's token maps over one image or its regions) and the widget :func:`level_token_explorer`. What they draw
is computed where it belongs: VT-FPN's token coefficients per pyramid level by
:func:`vtlab.probe.level_coefficient_maps`, the IoU per class by :func:`vtlab.train.metrics.class_iou`.

Values are rounded before they go into a figure and images are embedded as PNG, so that an executed notebook's
figures are small and the same on every run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .._checks import check_positive
from ..cost import paper
from ..data import IGNORE_INDEX
from .costs import add_paper_and_vtlab_bars
from .explorer import FigureExplorer
from .tokens import add_overlay, heat_map, image_png, token_grid_figure

# One colour per class of the shapes masks (background first); further classes cycle through plotly's palette.
CLASS_COLOURS = ("#d9d9d9", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#17becf", "#bcbd22", "#7f7f7f")
NECKS = ("FPN", "VT-FPN")


def table4_figure(necks: Mapping[tuple[str, str], float],
                  totals: Mapping[tuple[str, str, str], float] | None = None) -> go.Figure:
    """Table 4's MACs (G): the paper's bar beside vtlab's, for the neck (left) and, if given, the whole model
    (right).

    ``necks``: (dataset, neck) → G, dataset a key of :data:`vtlab.cost.paper.TABLE4_INPUT_SIZES`
    ("COCO-stuff", "LIP"), neck "FPN" or "VT-FPN"; ``totals``: (backbone "R-50" or "R-101", dataset, neck) → G.
    Traces, in order: "paper (Table 4)", "vtlab" for the necks, then the same two for the totals; hover texts
    give vtlab's difference to the paper."""
    panels = [("neck (.fpn) MACs (G)", "fpn_macs_g", {(None, d, n): v for (d, n), v in necks.items()})]
    if totals:
        panels.append(("whole-model MACs (G)", "total_macs_g", dict(totals)))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[title for title, _, _ in panels])
    for col, (_, field, values) in enumerate(panels, start=1):
        labels, theirs, ours = [], [], []
        for (backbone, dataset, neck), value in values.items():
            if neck not in NECKS or dataset not in paper.TABLE4_INPUT_SIZES or backbone not in (None, "R-50", "R-101"):
                raise ValueError(f"unknown Table 4 entry {(backbone, dataset, neck)}; expected a dataset in "
                                 f"{list(paper.TABLE4_INPUT_SIZES)} and a neck in {NECKS}")
            row = next(r for r in paper.TABLE4 if (r.dataset, r.neck) == (dataset, neck)
                       and r.backbone == (backbone or "R-50"))
            H, W = paper.TABLE4_INPUT_SIZES[dataset]
            labels.append(f"{backbone + ' ' if backbone else ''}{neck}<br>{dataset} {H}x{W}")
            theirs.append(getattr(row, field))
            ours.append(round(float(value), 2))
        add_paper_and_vtlab_bars(fig, labels, theirs, ours, "Table 4", row=1, col=col, legend=col == 1)
    fig.update_layout(barmode="group", height=420, margin=dict(l=50, r=20, t=50, b=40))
    return fig


def class_colours(num_classes: int) -> list[str]:
    """The colour of each class id in mask figures (background first; cycles after 11 classes)."""
    check_positive(num_classes=num_classes)
    return [CLASS_COLOURS[c % len(CLASS_COLOURS)] for c in range(num_classes)]


def mask_image(mask: torch.Tensor, num_classes: int) -> torch.Tensor:
    """A mask (H, W) of class ids as an RGB image (3, H, W) uint8 in :func:`class_colours`; pixels that are not
    a class (IGNORE_INDEX) are white."""
    palette = torch.tensor([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in class_colours(num_classes)] +
                           [[255, 255, 255]], dtype=torch.uint8)
    ids = mask.long().clone()
    ids[(ids < 0) | (ids >= num_classes)] = num_classes
    return palette[ids].permute(2, 0, 1).contiguous()


def prediction_figure(images: torch.Tensor, masks: torch.Tensor, predictions: Mapping[str, torch.Tensor],
                      class_names: Sequence[str], title: str = "") -> go.Figure:
    """One row per scene: the image, its ground-truth mask and each model's predicted mask (drawn in
    :func:`class_colours`), the subplot titles giving each prediction's pixel accuracy on that scene.

    images (N, 3, H, W) uint8; masks (N, H, W) class ids (IGNORE_INDEX drawn white, not scored); predictions:
    model name → (N, H, W). Traces: row by row, one image per panel (image, ground truth, then the models in
    ``predictions``' order), then one legend entry per class."""
    if images.ndim != 4 or masks.ndim != 3 or images.shape[0] != masks.shape[0] or len(images) == 0:
        raise ValueError(f"expected images (N >= 1, 3, H, W) and masks (N, H, W), got {tuple(images.shape)} and "
                         f"{tuple(masks.shape)}")
    for name, predicted in predictions.items():
        if predicted.shape != masks.shape:
            raise ValueError(f"predictions of {name!r} have shape {tuple(predicted.shape)}, expected "
                             f"{tuple(masks.shape)}")
    K = len(class_names)
    titles = []
    for n in range(len(images)):
        labelled = (masks[n] >= 0) & (masks[n] < K)
        titles += [f"scene {n}", "ground truth"]
        for name, predicted in predictions.items():
            accuracy = ((predicted[n] == masks[n]) & labelled).sum().item() / max(int(labelled.sum()), 1)
            titles.append(f"{name}: {accuracy:.0%} px")
    columns = 2 + len(predictions)
    fig = make_subplots(rows=len(images), cols=columns, subplot_titles=titles, horizontal_spacing=0.02,
                        vertical_spacing=0.3 / len(images))
    for n in range(len(images)):
        panels = [images[n], *(mask_image(m[n], K) for m in (masks, *predictions.values()))]
        for col, panel in enumerate(panels, start=1):
            fig.add_trace(go.Image(source=image_png(panel), hoverinfo="skip"), row=n + 1, col=col)
    for name, colour in zip(class_names, class_colours(K), strict=True):  # a legend of the class colours
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker=dict(color=colour, size=12, symbol="square")), row=1, col=1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title, height=60 + 170 * len(images), width=150 + 170 * columns,
                      margin=dict(l=10, r=10, t=60, b=10))
    return fig


def class_iou_figure(ious: Mapping[str, torch.Tensor | Sequence[float]], class_names: Sequence[str]) -> go.Figure:
    """IoU per class (bars, one trace per model), the mean over the classes present (mIoU) in each trace's
    name. ``ious``: model name → (num_classes,) from :func:`vtlab.train.metrics.class_iou` (NaN: class absent,
    drawn as no bar)."""
    fig = go.Figure()
    for name, values in ious.items():
        values = torch.as_tensor(values, dtype=torch.float64)
        if len(values) != len(class_names):
            raise ValueError(f"{name!r} has {len(values)} IoUs for {len(class_names)} classes")
        y = [None if v != v else round(float(v), 4) for v in values.tolist()]
        fig.add_trace(go.Bar(x=list(class_names), y=y, name=f"{name} (mIoU {float(values.nanmean()):.3f})"))
    fig.update_layout(barmode="group", height=360, yaxis_title="IoU", yaxis_range=[0, 1],
                      margin=dict(l=50, r=20, t=40, b=40), title="IoU per class on the validation scenes")
    return fig


def level_token_figure(image: torch.Tensor, level_maps: Sequence[torch.Tensor],
                       level_names: Sequence[str] | None = None, title: str = "",
                       underlay: torch.Tensor | None = None) -> go.Figure:
    """One row per pyramid level: the image, then each of that level's L token maps (L, h_i, w_i) stretched
    over it (scaled to its own maximum), as :func:`vtlab.viz.tokens.token_grid_figure` draws one level.

    ``underlay`` (3, H, W), e.g. the scene's regions from :func:`region_underlay`, is drawn under the maps
    instead of the image (which then appears in the first column only): flat regions show where a token looks
    relative to them, and keep the figure small. Traces, row by row: the image alone, then an image and a
    heat map per token (1 + 2L per row)."""
    if not level_maps:
        raise ValueError("expected the maps of at least one level")
    if any(m.ndim != 3 for m in level_maps):
        raise ValueError(f"expected maps (L, h, w) per level, got shapes {[tuple(m.shape) for m in level_maps]}")
    if underlay is not None and underlay.shape != image.shape:
        raise ValueError(f"expected an underlay of the image's shape {tuple(image.shape)}, got {tuple(underlay.shape)}")
    under = image if underlay is None else underlay
    L = max(m.shape[0] for m in level_maps)
    names = list(level_names) if level_names is not None else [f"level {i}" for i in range(len(level_maps))]
    titles = []
    for name, maps in zip(names, level_maps, strict=True):
        h, w = maps.shape[-2:]
        titles += [f"{name} ({h}x{w})"] + [f"token {t}" for t in range(maps.shape[0])] + [""] * (L - maps.shape[0])
    fig = make_subplots(rows=len(level_maps), cols=L + 1, subplot_titles=titles, horizontal_spacing=0.01,
                        vertical_spacing=0.04)
    image_uri, under_uri, size = image_png(image), image_png(under), image.shape[-2:]
    for row, maps in enumerate(level_maps, start=1):
        add_overlay(fig, image_uri, size, None, row=row, col=1)
        for t in range(maps.shape[0]):
            add_overlay(fig, under_uri, size, heat_map(maps[t]), row=row, col=t + 2)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title, height=60 + 150 * len(level_maps), width=max(600, 125 * (L + 1)),
                      margin=dict(l=10, r=10, t=60, b=10))
    return fig


def region_underlay(mask: torch.Tensor) -> torch.Tensor:
    """A mask (H, W) as a grey image (3, H, W) uint8: background light, every labelled region darker."""
    grey = torch.where((mask > 0) & (mask != IGNORE_INDEX), 120, 230).to(torch.uint8)
    return grey.expand(3, *mask.shape).contiguous()


def level_token_explorer(images: torch.Tensor, level_maps: Sequence[torch.Tensor],
                         level_names: Sequence[str] | None = None) -> FigureExplorer:
    """A widget: choose a scene, a pyramid level and a head (or their mean) and see that level's token maps
    over the scene. images (N, 3, H, W) uint8; level_maps: per level (N, heads, L, h_i, w_i) from
    :func:`vtlab.probe.level_coefficient_maps`."""
    if not level_maps:
        raise ValueError("expected the maps of at least one level")
    if len(images) == 0:
        raise ValueError("expected at least one scene, got none")
    names = list(level_names) if level_names is not None else [f"level {i}" for i in range(len(level_maps))]
    heads = level_maps[0].shape[1]
    controls = {
        "scene": widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="scene"),
        "level": widgets.Dropdown(options=[(name, i) for i, name in enumerate(names)], value=0,
                                  description="level"),
        "head": widgets.Dropdown(options=[("mean", -1)] + [(str(h), h) for h in range(heads)], value=-1,
                                 description="head"),
    }

    def draw(scene: int, level: int, head: int) -> go.Figure:
        maps = level_maps[level][scene]
        maps = maps.mean(0) if head < 0 else maps[head]
        h, w = maps.shape[-2:]
        return token_grid_figure(images[scene], maps, title=f"scene {scene}, {names[level]} ({h}x{w}), head "
                                                            f"{'mean' if head < 0 else head}")

    return FigureExplorer(draw, controls)
