r"""The transformer over visual tokens, equation (3):

    T_out = T_in + softmax((T_in K)(T_in Q)^T) (T_in V) F

T_in, T_out ∈ R^{L×CT}; K, Q ∈ R^{CT×CT/2} (keys and queries at half width), V, F ∈ R^{CT×CT}. The softmax
normalises each row, so row i of the attention mixes the values of all L tokens. Cost: 3·CT²·L multiply-adds
for K, Q, V and F, plus 1.5·L²·CT for the two products, the paper's 3C²L + 1.5L²C.

Multi-head (Appendix A): K, Q and V outputs are split into h heads, each attending on its own
CT/2/h-wide keys and CT/h-wide values, and K, Q, V may be grouped convolutions (Listing 3 uses 8 groups).
F is applied to the attention output as in the equation; Listing 3 instead adds F(T) as a second residual,
which has the same cost (see docs/paper-fidelity.md). With ``scaled=True`` the logits are divided by
sqrt(CT/2/h); ``heads=1, groups=1, scaled=False`` is the literal equation.

Shapes: T_in (N, L, CT) → T_out (N, L, CT).
"""

from __future__ import annotations

import math

import torch
from einops import einsum, rearrange
from torch import nn

from .._checks import check_divisible, check_positive, check_tokens
from .pointwise import TokenConv


class Transformer(nn.Module):
    def __init__(self, CT: int, heads: int = 1, kqv_groups: int = 1, scaled: bool = True):
        check_positive(CT=CT, heads=heads, kqv_groups=kqv_groups)
        if CT % 2:
            raise ValueError(f"keys and queries have CT/2 channels: expected an even CT, got CT={CT}")
        check_divisible("CT/2 (the key width)", CT // 2, "heads", heads)
        super().__init__()
        self.CT, self.heads, self.scaled = CT, heads, scaled
        self.K = TokenConv(CT, CT // 2, groups=kqv_groups)
        self.Q = TokenConv(CT, CT // 2, groups=kqv_groups)
        self.V = TokenConv(CT, CT, groups=kqv_groups)
        self.F = TokenConv(CT, CT)

    def attention(self, T_in: torch.Tensor) -> torch.Tensor:
        """softmax((T_in K)(T_in Q)^T) per head: (N, L, CT) → (N, heads, L, L)."""
        keys = rearrange(self.K(T_in), "n l (h d) -> n h l d", h=self.heads)
        queries = rearrange(self.Q(T_in), "n l (h d) -> n h l d", h=self.heads)
        logits = einsum(keys, queries, "n h i d, n h j d -> n h i j")
        if self.scaled:
            logits = logits / math.sqrt(self.CT // 2 // self.heads)
        return logits.softmax(dim=-1)

    def forward(self, T_in: torch.Tensor) -> torch.Tensor:
        check_tokens(T_in, None, self.CT, name="input tokens T_in")
        attention = self.attention(T_in)
        values = rearrange(self.V(T_in), "n l (h d) -> n h l d", h=self.heads)
        mixed = rearrange(einsum(attention, values, "n h i j, n h j d -> n h i d"), "n h l d -> n l (h d)")
        return T_in + self.F(mixed)
