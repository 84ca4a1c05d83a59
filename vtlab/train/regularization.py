"""Stochastic depth (Huang et al. 2016, the paper's [37]) on a built model, without changing its modules.

Each residual branch's last operation gets a forward hook that applies torchvision's ``stochastic_depth``
to its output in training: the last BatchNorm of every ResNet block, and the F of every transformer (the
branch added to T_in in equation (3)). Survival falls linearly with depth, from 1 at the first branch to
``survival`` at the last. State-dict keys are untouched, so checkpoints and torchvision weights still load.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.ops import stochastic_depth

from ..vt.transformer import Transformer


def residual_branch_ends(model: nn.Module) -> list[nn.Module]:
    """The last module of every residual branch, in forward order."""
    ends = []
    for module in model.modules():
        if isinstance(module, BasicBlock):
            ends.append(module.bn2)
        elif isinstance(module, Bottleneck):
            ends.append(module.bn3)
        elif isinstance(module, Transformer):
            ends.append(module.F)
    return ends


def add_stochastic_depth(model: nn.Module, survival: float) -> int:
    """Drop residual branches at random in training; returns how many branches were hooked."""
    if not 0 < survival <= 1:
        raise ValueError(f"expected a survival probability in (0, 1], got {survival}")
    ends = residual_branch_ends(model)
    if survival == 1 or not ends:
        return 0
    for i, end in enumerate(ends):
        p = (1 - survival) * (i + 1) / len(ends)  # drop probability, growing linearly with depth

        def hook(module, inputs, output, p=p):
            return stochastic_depth(output, p, mode="row", training=module.training)

        end.register_forward_hook(hook)
    return len(ends)
