"""A ResNet or VT-ResNet drawn from the model itself: its stages in the order data flows, each with the module it
is, the tensor it outputs and the MACs it costs.

:func:`model_layout` builds the registered model, runs one image through it with forward hooks to record each
stage's output shape (a VT block's feature map and tokens), and takes each stage's MACs and parameters from
:func:`vtlab.cost.report.stage_costs` (the paper's counting convention; the VT stage split into its adapter and
blocks). :func:`architecture_figure` draws that layout as one horizontal bar per stage, top to bottom, so that
nothing in the picture is typed by hand: change the model and the diagram follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
import torch
from torch import nn

from .._checks import check_positive
from ..cost import count_macs
from ..cost.report import stage_costs
from ..models import VT_CONFIGS, create_model
from ..vt import Transformer
from .costs import short_name
from .render import significant

KIND_COLOURS = {"convolution": "#ff7f0e", "visual transformer": "#1f77b4", "classifier": "#7f7f7f"}


@dataclass(frozen=True)
class StageBox:
    """One row of the diagram: ``label`` (the stage and what it is made of), ``kind`` (a key of
    :data:`KIND_COLOURS`), the ``output`` shape without the batch axis (a VT block: its feature map; ``tokens``:
    its tokens), and its MACs and parameters."""

    label: str
    kind: str
    output: tuple[int, ...]
    macs: int
    params: int
    tokens: tuple[int, ...] | None = None


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(s) for s in shape)


def _layer_label(stage: str, layer: nn.Sequential) -> str:
    return f"{stage}: {len(layer)} × {type(layer[0]).__name__}"


@torch.no_grad()
def model_layout(name: str, input_size: int = 224) -> list[StageBox]:
    """The stages of registered model ``name`` (a ``resnet*`` or ``vt_resnet*``) on one ``input_size`` image, in the
    order data flows through them, with output shapes recorded by running the model and costs counted by
    :func:`~vtlab.cost.report.stage_costs`. The rows' MACs add up to the model's total."""
    model = create_model(name).eval()
    costs = stage_costs(name, input_size)
    outputs: dict[str, object] = {}
    hooks = []

    def record(key: str, module: nn.Module) -> None:
        hooks.append(module.register_forward_hook(lambda m, args, out, key=key: outputs.__setitem__(key, out)))

    record("stage 1", model.maxpool)
    for stage, layer in (("stage 2", "layer1"), ("stage 3", "layer2"), ("stage 4", "layer3")):
        record(stage, getattr(model, layer))
    vt = getattr(model, "vt", None)
    if vt is None:
        record("stage 5", model.layer4)
    else:
        record("adapter", vt.adapter)
        for i, block in enumerate(vt.blocks):
            record(f"block {i}", block)
    record("head", model.fc)
    try:
        model(torch.zeros(1, 3, input_size, input_size))
    finally:
        for hook in hooks:
            hook.remove()

    def shape(key: str) -> tuple[int, ...]:
        return tuple(outputs[key].shape[1:])

    stem = f"stage 1: stem ({model.conv1.kernel_size[0]}×{model.conv1.kernel_size[1]} conv, max-pool)"
    rows = [StageBox(stem, "convolution", shape("stage 1"), costs.macs["stage 1"], costs.params["stage 1"])]
    for stage, layer in (("stage 2", "layer1"), ("stage 3", "layer2"), ("stage 4", "layer3")):
        rows.append(StageBox(_layer_label(stage, getattr(model, layer)), "convolution", shape(stage),
                             costs.macs[stage], costs.params[stage]))
    if vt is None:
        rows.append(StageBox(_layer_label("stage 5", model.layer4), "convolution", shape("stage 5"),
                             costs.macs["stage 5"], costs.params["stage 5"]))
    else:
        if "adapter" in costs.stage5_macs:
            rows.append(StageBox("stage 5: channel adapter (1×1 conv)", "visual transformer", shape("adapter"),
                                 costs.stage5_macs["adapter"], costs.stage5_params["adapter"]))
        for i, block in enumerate(vt.blocks):
            parts = [p for p in ("tokenizer", "transformer", "projector") if f"block {i} {p}" in costs.stage5_macs]
            tokenizer = type(block.tokenizer).__name__.removesuffix("Tokenizer").lower()
            what = f"{tokenizer} tokenizer, transformer" + (", projector" if block.projector is not None else "")
            X_out, T_out, _ = outputs[f"block {i}"]
            rows.append(StageBox(f"stage 5, VT block {i}: {what}", "visual transformer", tuple(X_out.shape[1:]),
                                 sum(costs.stage5_macs[f"block {i} {p}"] for p in parts),
                                 sum(costs.stage5_params[f"block {i} {p}"] for p in parts), tuple(T_out.shape[1:])))
        # what stage 5 holds besides the parts counted above (the blocks' normalization layers: no MACs)
        rest = costs.macs["stage 5"] - sum(costs.stage5_macs.values())
        if rest:
            raise ValueError(f"{name}: stage 5 has {rest} MACs outside its adapter and blocks")
    rows.append(StageBox(f"head: pool, linear → {model.fc.out_features} classes", "classifier", shape("head"),
                         costs.macs["head"], costs.params["head"]))
    return rows


def architecture_figure(name: str, input_size: int = 224, title: str | None = None) -> go.Figure:
    """:func:`model_layout` as a diagram: one bar per stage, top to bottom in the order data flows, its length the
    stage's MACs, its text the output shape (C×H×W, and L×CT for a VT block's tokens). 530 px wide, so that it
    fits the tutorial site's text column in a 1000-px window; hover for the parameters."""
    rows = model_layout(name, input_size)
    if title is None:
        title = f"{short_name(name)} at {input_size}×{input_size}: each stage's output and MACs"
    fig = go.Figure()
    for kind, colour in KIND_COLOURS.items():
        chosen = [r for r in rows if r.kind == kind]
        if not chosen:
            continue
        text = [f"→ {_shape_text(r.output)}" + (f", tokens {_shape_text(r.tokens)}" if r.tokens else "")
                + f" · {r.macs / 1e6:,.0f} M" for r in chosen]
        fig.add_trace(go.Bar(
            y=[r.label for r in chosen], x=[significant(r.macs / 1e6) for r in chosen], orientation="h", name=kind,
            marker_color=colour, text=text, textposition="outside", cliponaxis=False, textfont_size=10,
            customdata=[[significant(r.params / 1e6)] for r in chosen],
            hovertemplate="%{y}<br>%{x:,.1f} M MACs, %{customdata[0]:.3g} M parameters<extra></extra>"))
    largest = max(r.macs for r in rows) / 1e6
    fig.update_yaxes(categoryorder="array", categoryarray=[r.label for r in rows][::-1], tickfont_size=10,
                     automargin=True)
    fig.update_xaxes(title="MACs (M)", range=[0, significant(largest * 1.9)])
    fig.update_layout(title=dict(text=title, font_size=13), width=530, height=110 + 34 * len(rows),
                      barmode="overlay", legend=dict(orientation="h", x=0, y=-0.18 - 2.0 / len(rows)),
                      margin=dict(l=10, r=10, t=50, b=90))
    return fig


@dataclass(frozen=True)
class TokenComparison:
    """One quantity for VT's tokens and for patch tokens (ViT's kind), both counted by vtlab."""

    quantity: str
    vt: int
    patches: int


def vt_vs_patch_tokens(image_size: int = 224, patch: int = 16, width: int = 768,
                       heads: int = 12) -> list[TokenComparison]:
    """VT-ResNet-18's tokens against patch tokens of a ViT-style model on the same image, counted by vtlab.

    VT's side: the first block of VT-ResNet-18's stage 5 (Table 5: L = 8 tokens of CT = 1024 channels, pooled
    from the 14×14 map that four convolution stages made), its tokenizer and transformer as
    :func:`~vtlab.cost.report.stage_costs` counts them. The patch side, with ViT-B/16's sizes by default: one
    token per ``patch``×``patch`` patch of the image ((224/16)² = 196), made by a strided convolution of the
    pixels to ``width`` channels, and equation (3) over those tokens (vtlab's :class:`~vtlab.vt.Transformer`
    with ``heads`` heads: the attention and its weights, not ViT's MLP or norms, which would add more)."""
    check_positive(image_size=image_size, patch=patch, width=width, heads=heads)
    if patch > image_size:
        raise ValueError(f"expected a patch no larger than the image ({image_size}), got patch={patch}")
    config = VT_CONFIGS["vt_resnet18"]
    costs = stage_costs("vt_resnet18", image_size)
    n = (image_size // patch) ** 2
    embed = count_macs(nn.Conv2d(3, width, patch, stride=patch, bias=False), image_size)
    layer = count_macs(Transformer(width, heads=heads), inputs=torch.zeros(1, n, width))
    return [
        TokenComparison("tokens per image", config.L, n),
        TokenComparison("channels per token", config.CT, width),
        TokenComparison("attention entries per layer and head", config.L**2, n**2),
        TokenComparison("MACs to make the tokens", costs.stage5_macs["block 0 tokenizer"], embed),
        TokenComparison("MACs of one equation-(3) layer", costs.stage5_macs["block 0 transformer"], layer),
    ]


def vt_vs_patch_figure(rows: Sequence[TokenComparison] | None = None) -> go.Figure:
    """:func:`vt_vs_patch_tokens` as grouped bars on a log axis (the quantities span six orders of magnitude)."""
    rows = list(rows) if rows is not None else vt_vs_patch_tokens()
    fig = go.Figure()
    for name, colour, values in (("VT: VT-ResNet-18, stage 5", KIND_COLOURS["visual transformer"],
                                  [r.vt for r in rows]),
                                 ("patch tokens (ViT-B/16 sizes)", "#2ca02c", [r.patches for r in rows])):
        fig.add_trace(go.Bar(x=[r.quantity for r in rows], y=values, name=name, marker_color=colour,
                             text=[f"{v:,}" for v in values], textposition="outside", cliponaxis=False,
                             textfont_size=10, hovertemplate="%{x}: %{y:,}<extra>" + name + "</extra>"))
    fig.update_yaxes(type="log", title="count (log scale)", range=[0, 10.5])
    fig.update_xaxes(tickfont_size=10)
    fig.update_layout(title=dict(text="VT's tokens and patch tokens at 224×224, counted by vtlab", font_size=13),
                      barmode="group", height=440, legend=dict(orientation="h", x=0, y=1.1),
                      margin=dict(l=60, r=10, t=80, b=110))
    return fig
