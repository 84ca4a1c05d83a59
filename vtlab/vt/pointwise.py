"""Point-wise (1×1) convolutions: the paper's learnable weights W ∈ R^{C_in×C_out} applied to every token
(1D) or every pixel (2D), optionally grouped (Section 4: "we use group convolutions to reduce the MACs")."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .._checks import check_divisible


class TokenConv(nn.Conv1d):
    """Point-wise 1D convolution over tokens laid out as the paper writes them, T ∈ R^{L×C_in} → R^{L×C_out}.

    Shapes: (N, L, C_in) → (N, L, C_out). With ``groups=1`` this is ``T @ W`` for W ∈ R^{C_in×C_out}
    (see :meth:`matrix`), the form every equation in the paper uses.
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int = 1, bias: bool = False):
        check_divisible("in_channels", in_channels, "groups", groups)
        check_divisible("out_channels", out_channels, "groups", groups)
        super().__init__(in_channels, out_channels, kernel_size=1, groups=groups, bias=bias)

    def forward(self, T: torch.Tensor) -> torch.Tensor:
        return rearrange(super().forward(rearrange(T, "n l c -> n c l")), "n c l -> n l c")

    def matrix(self) -> torch.Tensor:
        """The weight as the paper's matrix W ∈ R^{C_in×C_out} (block-diagonal when grouped)."""
        return _as_matrix(self.weight, self.groups)


class PixelConv(nn.Conv2d):
    """Point-wise 2D convolution over a feature map X ∈ R^{H×W×C_in}: (N, C_in, H, W) → (N, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, groups: int = 1, bias: bool = False):
        check_divisible("in_channels", in_channels, "groups", groups)
        check_divisible("out_channels", out_channels, "groups", groups)
        super().__init__(in_channels, out_channels, kernel_size=1, groups=groups, bias=bias)

    def matrix(self) -> torch.Tensor:
        """The weight as the paper's matrix W ∈ R^{C_in×C_out} (block-diagonal when grouped)."""
        return _as_matrix(self.weight, self.groups)


def _as_matrix(weight: torch.Tensor, groups: int) -> torch.Tensor:
    blocks = rearrange(weight.flatten(1), "(g o) i -> g i o", g=groups)
    return torch.block_diag(*blocks)
