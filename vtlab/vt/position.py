r"""Position encoding, equation (2) of the paper:

    P = downsample(A)^T W_{A→P}

A ∈ R^{HW×L} are the token coefficients of equation (1) (one map per head when the tokenizer is
multi-head). ``downsample`` brings every coefficient map A[:, l] to a fixed H̄×W̄ grid, so that inputs of any
size give encodings of the same width: the map is resized to ``size``×``size`` (``resize="bilinear"`` by
default; "nearest", the mode Listing 2's ``F.interpolate`` call gets by default, as an option: see
docs/paper-fidelity.md for why vtlab departs from it) and then reduced by
``num_downsample`` stride-2 3×3 convolutions, whose last 1×1 convolution merges the heads when there are
several (Listing 2; with one head it would be a lone scalar in front of W_{A→P}, which already has one).
W_{A→P} ∈ R^{H̄W̄×Cp} compresses each token's downsampled map into a Cp-vector, which the tokenizer
concatenates to that token's channels.

Scale (the paper leaves it open): a coefficient map sums to 1 over HW pixels, so its entries are about 1/HW.
With ``unit_mean=True`` (vtlab's default) the maps are multiplied by HW before the downsample, so that P is built
from values of about 1, as the features beside it are, and the downsample's convolutions get gradients of the
size their neighbours get; their 3×3 weights start at U(±1/fan-in), so that a downsampled unit-mean map starts
at the spread of a unit-variance feature. ``unit_mean=False`` is the map as equation (1) leaves it
(docs/paper-fidelity.md, "Every weight learns").

Shapes: A (N, heads, HW, L) and the map size (H, W) → P (N, L, Cp).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .._checks import check_positive
from .pointwise import TokenConv


class PositionEncoder(nn.Module):
    def __init__(self, heads: int = 1, size: int = 12, num_downsample: int = 1, Cp: int | None = None,
                 resize: str = "bilinear", unit_mean: bool = True):
        check_positive(heads=heads, size=size)
        if resize not in ("nearest", "bilinear"):
            raise ValueError(f"expected resize 'nearest' or 'bilinear', got {resize!r}")
        if num_downsample < 0 or size % (2**num_downsample):
            raise ValueError(f"expected num_downsample >= 0 with 2**num_downsample dividing size={size}, "
                             f"got num_downsample={num_downsample}")
        super().__init__()
        self.heads, self.size, self.resize, self.unit_mean = heads, size, resize, unit_mean
        layers: list[nn.Module] = [
            nn.Conv2d(heads, heads, kernel_size=3, stride=2, padding=1, bias=False) for _ in range(num_downsample)
        ]
        for conv in layers:
            bound = 1.0 / (heads * 9)  # 1 / fan-in (see the module docstring)
            nn.init.uniform_(conv.weight, -bound, bound)
        if heads > 1:
            layers.append(nn.Conv2d(heads, 1, kernel_size=1, bias=False))
        self.downsample_convs = nn.Sequential(*layers)
        self.HW_bar = (size // 2**num_downsample) ** 2  # H̄W̄
        self.Cp = Cp if Cp is not None else self.HW_bar
        self.W_A_to_P = TokenConv(self.HW_bar, self.Cp)

    def downsample(self, A: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """downsample(A): (N, heads, HW, L) → (N, H̄W̄, L)."""
        H, W = hw
        # The N·L maps are resized as the channels of a channels-last image rather than as N·L one-channel
        # images: same values, but the GPU's resize kernel then spreads the work over every output value instead
        # of looping over the maps inside each output pixel (docs/scale.md, "Speed on a GPU").
        maps = rearrange(A, "n h (y x) l -> h y x (n l)", y=H, x=W).permute(0, 3, 1, 2)
        maps = F.interpolate(maps, size=(self.size, self.size), mode=self.resize,
                             **({"align_corners": False} if self.resize == "bilinear" else {}))
        if self.unit_mean:  # after the resize, which is linear: the same maps, scaled on the small grid
            maps = maps * (H * W)
        maps = self.downsample_convs(rearrange(maps, "h (n l) y x -> (n l) h y x", n=A.shape[0]))
        return rearrange(maps, "(n l) 1 y x -> n (y x) l", n=A.shape[0])  # one head, or the heads merged

    def forward(self, A: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        A_down = self.downsample(A, hw)
        return self.W_A_to_P(rearrange(A_down, "n p l -> n l p"))  # P = downsample(A)^T W_{A→P}
