"""A visual-transformer block's parts, built from a :class:`~vtlab.vt.block.VTConfig`: the tokenizer (and the
normalization of the map it reads), the relation module that relates the tokens, and the projector.

:class:`~vtlab.vt.block.VisualTransformerBlock` and :class:`~vtlab.vt.fpn.VTFPN` build every part here, so that one
config means the same modules in both. Each part has a registry, a name → what builds that variant from the config
(a tokenizer class, whose constructor every tokenizer shares, or a function of the config), and the config's switch
picks the name: ``dynamic`` the tokenizer, ``transformer`` the relation. A new variant is one entry in its registry,
and the switch value that picks it in the ``build_*`` function beside.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from .pointwise import TokenConv
from .position import PositionEncoder
from .projector import Projector
from .tokenizer import DynamicTokenizer, StaticTokenizer, Tokenizer
from .transformer import Transformer

if TYPE_CHECKING:
    from .block import VTConfig


def transformer_relation(config: VTConfig) -> Transformer:
    """Equation (3) over the tokens, multi-head and grouped as the config says."""
    return Transformer(config.CT, heads=config.heads, kqv_groups=config.kqv_groups, scaled=config.scaled)


def pointwise_relation(config: VTConfig) -> TokenConv:
    """The stand-in for equation (3) in Table 3's "-TF" ablation: a point-wise 1D convolution CT → CT, which
    transforms each token on its own and relates none."""
    return TokenConv(config.CT, config.CT)


def attention_projector(config: VTConfig) -> Projector:
    """Equation (4), multi-head and grouped as the config says."""
    return Projector(config.C, config.CT, heads=config.heads, query_groups=config.query_groups,
                     kv_groups=config.kv_groups, scaled=config.scaled, fused=config.fused_attention)


TOKENIZERS: dict[str, type[Tokenizer]] = {"static": StaticTokenizer, "dynamic": DynamicTokenizer}
RELATIONS: dict[str, Callable[[VTConfig], nn.Module]] = {"transformer": transformer_relation,
                                                         "pointwise": pointwise_relation}
PROJECTORS: dict[str, Callable[[VTConfig], nn.Module]] = {"attention": attention_projector}


def position_encoder(config: VTConfig) -> PositionEncoder | bool:
    """Equation (2)'s encoder for a tokenizer of ``config`` (its grid from the ``position_*`` fields), or False
    when ``position_encoding`` is off."""
    if not config.position_encoding:
        return False
    return PositionEncoder(config.tokenizer_heads, config.position_size, config.position_downsample,
                           resize=config.position_resize, unit_mean=config.position_unit_mean)


def build_tokenizer(config: VTConfig, dynamic: bool) -> Tokenizer:
    """A block's or a level's tokenizer: equation (5) when ``dynamic``, else equation (1); with equation (2) when
    ``config.position_encoding``."""
    kind = TOKENIZERS["dynamic" if dynamic else "static"]
    extra = {"centre_filter_tokens": config.centre_filter_tokens} if dynamic else {}
    return kind(config.C, config.CT, config.L, heads=config.tokenizer_heads, position_encoding=position_encoder(config),
                scaled=config.scaled, **extra)


def build_tokenizer_norm(config: VTConfig) -> nn.Module:
    """What normalises the map a tokenizer reads: BatchNorm without ReLU when ``config.tokenizer_norm``, so that
    the tokens do not all inherit the post-ReLU map's shared mean (see :mod:`vtlab.vt.block`), else nothing."""
    return nn.BatchNorm2d(config.C) if config.tokenizer_norm else nn.Identity()


def build_relation(config: VTConfig) -> nn.Module:
    """What relates the tokens, (N, L, CT) → (N, L, CT): the transformer, or its "-TF" stand-in when
    ``config.transformer`` is off."""
    return RELATIONS["transformer" if config.transformer else "pointwise"](config)


def build_projector(config: VTConfig) -> nn.Module:
    """What reads the tokens back into the feature map, (N, C, H, W), (N, L, CT) → (N, C, H, W)."""
    return PROJECTORS["attention"](config)
