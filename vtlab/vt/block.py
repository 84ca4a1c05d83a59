r"""A visual-transformer block and a stage of them (Figure 1, Section 4).

One block: tokenizer → transformer → projector. It keeps both outputs, the tokens T_out (high-level
semantics, read by the classification head) and the feature map X_out (pixel detail, read by the next block
and by dense heads):

    T_in  = tokenizer(X_in, T_prev)          equation (1)+(2) in the first block, (5) in later ones
    T_out = transformer(T_in)                equation (3)
    X_out = projector(X_in, T_out)           equation (4)

The paper leaves normalization out of its pseudo-code; a block normalises around the equations, never
inside them: BatchNorm (no ReLU) on the feature map the tokenizer reads, LayerNorm on T_in and T_out, and
BatchNorm + ReLU on X_out (post-activation, as the ResNet stages it follows). The equation modules stay exact
transcriptions. The tokenizer's BatchNorm (``tokenizer_norm``, on by default) is what keeps the tokens apart:
without it the tokenizer reads a post-ReLU map whose pixels share a large positive mean, every token (a weighted
average of pixels) inherits that mean, the dynamic filters W_A = T_in,a W_{T→WA} made from those tokens come out
nearly equal, and so do the maps they draw (docs/paper-fidelity.md, "Token coefficients").

Ablations of Table 3: ``transformer=False`` ("-TF") replaces equation (3) by a point-wise 1D convolution,
``position_encoding=False`` ("-PE") drops equation (2), ``dynamic=False`` ("-DT") makes every block static.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import POSITIVE_INT, Expect, check_feature_map, check_positive
from .parts import build_projector, build_relation, build_tokenizer, build_tokenizer_norm
from .pointwise import channel_adapter

_SWITCH = Expect(bool)
# What each VTConfig field takes (type and range; how fields must fit together, e.g. heads dividing CT, is the
# modules' to check): the one table that VTConfig, create_model and a run's model options are checked against.
VT_OPTIONS: dict[str, Expect] = {
    "C": POSITIVE_INT, "CT": POSITIVE_INT, "L": POSITIVE_INT, "depth": POSITIVE_INT, "heads": POSITIVE_INT,
    "tokenizer_heads": POSITIVE_INT, "kqv_groups": POSITIVE_INT, "query_groups": POSITIVE_INT,
    "kv_groups": POSITIVE_INT, "position_size": POSITIVE_INT, "position_downsample": Expect(int, low=0),
    "position_resize": Expect(str, choices=("bilinear", "nearest")), "transformer": _SWITCH,
    "position_encoding": _SWITCH, "dynamic": _SWITCH, "scaled": _SWITCH, "tokenizer_norm": _SWITCH,
    "fused_attention": _SWITCH, "centre_filter_tokens": _SWITCH, "position_unit_mean": _SWITCH,
    "fusion": Expect(str, choices=("gated", "sum", "none")),
}


@dataclass(frozen=True)
class VTConfig:
    """The hyper-parameters of a stage of visual-transformer blocks, and of VT-FPN's neck (where ``depth`` and
    ``dynamic`` do not apply). Each field is described where it is declared; every one is checked against
    :data:`VT_OPTIONS` when a config is made, and :mod:`vtlab.vt.parts` turns a config into modules."""

    C: int = 512  # channels of the feature map X that a block reads and writes
    CT: int = 1024  # channels of a token
    L: int = 8  # tokens per block; even where a block is dynamic, which renews L/2 of them
    depth: int = 2  # blocks in the stage: the first static, the later ones dynamic (unless ``dynamic`` is off)
    heads: int = 16  # attention heads of the transformer and of the projector (Appendix A)
    # coefficient maps per token: 1 is equations (1) and (5) as printed; ``heads`` gives Listing 1's per-head
    # dynamic maps, each from its own C/heads channels (see :mod:`vtlab.vt.tokenizer`)
    tokenizer_heads: int = 1
    kqv_groups: int = 8  # groups of the transformer's K, Q and V point-wise convolutions (Listing 3)
    query_groups: int = 16  # groups of the projector's pixel-wise query Q_{T→X} (Listing 4)
    kv_groups: int = 1  # groups of the projector's key K_{T→X} and value V_{T→X}
    position_size: int = 12  # the position encoder resizes each coefficient map to a size × size grid
    # stride-2 3×3 convolutions after that resize, so each token's position has Cp = (size / 2^downsample)^2
    # channels; 2^downsample must divide size
    position_downsample: int = 1
    position_resize: str = "bilinear"  # how the maps are resized: "bilinear", or "nearest" (Listing 2's default)
    transformer: bool = True  # equation (3) relates the tokens; off ("-TF"): a point-wise 1D convolution instead
    position_encoding: bool = True  # equation (2) adds each token's position; off ("-PE"): equation (1) alone
    dynamic: bool = True  # blocks after the first tokenize by equation (5); off ("-DT"): every block is static
    scaled: bool = True  # divide every attention's logits by the square root of its head width (off: as printed)
    tokenizer_norm: bool = True  # BatchNorm, no ReLU, on the map each tokenizer reads (see the module docstring)
    # the projector's attention as one ``scaled_dot_product_attention`` call: the same function and multiply-adds
    # (see :class:`~vtlab.vt.projector.Projector`)
    fused_attention: bool = False
    # dynamic blocks centre T_in,a over its L/2 tokens before W_{T→WA} (not in the paper; see
    # :mod:`vtlab.vt.tokenizer`): the filters then start from what tells the tokens apart
    centre_filter_tokens: bool = True
    position_unit_mean: bool = True  # equation (2) reads each map times HW, values of about 1 (see vt.position)
    # VT-FPN only: how a level's read-back term R_i joins its lateral map X_i (see :mod:`vtlab.vt.fpn`): "gated"
    # ReLU(X_i + BN(R_i)) with the BatchNorm's scale started at 0; "sum" ReLU(BN(X_i + R_i)), the block's way;
    # "none" X_i alone, the lateral convs without tokens (the control that shows what the tokens add)
    fusion: str = "gated"

    def __post_init__(self) -> None:
        """Check every field against :data:`VT_OPTIONS`, so that no config of a wrong type or range exists."""
        for field in fields(self):
            VT_OPTIONS[field.name].check(field.name, getattr(self, field.name))

    def replace(self, **changes) -> VTConfig:
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ValueError(f"unknown VT options {sorted(unknown)}; expected some of {sorted(asdict(self))}")
        return VTConfig(**{**asdict(self), **changes})


# Table 3's ablations, each by its short name in the paper ("-TF" removes "TF"), and the VTConfig switch that
# removes it when set to False. The paper's table (vtlab.cost.paper.ABLATIONS), `vtlab train --ablate` and the
# ablation widget (vtlab.viz.ablation) are derived from this one declaration.
ABLATION_SWITCHES: dict[str, str] = {"TF": "transformer", "PE": "position_encoding", "DT": "dynamic"}


class VisualTransformerBlock(nn.Module):
    """forward(X_in (N, C, H, W), T_prev (N, L, CT) or None) → X_out (N, C, H, W), T_out (N, L, CT), A.

    ``project=False`` builds the block without equation (4): for a last block whose feature map nothing
    reads (a classifier reads the tokens), it passes X_in through as X_out instead of computing an unused map.
    """

    def __init__(self, config: VTConfig, dynamic: bool, project: bool = True):
        super().__init__()
        self.tokenizer = build_tokenizer(config, dynamic)
        self.tokenizer_norm = build_tokenizer_norm(config)
        self.token_norm = nn.LayerNorm(config.CT)
        self.transformer = build_relation(config)
        self.transformer_norm = nn.LayerNorm(config.CT)
        self.projector = self.feature_norm = None
        if project:
            self.projector = build_projector(config)
            self.feature_norm = nn.BatchNorm2d(config.C)

    def forward(self, X_in: torch.Tensor,
                T_prev: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        T_in, A = self.tokenizer(self.tokenizer_norm(X_in), T_prev)
        T_out = self.transformer_norm(self.transformer(self.token_norm(T_in)))
        if self.projector is None:
            return X_in, T_out, A
        X_out = F.relu(self.feature_norm(self.projector(X_in, T_out)))
        return X_out, T_out, A


class VisualTransformer(nn.Module):
    """A stage of ``depth`` cascaded blocks: the first static, later ones dynamic (Section 4).

    A point-wise 2D convolution first adapts the input channels to C when they differ.
    forward(X (N, in_channels, H, W)) → X_out (N, C, H, W), T_out (N, L, CT); with
    ``return_coefficients=True`` also the list of each block's token coefficients A (N, heads, HW, L').
    ``project_last=False`` builds the last block without a projector (see :class:`VisualTransformerBlock`):
    X_out is then the feature map the last block tokenized.
    """

    def __init__(self, in_channels: int, config: VTConfig, project_last: bool = True):
        check_positive(in_channels=in_channels)  # the config's own fields are checked by VTConfig
        super().__init__()
        self.in_channels, self.config = in_channels, config
        self.adapter = nn.Identity() if in_channels == config.C else channel_adapter(in_channels, config.C)
        self.blocks = nn.ModuleList(
            VisualTransformerBlock(config, dynamic=config.dynamic and i > 0,
                                   project=project_last or i < config.depth - 1)
            for i in range(config.depth))

    def forward(self, X: torch.Tensor, return_coefficients: bool = False) -> tuple:
        check_feature_map(X, self.in_channels, name="input feature map")
        X, T, coefficients = self.adapter(X), None, []
        for block in self.blocks:
            X, T, A = block(X, T)
            coefficients.append(A)
        return (X, T, coefficients) if return_coefficients else (X, T)
