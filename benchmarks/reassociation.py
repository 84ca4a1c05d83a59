"""The reassociated projector: equation (4)'s logits (X̄ Q)(T K)ᵀ computed as X̄ (Q (T K)ᵀ), the same function.

It skips the per-pixel query projection (VT-R-18's projector goes from 57.2 M to 19.9 M MACs per image) and lives
only in benchmarks/, since it was not kept (docs/scale.md, "Rewrites"). The protocol's worker applies it for the
``reassociated-projector`` variant, and benchmarks/rewrites.py times it against the plain model.
"""

from __future__ import annotations

import math
import types

import torch
from einops import rearrange
from torch import nn

from vtlab.vt.projector import Projector


def reassociated_read_back(self: Projector, X_in: torch.Tensor, T_out: torch.Tensor) -> torch.Tensor:
    """Equation (4)'s read-back term with its logits reassociated: (X̄ Q)(T K)ᵀ = X̄ (Q (T K)ᵀ), per head. Q's
    columns of head h times that head's keys give an L×C matrix M_h, and the logits are M_h X̄ᵀ: L·C MACs per
    pixel and head instead of the C·C/h of the query projection."""
    d = self.C // self.heads
    keys = rearrange(self.K_T_to_X(T_out), "n l (h d) -> n h l d", h=self.heads)
    W_Q = rearrange(self.Q_T_to_X.matrix(), "c (h d) -> h d c", h=self.heads)  # Q ∈ R^{C×C}, split by output
    M = torch.matmul(keys, W_Q)  # "n h l d, h d c -> n h l c"
    if self.scaled:
        M = M / math.sqrt(d)
    X_bar = rearrange(X_in, "n c y x -> n 1 c (y x)")
    attention_T = torch.matmul(M, X_bar).softmax(dim=2)  # (n, h, L, HW), softmax over the L tokens
    values = rearrange(self.V_T_to_X(T_out), "n l (h d) -> n h l d", h=self.heads)
    mixed = torch.matmul(values.transpose(2, 3), attention_T)  # "n h l d, n h l hw -> n h d hw"
    return rearrange(mixed, "n h d (y x) -> n (h d) y x", y=X_in.shape[2])


def reassociate_projectors(model: nn.Module) -> nn.Module:
    """Give every projector of ``model`` the reassociated read-back (in place); returns the model."""
    projectors = [m for m in model.modules() if isinstance(m, Projector)]
    if not projectors:
        raise ValueError(f"{type(model).__name__} has no projector to rewrite")
    for projector in projectors:
        projector.read_back = types.MethodType(reassociated_read_back, projector)
    return model
