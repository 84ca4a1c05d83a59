"""Point-wise (1×1) convolutions: the paper's learnable weights W ∈ R^{C_in×C_out} applied to every token
(1D) or every pixel (2D), optionally grouped (Section 4: "we use group convolutions to reduce the MACs")."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from torch import nn

from .._checks import check_divisible


class TokenConv(nn.Module):
    """Point-wise 1D convolution over tokens laid out as the paper writes them, T ∈ R^{L×C_in} → R^{L×C_out}.

    Shapes: (N, L, C_in) → (N, L, C_out). With ``groups=1`` this is ``T @ W`` for W ∈ R^{C_in×C_out}
    (see :meth:`matrix`), the form every equation in the paper uses. Computed as a matrix product (a
    convolution kernel over a handful of tokens is needlessly slow); the weight is stored like a Conv1d's,
    (C_out, C_in / groups), and initialised the same way.
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int = 1, bias: bool = False):
        check_divisible("in_channels", in_channels, "groups", groups)
        check_divisible("out_channels", out_channels, "groups", groups)
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        bound = 1 / math.sqrt(in_channels // groups)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, T: torch.Tensor) -> torch.Tensor:
        if self.groups == 1:
            return F.linear(T, self.weight, self.bias)
        per_group = einsum(rearrange(T, "n l (g i) -> n l g i", g=self.groups),
                           rearrange(self.weight, "(g o) i -> g o i", g=self.groups), "n l g i, g o i -> n l g o")
        out = rearrange(per_group, "n l g o -> n l (g o)")
        return out if self.bias is None else out + self.bias

    def matrix(self) -> torch.Tensor:
        """The weight as the paper's matrix W ∈ R^{C_in×C_out} (block-diagonal when grouped)."""
        return _as_matrix(self.weight, self.groups)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, groups={self.groups}, bias={self.bias is not None}"


class PixelConv(nn.Conv2d):
    """Point-wise 2D convolution over a feature map X ∈ R^{H×W×C_in}: (N, C_in, H, W) → (N, C_out, H, W).

    Grouped, it runs as one batched matrix product over the groups (the same multiply-adds, and faster on the CPU
    than oneDNN's grouped 1×1 convolution: docs/scale.md, "Rewrites that compute the same function"), the weight
    kept as a Conv2d's.
    """

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if self.groups == 1:
            return super().forward(X)
        n, _, height, width = X.shape
        g = self.groups
        weight = rearrange(self.weight, "(g o) i 1 1 -> g o i", g=g).expand(n, -1, -1, -1)
        out = torch.matmul(weight, rearrange(X, "n (g i) y x -> n g i (y x)", g=g))  # "g o i, n g i hw -> n g o hw"
        out = rearrange(out, "n g o (y x) -> n (g o) y x", y=height, x=width)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    def __init__(self, in_channels: int, out_channels: int, groups: int = 1, bias: bool = False):
        check_divisible("in_channels", in_channels, "groups", groups)
        check_divisible("out_channels", out_channels, "groups", groups)
        super().__init__(in_channels, out_channels, kernel_size=1, groups=groups, bias=bias)

    def matrix(self) -> torch.Tensor:
        """The weight as the paper's matrix W ∈ R^{C_in×C_out} (block-diagonal when grouped)."""
        return _as_matrix(self.weight, self.groups)


def channel_adapter(in_channels: int, out_channels: int) -> nn.Sequential:
    """Section 4's channel adapter: a point-wise 2D conv + BatchNorm + ReLU that brings a feature map to the
    channels a visual transformer works at (the conv's MACs count; the normalization's, by convention, do not)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _as_matrix(weight: torch.Tensor, groups: int) -> torch.Tensor:
    blocks = rearrange(weight.flatten(1), "(g o) i -> g i o", g=groups)
    return torch.block_diag(*blocks)
