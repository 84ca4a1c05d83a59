r"""The projector, equation (4): fuse the output tokens back into the feature map.

    X̄_out = X̄_in + softmax((X̄_in Q_{T→X})(T_out K_{T→X})^T) (T_out V_{T→X})

X̄_in ∈ R^{HW×C} is the feature map with its spatial axes merged, T_out ∈ R^{L×CT} the transformer's output.
Q_{T→X} ∈ R^{C×C} gives each pixel a query (what it needs from the tokens), K_{T→X} ∈ R^{CT×C} each token
a key (what it holds), V_{T→X} ∈ R^{CT×C} the value it adds. The softmax runs over the L tokens, so every
pixel receives a convex mix of token values.

Multi-head and grouped as in Listing 4: C is split into h heads; Q_{T→X}, a point-wise convolution over all
HW pixels, may be grouped (Listing 4 uses 16 groups) as may K and V. With ``scaled=True`` the logits are divided
by sqrt(C/h); ``heads=1, groups=1, scaled=False`` is the literal equation.

``fused=True`` computes the same function with ``torch.nn.functional.scaled_dot_product_attention``: the pixels
are the queries and the L tokens the keys and values, so the HW×L attention is never written out as a tensor.
The multiply-adds are the same. It is off by default: whether one fused call is faster than the two products
depends on the device, and docs/scale.md ("Rewrites that compute the same function") has the timings.

Shapes: X_in (N, C, H, W), T_out (N, L, CT) → X_out (N, C, H, W).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .._checks import check_divisible, check_feature_map, check_positive, check_tokens
from .pointwise import PixelConv, TokenConv


class Projector(nn.Module):
    def __init__(self, C: int, CT: int, heads: int = 1, query_groups: int = 1, kv_groups: int = 1,
                 scaled: bool = True, fused: bool = False):
        check_positive(C=C, CT=CT, heads=heads)
        check_divisible("C", C, "heads", heads)
        super().__init__()
        self.C, self.CT, self.heads, self.scaled, self.fused = C, CT, heads, scaled, fused
        self.Q_T_to_X = PixelConv(C, C, groups=query_groups)
        self.K_T_to_X = TokenConv(CT, C, groups=kv_groups)
        self.V_T_to_X = TokenConv(CT, C, groups=kv_groups)

    def attention(self, X_in: torch.Tensor, T_out: torch.Tensor) -> torch.Tensor:
        """softmax((X̄_in Q)(T_out K)^T) per head: (N, heads, HW, L), each pixel's weights over the tokens."""
        return self._attention(X_in, T_out).transpose(2, 3)

    def forward(self, X_in: torch.Tensor, T_out: torch.Tensor, residual: bool = True) -> torch.Tensor:
        """X̄_out = X̄_in + the read-back term; with ``residual=False`` the term alone (what VT-FPN's gated fusion
        joins to its lateral map in its own way), still as a call of this module, so that its cost is counted
        under it."""
        term = self.read_back(X_in, T_out)
        return X_in + term if residual else term

    def read_back(self, X_in: torch.Tensor, T_out: torch.Tensor) -> torch.Tensor:
        """The term equation (4) adds to X̄_in, softmax((X̄_in Q)(T_out K)^T)(T_out V): (N, C, H, W)."""
        check_feature_map(X_in, self.C)
        check_tokens(T_out, None, self.CT, name="output tokens T_out")
        values = rearrange(self.V_T_to_X(T_out), "n l (h d) -> n h l d", h=self.heads)
        if self.fused:
            return self._fused(X_in, T_out, values)
        # "n h l hw, n h l d -> n h d hw" as a plain batched matmul: the pixel-sized products are the hot path,
        # and torch.matmul runs them without the copies einsum makes here (same MACs, counted the same)
        mixed = torch.matmul(values.transpose(2, 3), self._attention(X_in, T_out))
        return rearrange(mixed, "n h d (y x) -> n (h d) y x", y=X_in.shape[2])

    def _fused(self, X_in: torch.Tensor, T_out: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """softmax(QKᵀ)V with one fused call: pixels query the tokens. (N, C, H, W), the map without X_in."""
        queries = rearrange(self.Q_T_to_X(X_in), "n (h d) y x -> n h (y x) d", h=self.heads)
        keys = rearrange(self.K_T_to_X(T_out), "n l (h d) -> n h l d", h=self.heads)
        scale = 1 / math.sqrt(self.C // self.heads) if self.scaled else 1.0
        mixed = F.scaled_dot_product_attention(queries, keys, values, scale=scale)
        return rearrange(mixed, "n h (y x) d -> n (h d) y x", y=X_in.shape[2])

    def _attention(self, X_in: torch.Tensor, T_out: torch.Tensor) -> torch.Tensor:
        """The attention transposed, (N, heads, L, HW): the layout in which no copy of the map is made."""
        queries = rearrange(self.Q_T_to_X(X_in), "n (h d) y x -> n h d (y x)", h=self.heads)
        keys = rearrange(self.K_T_to_X(T_out), "n l (h d) -> n h l d", h=self.heads)
        if self.scaled:  # scaling the L keys rather than the HW×L logits: the same product
            keys = keys / math.sqrt(self.C // self.heads)
        logits = torch.matmul(keys, queries)  # "n h l d, n h d hw -> n h l hw"
        return logits.softmax(dim=2)  # over the L tokens
