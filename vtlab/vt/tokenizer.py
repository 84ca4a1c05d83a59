r"""Tokenizers: a feature map X ∈ R^{H×W×C} in, L visual tokens T ∈ R^{L×CT} out.

Static tokenization, equation (1), with X̄ ∈ R^{HW×C} the feature map with its spatial axes merged:

    A = softmax_HW(X̄ W_A^T) ∈ R^{HW×L}        T = A^T (X̄ W_V) = (A^T X̄) W_V ∈ R^{L×CT}

Each column A[:, l] is a softmax over the HW pixels, so token l is a weighted average of the pixels (the
paper's reading of equation (1)). W_A ∈ R^{L×C} is a learned filter bank that splits the map into L regions.
Because A^T (X̄ W_V) = (A^T X̄) W_V, the value weight is applied after pooling: the same tokens for L·C·CT
multiply-adds instead of HW·C·CT (Listing 1 orders it the same way).

Position encoding, equation (2): P ∈ R^{L×Cp} is computed from A (see :mod:`vtlab.vt.position`) and
concatenated along the channels before W_V, which then has C + Cp input channels:
T = [A^T X̄ ‖ P] W_V. Without position encoding this is exactly equation (1).

Dynamic tokenization, equation (5): the filter is computed from half of the previous layer's tokens,

    T_in = [T_in,a ; T_in,b]    W_A = T_in,a W_{T→WA} ∈ R^{L/2×C}
    T'_in = concat_L(T_in,b, tokenizer(W_A, X_in))

so each layer renews L/2 tokens and carries the other L/2 over.

One map per token (``heads=1``, the default) is equation (1) as printed, and Listing 1's static path: its
coefficients have shape (N, 1, HW, L) and every head of the value pools with the same map. Listing 1's dynamic
path instead splits the channels of X̄ and of W_A into h groups of C/h, and each head computes its own
coefficients A_h from its own channel group; ``heads=h`` gives that, for either tokenizer. One map per token is
the default because it is what the equations say (docs/paper-fidelity.md, "Token coefficients", compares the
two).

Scale: Listing 1 divides the logits by sqrt(C/h) (sqrt(C) static, sqrt(C/h) dynamic), ``scaled=True``. A
dynamic filter is computed, so its logits are divided in the forward pass. A static filter is a free weight,
and vtlab stores it at its working scale instead: W_A starts with entries of variance h/C and the forward pass
divides nothing, which is Listing 1's scaled filter reparametrised (W_A here = W_A there / sqrt(C/h)) with the
same initial logits. The difference is in training: Adam-like optimizers step every entry by about the learning
rate whatever its size, so a unit-variance weight divided by sqrt(C/h) in the forward pass would learn sqrt(C/h)
times slower than its neighbours (docs/paper-fidelity.md, "Every weight learns"). Either way the initial logits
X̄W_A^T have the spread of the features themselves and the L maps start different: smaller logits start every
map flat, every token the same average of the pixels, and give the maps little gradient to move apart
(docs/paper-fidelity.md, "Token coefficients").

``centre_filter_tokens`` (dynamic tokenizers; not in the paper, an option with its own ablation): subtract the
mean over the L/2 tokens of T_in,a before W_{T→WA}, so that the filters, and the maps they draw, start from
what tells the tokens apart rather than from the component they share.
``heads=1, scaled=False`` is the literal equation.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from .._checks import check_divisible, check_feature_map, check_positive, check_tokens
from .pointwise import TokenConv
from .position import PositionEncoder


class Tokenizer(nn.Module):
    """What static and dynamic tokenizers share: from a filter W_A to coefficients A and tokens T.

    ``C``: channels of the feature map X; ``CT``: of a token; ``L``: tokens out; ``heads``: coefficient maps per
    token (1 is equation (1); see the module docstring); ``scaled``: divide the logits by sqrt(C/heads).
    ``position_encoding``: equation (2)'s encoder, ``True`` for a :class:`~vtlab.vt.position.PositionEncoder`
    with its defaults, ``False`` for none (equation (1) alone), or the encoder itself (as
    :func:`vtlab.vt.parts.build_tokenizer` passes it, built from a config's ``position_*`` fields).
    A tokenizer is a subclass that says where its filter W_A comes from (:meth:`_build_filter`, run last in the
    constructor) and calls :meth:`tokens` with it.
    """

    def __init__(self, C: int, CT: int, L: int, heads: int = 1, position_encoding: bool | PositionEncoder = True,
                 scaled: bool = True):
        check_positive(L=L, C=C, CT=CT, heads=heads)
        check_divisible("C", C, "heads", heads)
        super().__init__()
        self.C, self.CT, self.L, self.heads, self.scaled = C, CT, L, heads, scaled
        self.position_encoder = _position_encoder(position_encoding, heads)
        Cp = self.position_encoder.Cp if self.position_encoder is not None else 0
        self.W_V = TokenConv(C + Cp, CT)
        self._build_filter()

    computed_filter = True  # W_A is computed in the forward pass (so scaled there), not a weight stored scaled

    def _build_filter(self) -> None:
        """Add the parameters from which :meth:`forward` makes W_A (the constructor's last step)."""
        raise NotImplementedError

    def coefficients(self, X: torch.Tensor, W_A: torch.Tensor) -> torch.Tensor:
        """A = softmax_HW(X̄ W_A^T), per head: X (N, C, H, W), W_A (N, L, C) → A (N, heads, HW, L)."""
        return self._coefficients(self._per_head(X), W_A).transpose(2, 3)

    def tokens(self, X: torch.Tensor, W_A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """T = [A^T X̄ ‖ P] W_V → (T (N, L, CT), A (N, heads, HW, L))."""
        X_bar = self._per_head(X)
        A_T = self._coefficients(X_bar, W_A)  # A^T, (N, heads, L, HW)
        # "n h l hw, n h d hw -> n h l d" as a batched matmul (the pixel-sized products are the hot path: see
        # Projector.read_back)
        pooled = rearrange(torch.matmul(A_T, X_bar.transpose(2, 3)), "n h l d -> n l (h d)")
        A = A_T.transpose(2, 3)
        if self.position_encoder is not None:
            P = self.position_encoder(A, X.shape[-2:])
            pooled = torch.cat([pooled, P], dim=2)
        return self.W_V(pooled), A

    def _per_head(self, X: torch.Tensor) -> torch.Tensor:
        """X̄ split into heads, kept channels-first so that no copy is made: (N, heads, C/heads, HW)."""
        return rearrange(X, "n (h d) y x -> n h d (y x)", h=self.heads)

    def _coefficients(self, X_bar: torch.Tensor, W_A: torch.Tensor) -> torch.Tensor:
        W_A = rearrange(W_A, "n l (h d) -> n h l d", h=self.heads)
        if self.scaled and self.computed_filter:  # scaling the small filter, not the HW×L logits: the same product
            W_A = W_A / math.sqrt(self.C // self.heads)
        logits = torch.matmul(W_A, X_bar)  # "n h l d, n h d hw -> n h l hw"
        return logits.softmax(dim=-1)  # over the HW pixels: each token is a weighted average


class StaticTokenizer(Tokenizer):
    """Equation (1) (+ (2)): L tokens from a learned filter W_A ∈ R^{L×C}.

    forward(X (N, C, H, W)) → T (N, L, CT), A (N, heads, HW, L), heads = 1 being one map per token. A second
    argument (previous tokens) is accepted and ignored, so that static and dynamic tokenizers are called alike.
    """

    computed_filter = False

    def _build_filter(self) -> None:
        # stored at its working scale, so that unit-variance logits start it (see the module docstring)
        self.W_A = nn.Parameter(torch.randn(self.L, self.C) / math.sqrt(self.C // self.heads))

    def forward(self, X: torch.Tensor, T_in: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        check_feature_map(X, self.C)
        return self.tokens(X, self.W_A.expand(X.shape[0], -1, -1))


class DynamicTokenizer(Tokenizer):
    """Equation (5): keep T_in,b, renew T_in,a's half from the filter W_A = T_in,a W_{T→WA}.

    forward(X (N, C, H, W), T_in (N, L, CT)) → T'_in (N, L, CT), A (N, heads, HW, L/2).
    ``centre_filter_tokens``: centre T_in,a over its tokens before W_{T→WA} (see the module docstring).
    """

    def __init__(self, *args, centre_filter_tokens: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.centre_filter_tokens = centre_filter_tokens

    def _build_filter(self) -> None:
        if self.L % 2:
            raise ValueError(f"dynamic tokenization splits the L tokens into halves: expected an even L, "
                             f"got L={self.L}")
        self.W_T_to_WA = TokenConv(self.CT, self.C)

    def forward(self, X: torch.Tensor, T_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_feature_map(X, self.C)
        check_tokens(T_in, self.L, self.CT, name="input tokens T_in")
        T_a, T_b = T_in.chunk(2, dim=1)
        new_tokens, A = self.tokens(X, self.filter(T_a))
        return torch.cat([T_b, new_tokens], dim=1), A

    def filter(self, T_a: torch.Tensor) -> torch.Tensor:
        """W_A = T_in,a W_{T→WA} (T_in,a centred over its tokens first with ``centre_filter_tokens``, when it has
        more than one): (N, L/2, CT) → (N, L/2, C), before the logits' scale."""
        if self.centre_filter_tokens and T_a.shape[1] > 1:
            T_a = T_a - T_a.mean(dim=1, keepdim=True)
        return self.W_T_to_WA(T_a)


def _position_encoder(position_encoding: bool | PositionEncoder, heads: int) -> PositionEncoder | None:
    """The encoder a tokenizer with ``heads`` maps per token uses: a given one (checked to fit), a default one or
    none."""
    if isinstance(position_encoding, PositionEncoder):
        if position_encoding.heads != heads:
            raise ValueError(f"expected a position encoder over the tokenizer's {heads} coefficient map(s) per token, "
                             f"got one over {position_encoding.heads}")
        return position_encoding
    return PositionEncoder(heads) if position_encoding else None
