"""The visual transformer of Section 3: one module per equation, and the block that chains them."""

from .block import VisualTransformer, VisualTransformerBlock, VTConfig
from .fpn import VTFPN
from .nonlocal_block import NonLocalBlock
from .pointwise import PixelConv, TokenConv
from .position import PositionEncoder
from .projector import Projector
from .tokenizer import DynamicTokenizer, StaticTokenizer, Tokenizer
from .transformer import Transformer

__all__ = [
    "DynamicTokenizer", "NonLocalBlock", "PixelConv", "PositionEncoder", "Projector", "StaticTokenizer",
    "TokenConv", "Tokenizer", "Transformer", "VTConfig", "VTFPN", "VisualTransformer", "VisualTransformerBlock",
]
