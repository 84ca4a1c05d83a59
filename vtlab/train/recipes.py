"""Training recipes: the paper's ImageNet recipe (Section 5.1) and a CPU-friendly ``quick`` one.

Learning rates are given at ``batch_size`` (the recipe's reference batch) and scaled linearly with the batch
actually used (Goyal et al.): a run with batch B uses lr · B / batch_size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Recipe:
    """One training recipe. ``schedule``: "exponential" multiplies the lr by ``decay`` every epoch after a
    linear warm-up from ``warmup_lr`` to ``lr`` over ``warmup_epochs``; "cosine" anneals it to 0 instead."""

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

    def scaled_lr(self, batch_size: int) -> tuple[float, float]:
        """(warm-up start, peak) learning rates for a global batch of ``batch_size``."""
        return self.warmup_lr * batch_size / self.batch_size, self.lr * batch_size / self.batch_size

    def replace(self, **changes) -> Recipe:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown recipe fields {sorted(unknown)}; expected some of {sorted(known)}")
        return Recipe(**{**asdict(self), **changes})


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
        import math

        span = max(epochs - recipe.warmup_epochs, 1e-8)
        return 0.5 * (1 + math.cos(math.pi * min(after / span, 1.0)))
    raise ValueError(f"unknown schedule {recipe.schedule!r}; expected 'exponential' or 'cosine'")
