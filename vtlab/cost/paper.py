"""The paper's reported figures (arXiv 2006.03677v3), as data: Tables 1–5 and Section 3.2.

MACs are in G (10^9) unless a name says ``_m`` (10^6); parameters in M. ``None`` where the paper prints "-".
Model keys use vtlab's registry names where vtlab builds the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..vt.block import ABLATION_SWITCHES


@dataclass(frozen=True)
class ImageNetRow:
    """One row of Table 1 (ImageNet top-1, MACs, parameters)."""

    model: str
    top1: float
    macs_g: float | None
    params_m: float | None


# Table 1. The ∆ columns are differences to the row's baseline; "*" rows use [9]'s lower baseline MACs.
TABLE1: tuple[ImageNetRow, ...] = (
    ImageNetRow("resnet18", 69.76, 1.814, 11.67),
    ImageNetRow("R-18 + SE", 70.59, 1.814, 11.78),
    ImageNetRow("R-18 + CBAM", 70.73, 1.815, 11.78),
    ImageNetRow("LR-R-18", 74.6, 2.5, 14.4),
    ImageNetRow("vt_resnet18", 74.29, 1.587, 12.76),
    ImageNetRow("resnet34", 73.32, 3.664, 21.78),
    ImageNetRow("R-34 + SE", 73.87, 3.664, 21.96),
    ImageNetRow("R-34 + CBAM", 74.01, 3.664, 21.96),
    ImageNetRow("AA-R-34", 74.7, 3.55, 20.7),
    ImageNetRow("vt_resnet34", 77.46, 3.151, 18.02),
    ImageNetRow("resnet50", 76.0, 4.089, 25.5),
    ImageNetRow("R-50 + SE", 76.86, 3.860, 28.1),
    ImageNetRow("R-50 + CBAM", 77.34, 3.864, 28.1),
    ImageNetRow("LR-R-50", 77.3, 4.3, 23.3),
    ImageNetRow("Stand-Alone", 77.6, 3.6, 18.0),
    ImageNetRow("AA-R-50", 77.7, 4.1, 25.6),
    ImageNetRow("A2-R-50", 77.0, None, None),
    ImageNetRow("SAN19", 78.2, 3.3, 20.5),
    ImageNetRow("vt_resnet50", 78.88, 3.412, 21.4),
    ImageNetRow("resnet101", 77.39, 7.802, 44.44),
    ImageNetRow("R-101 + SE", 77.65, 7.575, 49.33),
    ImageNetRow("R-101 + CBAM", 78.49, 7.581, 49.33),
    ImageNetRow("LR-R-101", 78.5, 7.79, 42.0),
    ImageNetRow("AA-R-101", 78.7, 8.05, 45.4),
    ImageNetRow("vt_resnet101", 81.09, 7.127, 40.33),
)


def table1(model: str) -> ImageNetRow:
    """The Table 1 row of a model by name (``"resnet18"``, ``"vt_resnet50"``, ``"AA-R-34"``, ...)."""
    for row in TABLE1:
        if row.model == model:
            return row
    raise ValueError(f"Table 1 has no row {model!r}; expected one of {[r.model for r in TABLE1]}")


# Table 2: baseline / VT ratios, for the whole model and for stage 5 alone.
TABLE2: dict[str, dict[str, float]] = {
    "resnet18": {"macs_total": 1.14, "macs_stage5": 2.4, "params_total": 0.91, "params_stage5": 0.9},
    "resnet34": {"macs_total": 1.16, "macs_stage5": 5.0, "params_total": 1.21, "params_stage5": 1.5},
    "resnet50": {"macs_total": 1.20, "macs_stage5": 6.1, "params_total": 1.19, "params_stage5": 1.26},
    "resnet101": {"macs_total": 1.09, "macs_stage5": 6.9, "params_total": 1.19, "params_stage5": 1.26},
}


@dataclass(frozen=True)
class AblationRow:
    """One row of Table 3 (90-epoch ImageNet runs)."""

    model: str
    ablation: str  # "base", "-TF", "-PE", "-DT"
    top1: float
    macs_g: float
    params_m: float


TABLE3: tuple[AblationRow, ...] = (
    AblationRow("vt_resnet18", "base", 71.45, 1.587, 12.76),
    AblationRow("vt_resnet18", "-TF", 69.49, 1.519, 8.57),
    AblationRow("vt_resnet18", "-PE", 71.43, 1.586, 12.69),
    AblationRow("vt_resnet18", "-DT", 70.26, 1.608, 12.22),
    AblationRow("vt_resnet34", "base", 74.65, 3.217, 18.02),
    AblationRow("vt_resnet34", "-TF", 74.33, 3.204, 17.24),
    AblationRow("vt_resnet34", "-PE", 74.50, 3.216, 17.90),
    AblationRow("vt_resnet34", "-DT", 73.40, 3.246, 16.92),
)

# The VT options of each Table 3 ablation, by the paper's label: "-TF" → {"transformer": False}, ...
ABLATIONS: dict[str, dict[str, bool]] = {f"-{name}": {switch: False} for name, switch in ABLATION_SWITCHES.items()}


@dataclass(frozen=True)
class SegmentationRow:
    """One row of Table 4 (semantic segmentation)."""

    backbone: str
    neck: str  # "FPN" or "VT-FPN"
    dataset: str  # "COCO-stuff" (MACs at 800×1216) or "LIP" (473×473)
    miou: float
    total_macs_g: float
    fpn_macs_g: float


TABLE4: tuple[SegmentationRow, ...] = (
    SegmentationRow("R-50", "FPN", "COCO-stuff", 40.78, 159, 55.1),
    SegmentationRow("R-50", "VT-FPN", "COCO-stuff", 41.00, 113, 8.5),
    SegmentationRow("R-50", "FPN", "LIP", 47.04, 37.1, 12.8),
    SegmentationRow("R-50", "VT-FPN", "LIP", 47.39, 26.4, 2.0),
    SegmentationRow("R-101", "FPN", "COCO-stuff", 41.51, 231, 55.1),
    SegmentationRow("R-101", "VT-FPN", "COCO-stuff", 41.50, 185, 8.5),
    SegmentationRow("R-101", "FPN", "LIP", 47.35, 54.4, 12.8),
    SegmentationRow("R-101", "VT-FPN", "LIP", 47.58, 43.6, 2.0),
)
TABLE4_INPUT_SIZES: dict[str, tuple[int, int]] = {"COCO-stuff": (800, 1216), "LIP": (473, 473)}
# Classes predicted on each dataset (Section 5.3: 91 stuff classes; LIP: background + 19 parts).
TABLE4_CLASSES: dict[str, int] = {"COCO-stuff": 91, "LIP": 20}

# Table 5: stage 5 of each VT-ResNet, at 14×14 (stages 1–4 are the ResNet's own).
TABLE5: dict[str, dict[str, int]] = {
    "vt_resnet18": {"C": 512, "L": 8, "CT": 1024, "depth": 2},
    "vt_resnet34": {"C": 512, "L": 8, "CT": 1024, "depth": 3},
    "vt_resnet50": {"C": 1024, "L": 8, "CT": 1024, "depth": 3},
    "vt_resnet101": {"C": 1024, "L": 8, "CT": 1024, "depth": 3},
}

# Section 3.2: equation (3) on L = 8 tokens vs on the HW = 7×7 pixels of a C = 512 map (non-local).
SECTION_3_2: dict[str, float] = {"H": 7, "W": 7, "C": 512, "L": 8, "transformer_macs_m": 6.3, "nonlocal_macs_m": 40.3}
