r"""The non-local block of Section 3.2: equation (3) applied to every pixel instead of to L tokens.

    X̄_out = X̄_in + softmax((X̄_in K)(X̄_in Q)^T) (X̄_in V) F,     X̄ ∈ R^{HW×C}

Its cost is 3·HW·C² + 1.5·(HW)²·C, against 3·L·CT² + 1.5·L²·CT for the transformer over tokens: 40.3 M vs
6.3 M multiply-adds at H = W = 7, C = CT = 512, L = 8 in the paper. Built from the same
:class:`~vtlab.vt.transformer.Transformer`, so the two differ only in what they attend over.

Shapes: (N, C, H, W) → (N, C, H, W).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .._checks import check_feature_map
from .transformer import Transformer


class NonLocalBlock(nn.Module):
    def __init__(self, C: int, heads: int = 1, kqv_groups: int = 1, scaled: bool = True):
        super().__init__()
        self.C = C
        self.transformer = Transformer(C, heads=heads, kqv_groups=kqv_groups, scaled=scaled)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        check_feature_map(X, self.C)
        X_bar = rearrange(X, "n c y x -> n (y x) c")
        return rearrange(self.transformer(X_bar), "n (y x) c -> n c y x", y=X.shape[2])
