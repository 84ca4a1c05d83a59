r"""VT-FPN (Section 4.2, Figure 3): a feature-pyramid neck built from visual tokens instead of convolutions.

A convolutional FPN fuses the backbone's maps C2–C5 pixel by pixel, top-down, with 3×3 convolutions on every
level. VT-FPN fuses them through tokens: each level is summarised by L tokens, one transformer relates the
tokens of all levels, and each level's map reads its tokens back:

    X_i       = lateral_i(C_i)                   point-wise conv to C channels (Section 4's channel adapter)
    T_i, A_i  = tokenizer_i(X_i)                 equations (1)+(2): L tokens of CT channels per level
    T_out     = transformer(concat_L(T_2..T_5))  equation (3) over all 4L tokens: the levels interact here
    X_out,i   = projector_i(X_i, T_out,i)        equation (4): level i's pixels read its own L output tokens

No top-down pathway and no 3×3 convolution remain; the pixel-wise work left is the lateral convs, the
tokenizers' coefficients and the projectors, which is why its cost is a fraction of the FPN's (Table 4:
8.5 vs 55.1 GMACs at 800×1216). That each level reads back only its own L tokens, rather than all 4L, is
vtlab's reading, decided from those figures (see docs/paper-fidelity.md).

Normalization as in :class:`~vtlab.vt.block.VisualTransformerBlock`: BatchNorm on the map each tokenizer reads
(``tokenizer_norm``), LayerNorm on the tokens before and after the transformer, BatchNorm + ReLU on the lateral
convs' outputs. How each level's read-back term R_i (the part of equation (4) added to X_i, :meth:`Projector.
read_back`) joins its map is the config's ``fusion``, since the paper specifies neither the normalization nor
the residual there:

    "gated" (default)   X_out,i = ReLU(X_i + γ_i ⊙ BN(R_i))    γ_i the BatchNorm's scale, started at 0
    "sum"               X_out,i = ReLU(BN(X_i + R_i))          the block's way
    "none"              X_out,i = X_i                          the lateral convs alone: no tokens, no projector

"gated" starts as the lateral convs and lets the tokens in as far as they help: with "sum" a pixel's term is a
mix of a few token values, which at the start is nearly constant over space and larger than X_i, and the
BatchNorm after the sum shrinks the lateral detail under it (docs/paper-fidelity.md, "VT-FPN's read-back").
"none" is the control that any study of VT-FPN needs: what the lateral convs do without the token path.

Shapes: a list of maps (N, C_i, H_i, W_i), finest first → a list of maps (N, C, H_i, W_i), same sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_feature_map, check_positive
from .block import VTConfig
from .parts import build_projector, build_relation, build_tokenizer, build_tokenizer_norm
from .pointwise import channel_adapter


class VTFPN(nn.Module):
    """forward(features [C_2 .. C_k]) → [X_out,2 .. X_out,k]; with ``return_coefficients=True`` also each
    level's token coefficients A_i (N, heads, H_i·W_i, L).

    ``config``: C (output channels of every level), CT, L (tokens per level), heads and groups, ``fusion`` (see
    the module docstring), and the ablation switches ``transformer`` and ``position_encoding`` (its ``depth`` and
    ``dynamic`` do not apply: one static tokenizer per level, one transformer). With ``fusion="none"`` no token
    module is built, and the coefficients returned are an empty list.
    """

    def __init__(self, in_channels: Sequence[int], config: VTConfig):
        check_positive(levels=len(in_channels), **{f"in_channels[{i}]": c for i, c in enumerate(in_channels)})
        super().__init__()
        c = self.config = config
        self.in_channels = list(in_channels)
        self.lateral = nn.ModuleList(channel_adapter(ch, c.C) for ch in in_channels)
        if c.fusion == "none":
            return
        self.tokenizers = nn.ModuleList(build_tokenizer(c, dynamic=False) for _ in in_channels)
        self.tokenizer_norms = nn.ModuleList(build_tokenizer_norm(c) for _ in in_channels)
        self.token_norm = nn.LayerNorm(c.CT)
        self.transformer = build_relation(c)
        self.transformer_norm = nn.LayerNorm(c.CT)
        self.projectors = nn.ModuleList(build_projector(c) for _ in in_channels)
        self.feature_norms = nn.ModuleList(nn.BatchNorm2d(c.C) for _ in in_channels)
        if c.fusion == "gated":
            for norm in self.feature_norms:
                nn.init.zeros_(norm.weight)  # γ_i = 0: the level starts as its lateral map

    @property
    def out_channels(self) -> int:
        return self.config.C

    def forward(self, features: Sequence[torch.Tensor], return_coefficients: bool = False):
        X = self.laterals(features)
        if self.config.fusion == "none":
            return (X, []) if return_coefficients else X
        T_out, A = self.relate(X)
        X_out = [self.fuse(i, X_i, T_out_i) for i, (X_i, T_out_i) in enumerate(zip(X, T_out, strict=True))]
        return (X_out, A) if return_coefficients else X_out

    def laterals(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """X_i = lateral_i(C_i) for every level, the inputs checked."""
        if len(features) != len(self.in_channels):
            raise ValueError(f"expected {len(self.in_channels)} feature maps (one per level), got {len(features)}")
        for i, (C_i, channels) in enumerate(zip(features, self.in_channels, strict=True)):
            check_feature_map(C_i, channels, name=f"level {i} feature map")
        return [lateral(C_i) for C_i, lateral in zip(features, self.lateral, strict=True)]

    def relate(self, X: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each level's L tokens, related across levels by one transformer: (T_out,i per level, A_i per level)."""
        T, A = [], []
        for X_i, norm, tokenizer in zip(X, self.tokenizer_norms, self.tokenizers, strict=True):
            T_i, A_i = tokenizer(norm(X_i))
            T.append(T_i), A.append(A_i)
        T_out = self.transformer_norm(self.transformer(self.token_norm(torch.cat(T, dim=1))))
        return list(T_out.split(self.config.L, dim=1)), A

    def fuse(self, i: int, X_i: torch.Tensor, T_out_i: torch.Tensor) -> torch.Tensor:
        """X_out,i from level i's lateral map and its output tokens, as the config's ``fusion`` says."""
        if self.config.fusion == "gated":
            return F.relu(X_i + self.added(i, X_i, T_out_i))
        return F.relu(self.feature_norms[i](X_i + self.added(i, X_i, T_out_i)))

    def added(self, i: int, X_i: torch.Tensor, T_out_i: torch.Tensor) -> torch.Tensor:
        """What the token path adds to level i's lateral map before the ReLU: γ_i ⊙ BN(R_i) when gated, the
        read-back term R_i itself with ``fusion="sum"``."""
        term = self.projectors[i](X_i, T_out_i, residual=False)
        return self.feature_norms[i](term) if self.config.fusion == "gated" else term
