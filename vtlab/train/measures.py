"""Per-epoch measures a caller attaches to a training run: what the engine records beside its metrics.

The engine knows no dataset and no probe. A measure is an object with a ``name`` (its rows go to
``OUT/NAME.csv`` and into the checkpoint, so that a resumed run keeps them), ``fields`` (the CSV columns, the
first being ``epoch``), ``start(model, device)`` (called once before the first epoch of a session; returns
False where the measure does not apply to this model) and ``measure(model, epoch)`` (the rows of one epoch).

:func:`standard_measures` is what ``vtlab train`` attaches when no measures are given: :class:`TokenMeasure`
for a VT-ResNet classifier trained on the ``shapes`` scenes, whose held-out masks say where the objects are, and
:class:`FusionMeasure` for a VT-FPN trained to segment them.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn


class EpochMeasure(Protocol):
    """What the engine calls after every epoch (see the module docstring)."""

    name: str
    fields: list[str]

    def start(self, model: nn.Module, device: torch.device) -> bool: ...

    def measure(self, model: nn.Module, epoch: int) -> list[dict]: ...


class TokenMeasure:
    """``tokens.csv``: per epoch and block, how different a VT-ResNet's token maps are and how much they look at
    the shapes (:func:`vtlab.probe.token_report` on 200 held-out scenes), so that a collapse of the tokens
    shows as it happens. ``task`` is the scenes' labelling ("largest" or "pair"); ``image_size`` the size the
    model sees (None: the scenes' 64)."""

    name = "tokens"
    fields = ["epoch", "block", "cosine", "effective_tokens", "peak", "lift", "on_objects"]

    def __init__(self, image_size: int | None = None, task: str = "largest"):
        self.image_size, self.task = image_size, task
        self.probe: tuple[torch.Tensor, torch.Tensor, int] | None = None

    def start(self, model: nn.Module, device: torch.device) -> bool:
        if not hasattr(model, "forward_features"):
            return False
        from ..probe import shapes_probe_batch

        images, masks, regions = shapes_probe_batch(self.image_size, task=self.task)
        self.probe = images.to(device), masks.to(device), regions
        return True

    def measure(self, model: nn.Module, epoch: int) -> list[dict]:
        from ..probe import token_report

        return [{"epoch": epoch, "block": block, **{k: round(v, 6) for k, v in measured.items()}}
                for block, measured in enumerate(token_report(model, *self.probe))]


class FusionMeasure:
    """``fusion.csv``: per epoch and pyramid level of a VT-FPN model, what the token path adds to the lateral map
    over that map's norm (:func:`vtlab.probe.fusion_ratios` on 32 held-out ``shapes`` scenes), so that a term
    that drowns the lateral detail, or one that never opens, shows as it happens."""

    name = "fusion"
    fields = ["epoch", "level", "ratio"]

    def __init__(self, image_size: int | None = None):
        self.image_size = image_size
        self.images: torch.Tensor | None = None

    def start(self, model: nn.Module, device: torch.device) -> bool:
        if not hasattr(getattr(model, "fpn", None), "laterals"):
            return False
        from ..probe import shapes_probe_batch

        images, _, _ = shapes_probe_batch(self.image_size, length=32)  # the first 32 scenes, rendered alone
        self.images = images.to(device)
        return True

    def measure(self, model: nn.Module, epoch: int) -> list[dict]:
        from ..probe import fusion_ratios

        return [{"epoch": epoch, "level": level, "ratio": round(ratio, 6)}
                for level, ratio in enumerate(fusion_ratios(model, self.images))]


# The --data values whose scenes TokenMeasure can probe, with their labelling.
TOKEN_DATA = {"shapes": "largest", "shapes-pairs": "pair", "shapes-same": "same", "shapes-same-colour": "same-colour"}


def standard_measures(task: str, data: str, image_size: int | None) -> list[EpochMeasure]:
    """The measures ``vtlab train`` attaches to a run of ``task`` on ``data`` (see the module docstring)."""
    if task == "classify" and data in TOKEN_DATA:
        return [TokenMeasure(image_size, TOKEN_DATA[data])]
    if task == "segment" and data == "shapes":
        return [FusionMeasure(image_size)]
    return []
