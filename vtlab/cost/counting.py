"""Counting multiply-accumulates (MACs) and parameters the way the paper does.

Convention (it gives torchvision's ResNet-18 the paper's 1.814 GMACs at 224×224): one multiply-add of a
convolution, a linear layer or a matrix product (matmul, bmm, einsum, and the two products a fused
``scaled_dot_product_attention`` call makes) is one MAC; normalization, pooling,
activations, softmax and other element-wise work are not counted. Parameters are those of convolutions,
linear layers and free weights such as W_A; normalization layers' affine parameters are not counted, which
is what reproduces the paper's baseline figures (ResNet-50: 25.557 M in torchvision, 25.5 M in Table 1).

MACs come from fvcore's tracing counter, restricted to those operators; einsum gets an exact handle
(fvcore's own reads numpy's rounded printout).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

with warnings.catch_warnings():  # fvcore scripts a loss with torch.jit at import, which torch deprecates
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn.jit_handles import (
        addmm_flop_jit,
        bmm_flop_jit,
        conv_flop_jit,
        get_shape,
        linear_flop_jit,
        matmul_flop_jit,
    )

NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def _einsum_macs(inputs, outputs) -> int:
    """MACs of a two-operand einsum: the product of the sizes of all its indices."""
    equation = inputs[0].toIValue().replace(" ", "")
    operands = equation.split("->")[0].split(",")
    shapes = [get_shape(v) for v in inputs[1].node().inputs()]
    if "." in equation or len(operands) != 2:
        raise NotImplementedError(f"MAC counting supports two-operand einsums without ellipsis, got {equation!r}")
    sizes = {index: size for term, shape in zip(operands, shapes, strict=True)
             for index, size in zip(term, shape, strict=True)}
    return math.prod(sizes.values())


def _attention_macs(inputs, outputs) -> int:
    """MACs of scaled_dot_product_attention(q, k, v): the two products it fuses, q kᵀ and (softmax) v."""
    q, k, v = (get_shape(value) for value in inputs[:3])
    *batch, queries, d = q
    keys, d_v = k[-2], v[-1]
    return math.prod(batch) * queries * keys * (d + d_v)


MAC_HANDLES = {
    "aten::_convolution": conv_flop_jit,
    "aten::addmm": addmm_flop_jit,
    "aten::linear": linear_flop_jit,
    "aten::matmul": matmul_flop_jit,
    "aten::mm": matmul_flop_jit,
    "aten::bmm": bmm_flop_jit,
    "aten::einsum": _einsum_macs,
    "aten::scaled_dot_product_attention": _attention_macs,
}
# Traced, but not multiply-adds under the paper's convention.
_IGNORED = ["aten::batch_norm", "aten::layer_norm", "aten::group_norm", "aten::instance_norm",
            "aten::upsample_bilinear2d", "aten::upsample_nearest2d", "aten::adaptive_avg_pool2d",
            "aten::max_pool2d", "aten::softmax", "aten::add", "aten::add_", "aten::mul", "aten::div",
            "aten::mean", "aten::relu", "aten::relu_", "aten::cat", "aten::dropout", "aten::sum"]


def _as_hw(input_size: int | tuple[int, int]) -> tuple[int, int]:
    hw = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(hw) != 2 or not all(isinstance(s, int) and s > 0 for s in hw):
        raise ValueError(f"expected input_size as an int or (H, W) of positive ints, got {input_size!r}")
    return hw


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    was_training = model.training
    try:
        yield model.eval()
    finally:
        model.train(was_training)


Inputs = torch.Tensor | tuple[torch.Tensor, ...]


def _example(model: nn.Module, input_size: int | tuple[int, int], channels: int, inputs: Inputs | None) -> Inputs:
    if inputs is not None:
        return inputs
    H, W = _as_hw(input_size)
    return torch.zeros(1, channels, H, W, device=next(model.parameters()).device)


def mac_analysis(model: nn.Module, input_size: int | tuple[int, int] = 224, channels: int = 3,
                 inputs: Inputs | None = None) -> FlopCountAnalysis:
    """An fvcore analysis of one (1, channels, H, W) forward pass with the paper's MAC convention.

    ``inputs`` replaces the zero image for modules that take something else (e.g. tokens (1, L, CT)).
    ``.total()`` is the MAC count, ``.by_module()`` the same per submodule name (e.g. ``"layer4"``, ``"vt"``).
    """
    analysis = FlopCountAnalysis(model, _example(model, input_size, channels, inputs))
    analysis._op_handles = dict(MAC_HANDLES)
    analysis.set_op_handle(**{name: None for name in _IGNORED})
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis


def macs_by_module(model: nn.Module, input_size: int | tuple[int, int] = 224, channels: int = 3,
                   inputs: Inputs | None = None) -> dict[str, int]:
    """MACs of every submodule (by qualified name, "" for the whole model) for one input."""
    with _eval_mode(model), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and torch.jit deprecation warnings
        analysis = mac_analysis(model, input_size, channels, inputs)
        return {name: int(v) for name, v in analysis.by_module().items()}


def count_macs(model: nn.Module, input_size: int | tuple[int, int] = 224, channels: int = 3,
               inputs: Inputs | None = None) -> int:
    """Multiply-accumulates of one forward pass on a (1, channels, H, W) input, the paper's convention.

    ``inputs``: explicit example inputs instead, for modules that do not take images (e.g. a
    :class:`~vtlab.vt.Transformer` on tokens (1, L, CT)).
    """
    return macs_by_module(model, input_size, channels, inputs)[""]


def count_params(model: nn.Module, include_norm: bool = False) -> int:
    """Parameters of ``model``; normalization layers' affine parameters only with ``include_norm=True``."""
    norm_params = {id(p) for m in model.modules() if isinstance(m, NORM_LAYERS) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if include_norm or id(p) not in norm_params)


def neck_inputs(model: nn.Module, input_size: int | tuple[int, int]) -> list[torch.Tensor]:
    """Zero feature maps (1, C_i, H_i, W_i) of the shapes that ``model.backbone`` gives for one image of
    ``input_size``, found on the meta device (a copy of the backbone, nothing computed)."""
    H, W = _as_hw(input_size)
    backbone = copy.deepcopy(model.backbone).to("meta").eval()
    with torch.no_grad():
        shapes = [f.shape for f in backbone(torch.zeros(1, 3, H, W, device="meta"))]
    return [torch.zeros(shape) for shape in shapes]


def neck_macs_by_module(model: nn.Module, input_size: int | tuple[int, int]) -> dict[str, int]:
    """MACs of ``model.fpn`` and of each of its submodules (qualified names within the neck, "" for the whole
    neck) for one image of ``input_size``, the paper's convention with vtlab's counter: what
    ``macs_by_module(model, input_size)`` gives under ``"fpn"``, without tracing the backbone and the head."""
    return macs_by_module(model.fpn, inputs=(neck_inputs(model, input_size),))


def neck_macs(model: nn.Module, input_size: int | tuple[int, int]) -> int:
    """MACs of ``model.fpn`` alone for one image of ``input_size`` (Table 4's "FPN MACs")."""
    return neck_macs_by_module(model, input_size)[""]
