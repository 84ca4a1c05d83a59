"""Argument and input checks shared by every module: each failure is a ``ValueError`` that says what was
expected and what came."""

from __future__ import annotations

import torch


def check_divisible(what: str, value: int, by_what: str, by: int) -> None:
    """Raise unless ``by`` divides ``value`` (e.g. heads must divide the channels they split)."""
    if by < 1 or value % by:
        raise ValueError(f"{by_what}={by} must divide {what}={value}")


def check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected {name} to be a positive integer, got {value!r}")


def check_input_dtype(module: torch.nn.Module, args: tuple) -> None:
    """A forward pre-hook: a floating input batch must have the dtype of the module's weights, unless autocast
    is on for its device (CUDA or CPU autocast casts it). Without autocast a float16 batch into float32 weights
    (or float64 into float32) fails deep inside a convolution; here it is a ValueError saying why."""
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or torch.is_autocast_enabled(x.device.type):
        return
    weights = next((p for p in module.parameters() if p.is_floating_point()), None)
    if weights is not None and x.dtype != weights.dtype:
        raise ValueError(f"expected an input batch of {weights.dtype} like the model's weights (or a run under "
                         f"torch.autocast), got {x.dtype}: convert it with x.to({weights.dtype}) or the model with "
                         f".to({x.dtype})")


def check_feature_map(X: torch.Tensor, channels: int, name: str = "feature map") -> None:
    """A feature map is a 4D tensor (N, C, H, W) with the module's C."""
    if not isinstance(X, torch.Tensor) or X.dim() != 4:
        shape = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
        raise ValueError(f"expected the {name} as a 4D tensor (N, {channels}, H, W), got {shape}")
    if X.shape[1] != channels:
        raise ValueError(f"expected the {name} to have {channels} channels (N, {channels}, H, W), "
                         f"got shape {tuple(X.shape)}")


def check_tokens(T: torch.Tensor, tokens: int | None, channels: int, name: str = "tokens") -> None:
    """Visual tokens are a 3D tensor (N, L, CT)."""
    want = f"(N, {tokens if tokens is not None else 'L'}, {channels})"
    if not isinstance(T, torch.Tensor) or T.dim() != 3:
        shape = tuple(T.shape) if isinstance(T, torch.Tensor) else type(T).__name__
        raise ValueError(f"expected {name} as a 3D tensor {want}, got {shape}")
    if T.shape[2] != channels or (tokens is not None and T.shape[1] != tokens):
        raise ValueError(f"expected {name} of shape {want}, got {tuple(T.shape)}")


def check_image_batch(x: torch.Tensor, min_size: int = 32) -> None:
    """Models take non-empty RGB batches (N >= 1, 3, H, W) of normalised floats, with H, W >= ``min_size``."""
    check_feature_map(x, 3, name="input image batch")
    if not x.is_floating_point():
        raise ValueError(f"expected the input image batch as floats (normalised, e.g. by the dataset's transform; "
                         f"uint8 images: x.float() / 255, then normalise), got {x.dtype}")
    if x.shape[0] == 0:
        raise ValueError(f"expected at least one image in the input batch, got an empty batch {tuple(x.shape)}")
    if min(x.shape[-2:]) < min_size:
        raise ValueError(f"expected images of at least {min_size}x{min_size} pixels, "
                         f"got {x.shape[-2]}x{x.shape[-1]}")
