"""The paper's cost tables beside vtlab's own counts: what ``vtlab cost`` prints.

Each ``*_comparison`` function returns a :class:`Comparison` (a titled table of rows), computed by building
the models and counting them; nothing here is copied from the paper except the "paper" columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

import torch
from torch import nn

from ..models import create_model
from ..models.fpn import BACKBONES, ResNetFeatures
from ..vt import NonLocalBlock, Transformer
from . import paper
from .counting import count_macs, count_params, macs_by_module

DEPTHS = ("18", "34", "50", "101")


@dataclass(frozen=True)
class ModelCost:
    """MACs and parameters of a whole model and of its stage 5 (``layer4``, or the VT stage ``vt``)."""

    macs: int
    params: int
    stage5_macs: int
    stage5_params: int


@dataclass
class Comparison:
    """A titled table: ``columns`` names, ``rows`` of values (numbers already rounded for display)."""

    title: str
    columns: list[str]
    rows: list[list]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "notes": self.notes}

    def format(self) -> str:
        cells = [self.columns] + [["" if v is None else str(v) for v in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = [self.title, "  ".join(c.rjust(w) for c, w in zip(self.columns, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells[1:]]
        return "\n".join(lines + [f"  {note}" for note in self.notes])


def relative_error(ours: float, theirs: float) -> float:
    """(ours - theirs) / theirs, in percent."""
    return 100.0 * (ours - theirs) / theirs


# Table 5's stages, by the modules that make them up in vtlab's ResNet and VTResNet (stage 5: one or the other).
STAGES: dict[str, tuple[str, ...]] = {
    "stage 1": ("conv1",),
    "stage 2": ("layer1",),
    "stage 3": ("layer2",),
    "stage 4": ("layer3",),
    "stage 5": ("layer4", "vt"),
    "head": ("fc",),
}


@dataclass(frozen=True)
class StageCosts:
    """MACs and parameters of one model per stage (keys of :data:`STAGES`, plus "total"), and per part of
    stage 5: its residual blocks (``"layer4.0"``, …) for a ResNet; the channel adapter and each VT block's
    tokenizer, transformer and projector (``"block 0 tokenizer"``, …) for a VT-ResNet."""

    model: str
    input_size: int
    macs: dict[str, int]
    params: dict[str, int]
    stage5_macs: dict[str, int]
    stage5_params: dict[str, int]

    def metric(self, name: str) -> dict[str, int]:
        """``macs`` or ``params`` by name."""
        if name not in ("macs", "params"):
            raise ValueError(f"unknown metric {name!r}; expected one of ['macs', 'params']")
        return self.macs if name == "macs" else self.params


def _stage5_parts(model: nn.Module) -> dict[str, str]:
    """Display name → qualified module name of each part of stage 5."""
    if not hasattr(model, "vt"):
        return {f"layer4.{i}": f"layer4.{i}" for i in range(len(model.layer4))}
    parts = {} if isinstance(model.vt.adapter, nn.Identity) else {"adapter": "vt.adapter"}
    for i, block in enumerate(model.vt.blocks):
        for part in ("tokenizer", "transformer", "projector"):
            if getattr(block, part) is not None:
                parts[f"block {i} {part}"] = f"vt.blocks.{i}.{part}"
    return parts


@cache
def _stage_costs(name: str, input_size: int, options: tuple[tuple[str, bool], ...]) -> StageCosts:
    model = create_model(name, **dict(options))
    by_module = macs_by_module(model, input_size)
    macs, params = {}, {}
    for stage, modules in STAGES.items():
        present = [m for m in modules if hasattr(model, m)]
        macs[stage] = sum(by_module[m] for m in present)
        params[stage] = sum(count_params(model.get_submodule(m)) for m in present)
    macs["total"], params["total"] = by_module[""], count_params(model)
    parts = _stage5_parts(model)
    return StageCosts(name, input_size, macs, params, {k: by_module[v] for k, v in parts.items()},
                      {k: count_params(model.get_submodule(v)) for k, v in parts.items()})


def stage_costs(name: str, input_size: int = 224, **options: bool) -> StageCosts:
    """Count a registered ResNet or VT-ResNet per stage at ``input_size`` (cached; VT options such as
    ``dynamic=False`` build an ablated model). MACs and parameters in the paper's convention
    (:mod:`vtlab.cost.counting`); the stages add up to the totals."""
    return _stage_costs(name, input_size, tuple(sorted(options.items())))


def model_cost(name: str, **options: bool) -> ModelCost:
    """Cost of a registered ImageNet model at 224×224, with VT options such as ``dynamic=False``: the whole
    model and stage 5 of its (cached) :func:`stage_costs`."""
    costs = stage_costs(name, 224, **options)
    return ModelCost(costs.macs["total"], costs.params["total"], costs.macs["stage 5"], costs.params["stage 5"])


def _pct(x: float) -> str:
    return f"{x:+.1f}%"


def table1_comparison() -> Comparison:
    rows = []
    for depth in DEPTHS:
        for name in (f"resnet{depth}", f"vt_resnet{depth}"):
            ref, ours = paper.table1(name), model_cost(name)
            macs, params = ours.macs / 1e9, ours.params / 1e6
            rows.append([name, ref.macs_g, round(macs, 3), _pct(relative_error(macs, ref.macs_g)),
                         ref.params_m, round(params, 2), _pct(relative_error(params, ref.params_m))])
    return Comparison("Table 1: MACs (G) and parameters (M) at 224x224",
                      ["model", "paper MACs", "vtlab MACs", "err", "paper params", "vtlab params", "err"], rows,
                      ["targets: VT-ResNet MACs within 5%, params within 15%"])


TABLE2_KEYS = {"macs_total": "MACs, total", "macs_stage5": "MACs, stage 5", "params_total": "params, total",
               "params_stage5": "params, stage 5"}


def table2_ratios(resnet: ModelCost, vt: ModelCost) -> dict[str, float]:
    """Table 2's four baseline / VT ratios (keys of :data:`TABLE2_KEYS`) from two costs."""
    return {"macs_total": resnet.macs / vt.macs, "macs_stage5": resnet.stage5_macs / vt.stage5_macs,
            "params_total": resnet.params / vt.params, "params_stage5": resnet.stage5_params / vt.stage5_params}


def table2_comparison() -> Comparison:
    rows = []
    for depth in DEPTHS:
        ours = table2_ratios(model_cost(f"resnet{depth}"), model_cost(f"vt_resnet{depth}"))
        ref = paper.TABLE2[f"resnet{depth}"]
        rows += [[f"R-{depth}", label, ref[key], round(ours[key], 2), _pct(relative_error(ours[key], ref[key]))]
                 for key, label in TABLE2_KEYS.items()]
    return Comparison("Table 2: baseline / VT ratios (x), whole model and stage 5",
                      ["model", "ratio of", "paper", "vtlab", "err"], rows,
                      ["stage 5: ResNet layer4 vs vtlab's VT stage (channel adapter + VT blocks), heads excluded"])


def cost_deltas(model: str, options: Mapping[str, bool]) -> dict[str, float]:
    """vtlab's MACs and parameters of ``model`` with ``options`` minus the base model's, in millions, at
    224×224 (each model counted once, then cached)."""
    base, ablated = model_cost(model), model_cost(model, **options)
    return {"macs": (ablated.macs - base.macs) / 1e6, "params": (ablated.params - base.params) / 1e6}


def paper_deltas(model: str, label: str) -> dict[str, float] | None:
    """Table 3's MACs (M), parameters (M) and top-1 (points) of variant ``label`` minus ``model``'s base row;
    None where Table 3 has no such row."""
    rows = {row.ablation: row for row in paper.TABLE3 if row.model == model}
    if label not in rows or "base" not in rows:
        return None
    row, base = rows[label], rows["base"]
    return {"macs": round((row.macs_g - base.macs_g) * 1e3, 3), "params": round(row.params_m - base.params_m, 4),
            "top1": round(row.top1 - base.top1, 2)}


def table3_comparison() -> Comparison:
    rows = []
    for row in (r for r in paper.TABLE3 if r.ablation != "base"):
        theirs, ours = paper_deltas(row.model, row.ablation), cost_deltas(row.model, paper.ABLATIONS[row.ablation])
        d_macs, d_params = (theirs["macs"], ours["macs"]), (theirs["params"], ours["params"])
        same_sign = all((a > 0) == (b > 0) for a, b in (d_macs, d_params))
        rows.append([row.model, row.ablation, round(d_macs[0]), round(d_macs[1], 1),
                     _pct(relative_error(d_macs[1], d_macs[0])), round(d_params[0], 2), round(d_params[1], 3),
                     _pct(relative_error(d_params[1], d_params[0])), "yes" if same_sign else "NO"])
    return Comparison("Table 3: ablation deltas against each model's base",
                      ["model", "ablation", "paper dMACs (M)", "vtlab", "err", "paper dParams (M)", "vtlab", "err",
                       "same sign"], rows,
                      ["-TF: transformer -> point-wise 1D conv; -PE: no position encoding; -DT: all tokenizers static"])


def section32_comparison() -> Comparison:
    s = paper.SECTION_3_2
    C, L, H, W = int(s["C"]), int(s["L"]), int(s["H"]), int(s["W"])
    transformer = count_macs(Transformer(C, heads=1, kqv_groups=1), inputs=torch.zeros(1, L, C)) / 1e6
    nonlocal_ = count_macs(NonLocalBlock(C), inputs=torch.zeros(1, C, H, W)) / 1e6
    rows = [[f"transformer, L={L} tokens", s["transformer_macs_m"], round(transformer, 2),
             _pct(relative_error(transformer, s["transformer_macs_m"]))],
            [f"non-local, {H}x{W} pixels", s["nonlocal_macs_m"], round(nonlocal_, 2),
             _pct(relative_error(nonlocal_, s["nonlocal_macs_m"]))],
            ["ratio", round(s["nonlocal_macs_m"] / s["transformer_macs_m"], 2), round(nonlocal_ / transformer, 2), ""]]
    return Comparison(f"Section 3.2: equation (3) on tokens vs on pixels (C=CT={C}), MACs (M)",
                      ["operator", "paper", "vtlab", "err"], rows,
                      ["formula: 3*C^2*n + 1.5*n^2*C for n tokens or pixels; target within 3%"])


@dataclass(frozen=True)
class SegmentationCost:
    """MACs of a segmentation model at one input size: the whole model and its neck ``.fpn`` alone."""

    macs: int
    fpn_macs: int


@cache
def _segmentation_costs(dataset: str) -> dict[tuple[str, str], SegmentationCost]:
    """Costs of the four Table 4 models at the dataset's input size, keyed by (backbone, neck).

    ResNet-50 and ResNet-101 give C2–C5 of identical shapes, so the neck and head cost the same on both: the
    ResNet-101 models are counted as their own backbone plus the ResNet-50 model's neck and head (a test checks
    that this equals counting them whole), which saves tracing two large models per input size.
    """
    size = paper.TABLE4_INPUT_SIZES[dataset]
    num_classes = paper.TABLE4_CLASSES[dataset]
    costs = {}
    backbone101 = macs_by_module(ResNetFeatures(*BACKBONES["101"]), size)[""]
    for neck in ("FPN", "VT-FPN"):
        model = create_model(f"{'vt_' if neck == 'VT-FPN' else ''}fpn_resnet50", num_classes=num_classes)
        by_module = macs_by_module(model, size)
        costs["R-50", neck] = SegmentationCost(by_module[""], by_module["fpn"])
        costs["R-101", neck] = SegmentationCost(by_module[""] - by_module["backbone"] + backbone101, by_module["fpn"])
    return costs


def table4_comparison() -> Comparison:
    rows = []
    for dataset, (H, W) in paper.TABLE4_INPUT_SIZES.items():
        costs = _segmentation_costs(dataset)
        for backbone in ("R-50", "R-101"):
            ours = {}
            for neck in ("FPN", "VT-FPN"):
                ref = next(r for r in paper.TABLE4 if (r.backbone, r.neck, r.dataset) == (backbone, neck, dataset))
                cost = costs[backbone, neck]
                fpn, total = cost.fpn_macs / 1e9, cost.macs / 1e9
                ours[neck] = (ref, fpn, total)
                rows.append([backbone, f"{dataset} {H}x{W}", neck, ref.fpn_macs_g, round(fpn, 2),
                             _pct(relative_error(fpn, ref.fpn_macs_g)), ref.total_macs_g, round(total, 1),
                             _pct(relative_error(total, ref.total_macs_g))])
            (ref_f, fpn_f, tot_f), (ref_v, fpn_v, tot_v) = ours["FPN"], ours["VT-FPN"]
            rows.append([backbone, f"{dataset} {H}x{W}", "ratio", round(ref_f.fpn_macs_g / ref_v.fpn_macs_g, 2),
                         round(fpn_f / fpn_v, 2), "", round(ref_f.total_macs_g / ref_v.total_macs_g, 2),
                         round(tot_f / tot_v, 2), ""])
    return Comparison("Table 4: segmentation MACs (G), the neck (.fpn) and the whole model",
                      ["backbone", "dataset, input", "neck", "paper FPN MACs", "vtlab", "err", "paper total",
                       "vtlab", "err"], rows,
                      ["FPN MACs: the neck alone (FPN: lateral 1x1 + top-down + 3x3 convs; VT-FPN: lateral 1x1 + "
                       "tokenizers + transformer + projectors); targets: within 15%, ratio at least 5x"])


COMPARISONS = {"1": table1_comparison, "2": table2_comparison, "3": table3_comparison, "3.2": section32_comparison,
               "4": table4_comparison}


def cost_report(tables: list[str] | None = None) -> list[Comparison]:
    """The comparisons named in ``tables`` (keys of :data:`COMPARISONS`), all by default."""
    tables = list(COMPARISONS) if tables is None else tables
    unknown = [t for t in tables if t not in COMPARISONS]
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; expected some of {list(COMPARISONS)}")
    return [COMPARISONS[t]() for t in tables]
