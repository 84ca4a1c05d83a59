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
convs' and the projectors' outputs.

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

    ``config``: C (output channels of every level), CT, L (tokens per level), heads and groups, and the
    ablation switches ``transformer`` and ``position_encoding`` (its ``depth`` and ``dynamic`` do not apply: one
    static tokenizer per level, one transformer).
    """

    def __init__(self, in_channels: Sequence[int], config: VTConfig):
        check_positive(levels=len(in_channels), **{f"in_channels[{i}]": c for i, c in enumerate(in_channels)})
        super().__init__()
        c = self.config = config
        self.in_channels = list(in_channels)
        self.lateral = nn.ModuleList(channel_adapter(ch, c.C) for ch in in_channels)
        self.tokenizers = nn.ModuleList(build_tokenizer(c, dynamic=False) for _ in in_channels)
        self.tokenizer_norms = nn.ModuleList(build_tokenizer_norm(c) for _ in in_channels)
        self.token_norm = nn.LayerNorm(c.CT)
        self.transformer = build_relation(c)
        self.transformer_norm = nn.LayerNorm(c.CT)
        self.projectors = nn.ModuleList(build_projector(c) for _ in in_channels)
        self.feature_norms = nn.ModuleList(nn.BatchNorm2d(c.C) for _ in in_channels)

    @property
    def out_channels(self) -> int:
        return self.config.C

    def forward(self, features: Sequence[torch.Tensor], return_coefficients: bool = False):
        if len(features) != len(self.in_channels):
            raise ValueError(f"expected {len(self.in_channels)} feature maps (one per level), got {len(features)}")
        X, T, A = [], [], []
        for C_i, lateral, norm, tokenizer, channels in zip(features, self.lateral, self.tokenizer_norms,
                                                           self.tokenizers, self.in_channels, strict=True):
            check_feature_map(C_i, channels, name=f"level {len(X)} feature map")
            X_i = lateral(C_i)
            T_i, A_i = tokenizer(norm(X_i))
            X.append(X_i), T.append(T_i), A.append(A_i)
        T_out = self.transformer_norm(self.transformer(self.token_norm(torch.cat(T, dim=1))))
        L = self.config.L
        X_out = [F.relu(norm(projector(X_i, T_out[:, i * L:(i + 1) * L])))
                 for i, (X_i, projector, norm) in enumerate(zip(X, self.projectors, self.feature_norms, strict=True))]
        return (X_out, A) if return_coefficients else X_out
