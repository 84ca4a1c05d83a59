"""Training recipes: the paper's ImageNet recipe (Section 5.1), its segmentation recipes (Section 5.3), and
CPU-friendly ``quick`` / ``quick-segment`` ones.

Learning rates are given at ``batch_size`` (the recipe's reference batch) and scaled linearly with the batch
actually used (Goyal et al.): a run with batch B uses lr · B / batch_size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Recipe:
    """One training recipe. After a linear warm-up from ``warmup_lr`` to ``lr`` over ``warmup_epochs``,
    ``schedule`` "exponential" multiplies the lr by ``decay`` every epoch, "cosine" anneals it to 0, "poly"
    multiplies it by (1 - progress)^``power``, and "step" by ``decay`` at each of ``milestones`` (fractions of
    the run). ``task``: what the recipe trains, "classify" or "segment" (see :func:`vtlab.models.model_task`)."""

    name: str
    description: str
    model: str
    data: str | None  # None: the run must name its data (e.g. an ImageNet folder)
    epochs: int
    batch_size: int
    optimizer: str  # "rmsprop", "adamw" or "sgd"
    lr: float
    warmup_lr: float
    warmup_epochs: float
    schedule: str = "exponential"
    decay: float = 1.0
    weight_decay: float = 0.0
    momentum: float = 0.9
    label_smoothing: float = 0.0
    augment: str = "none"  # "none", "flip" or "autoaugment" (with random-resized crops and flips)
    survival: float = 1.0  # stochastic-depth survival probability of the last residual block (1 = off)
    dropout: float = 0.0
    ema_decay: float | None = None
    sync_bn: bool = False
    task: str = "classify"
    power: float = 0.9
    milestones: tuple[float, ...] = ()

    def scaled_lr(self, batch_size: int) -> tuple[float, float]:
        """(warm-up start, peak) learning rates for a global batch of ``batch_size``."""
        return self.warmup_lr * batch_size / self.batch_size, self.lr * batch_size / self.batch_size

    def replace(self, **changes) -> Recipe:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown recipe fields {sorted(unknown)}; expected some of {sorted(known)}")
        return Recipe(**{**asdict(self), **changes})


# Detectron2's "1x" schedule: 90k iterations, lr x0.1 at 60k and 80k, a 1000-iteration linear warm-up from
# 0.001 x lr. Section 5.3 keeps its steps at batch 32 on COCO-stuff's 118,287 training images.
_COCO_STUFF_ITERATIONS_PER_EPOCH = 118_287 / 32


_IMAGENET = Recipe(
    name="imagenet",
    description="Section 5.1: RMSProp, lr 0.01 warmed to 0.16 over 5 epochs then x0.9875 per epoch at batch "
                "2048, label smoothing, AutoAugment, stochastic depth (survival 0.9), dropout 0.2, EMA 0.99985, "
                "synchronized batch norm, 400 epochs",
    model="vt_resnet18", data=None, epochs=400, batch_size=2048, optimizer="rmsprop", lr=0.16,
    warmup_lr=0.01, warmup_epochs=5, schedule="exponential", decay=0.9875,
    # Not in the paper: weight decay, RMSProp's alpha/eps (see docs/paper-fidelity.md); 1e-5 as in
    # the RMSProp recipes of MnasNet/EfficientNet that this one follows.
    weight_decay=1e-5, momentum=0.9, label_smoothing=0.1, augment="autoaugment", survival=0.9, dropout=0.2,
    ema_decay=0.99985, sync_bn=True,
)

RECIPES: dict[str, Recipe] = {
    "imagenet": _IMAGENET,
    "imagenet-ablation": _IMAGENET.replace(name="imagenet-ablation", epochs=90,
                                           description="Section 5.2: the imagenet recipe for 90 epochs"),
    "quick": Recipe(
        name="quick",
        description="CPU-friendly: the embedded shapes data, AdamW with a 1-epoch warm-up and cosine decay, "
                    "flips, 10 epochs at batch 64",
        model="vt_resnet_mini", data="shapes", epochs=10, batch_size=64, optimizer="adamw", lr=2e-3,
        warmup_lr=2e-4, warmup_epochs=1, schedule="cosine", weight_decay=0.05, augment="flip",
    ),
    "quick-segment": Recipe(
        name="quick-segment",
        description="CPU-friendly segmentation: the embedded shapes masks, AdamW with a half-epoch warm-up and "
                    "cosine decay, paired flips, 8 epochs at batch 16",
        model="vt_fpn_resnet_mini", data="shapes", epochs=8, batch_size=16, optimizer="adamw", lr=2e-3,
        warmup_lr=2e-4, warmup_epochs=0.5, schedule="cosine", weight_decay=0.01, augment="flip", task="segment",
    ),
    "coco-stuff": Recipe(
        name="coco-stuff",
        description="Section 5.3, COCO-stuff: Detectron2's semantic FPN recipe with 1x steps (90k iterations, "
                    "24 epochs at batch 32), SGD lr 0.04 at batch 32, lr x0.1 at 2/3 and 8/9 of the run, "
                    "synchronized batch norm",
        model="vt_fpn_resnet50", data=None, epochs=24, batch_size=32, optimizer="sgd", lr=0.04,
        warmup_lr=0.04 * 0.001, warmup_epochs=1000 / _COCO_STUFF_ITERATIONS_PER_EPOCH, schedule="step", decay=0.1,
        milestones=(60 / 90, 80 / 90), weight_decay=1e-4, momentum=0.9, augment="flip", sync_bn=True,
        task="segment",
    ),
    "lip": Recipe(
        name="lip",
        description="Section 5.3, LIP: SGD lr 0.01 at batch 96, weight decay 5e-4, synchronized batch norm, poly "
                    "decay (power 0.9), 150 epochs",
        model="vt_fpn_resnet50", data=None, epochs=150, batch_size=96, optimizer="sgd", lr=0.01, warmup_lr=0.01,
        warmup_epochs=0, schedule="poly", power=0.9, weight_decay=5e-4, momentum=0.9, augment="flip",
        sync_bn=True, task="segment",
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; expected one of {sorted(RECIPES)}")
    return RECIPES[name]


def lr_factor(recipe: Recipe, epoch_progress: float, epochs: int) -> float:
    """The learning rate at ``epoch_progress`` (epochs done, fractional), as a fraction of the peak lr."""
    start = recipe.warmup_lr / recipe.lr
    if epoch_progress < recipe.warmup_epochs:
        return start + (1 - start) * epoch_progress / recipe.warmup_epochs
    after = epoch_progress - recipe.warmup_epochs
    if recipe.schedule == "exponential":
        return recipe.decay ** int(after)
    if recipe.schedule == "cosine":
        span = max(epochs - recipe.warmup_epochs, 1e-8)
        return 0.5 * (1 + math.cos(math.pi * min(after / span, 1.0)))
    if recipe.schedule == "poly":  # over the whole run, warm-up included, as Detectron2's WarmupPolyLR
        return max(1 - epoch_progress / epochs, 0.0) ** recipe.power
    if recipe.schedule == "step":
        return recipe.decay ** sum(epoch_progress >= m * epochs for m in recipe.milestones)
    raise ValueError(f"unknown schedule {recipe.schedule!r}; expected 'exponential', 'cosine', 'poly' or 'step'")
