"""Argument and input checks shared by every module: each failure is a ``ValueError`` that says what was
expected and what came."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Expect:
    """What one argument or option takes: its type (``int``, ``float``, ``bool`` or ``str``) and, for a number,
    its range (``low`` <= value, ``above`` < value, value <= ``high``, value < ``below``) or, for a string,
    its ``choices``.

    One table of these per API (a model's keywords, :class:`~vtlab.vt.VTConfig`'s fields) is the single place
    that says what each option takes; :meth:`check` raises the one-line ValueError naming the option, what it
    takes and what came. A bool is no integer here and a string no number, so ``"False"`` or ``"0.1"`` never
    passes for the value it spells."""

    kind: type
    low: float | None = None
    above: float | None = None
    high: float | None = None
    below: float | None = None
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """What the option takes, in words: "a positive integer", "a number >= 0 and < 1", "True or False"."""
        if self.kind is bool:
            return "True or False"
        if self.kind is str:
            return f"one of {', '.join(map(repr, self.choices))}" if self.choices else "a string"
        if self.kind is int and self.low == 1 and (self.above, self.high, self.below) == (None, None, None):
            return "a positive integer"
        limits = ((">=", self.low), (">", self.above), ("<=", self.high), ("<", self.below))
        bounds = [f"{sign} {bound:g}" for sign, bound in limits if bound is not None]
        return f"{'an integer' if self.kind is int else 'a number'}{' ' if bounds else ''}{' and '.join(bounds)}"

    def accepts(self, value: object) -> bool:
        """Whether ``value`` is of the type and in the range this takes (NaN and infinity are no numbers here)."""
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is str:
            return isinstance(value, str) and (not self.choices or value in self.choices)
        number = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
            return False
        return ((self.low is None or value >= self.low) and (self.above is None or value > self.above)
                and (self.high is None or value <= self.high) and (self.below is None or value < self.below))

    def check(self, name: str, value: object) -> None:
        """Raise ``ValueError("expected <name> to be <what>, got <value> (<its type>)")`` unless ``value`` fits."""
        if not self.accepts(value):
            shown = repr(value) if type(value) in (int, float, bool) else f"{value!r} ({type(value).__name__})"
            raise ValueError(f"expected {name} to be {self.describe()}, got {shown}")


POSITIVE_INT = Expect(int, low=1)


def check_options(values: Mapping[str, object], table: Mapping[str, Expect]) -> None:
    """Check each of ``values`` that ``table`` names against its :class:`Expect` (names it lacks are the
    caller's to judge)."""
    for name, value in values.items():
        if name in table:
            table[name].check(name, value)


def check_keys(what: str, record: object, keys: Sequence[str]) -> None:
    """Raise unless ``record`` is a mapping holding every one of ``keys`` (e.g. a row of ``metrics.csv``)."""
    if not isinstance(record, Mapping):
        raise ValueError(f"expected {what} as a mapping with keys {', '.join(keys)}, got {type(record).__name__}")
    missing = [key for key in keys if key not in record]
    if missing:
        raise ValueError(f"expected {what} with keys {', '.join(keys)}; it lacks {', '.join(map(repr, missing))} "
                         f"(it has {', '.join(map(str, record)) or 'none'})")


def check_finite(what: str, values: torch.Tensor) -> None:
    """Raise unless every value of ``values`` is a finite number (a NaN map would draw as an empty panel)."""
    bad = int((~torch.isfinite(values)).sum()) if values.is_floating_point() else 0
    if bad:
        raise ValueError(f"expected {what} of finite values, got {bad} NaN or infinite of {values.numel()}")


def check_divisible(what: str, value: int, by_what: str, by: int) -> None:
    """Raise unless ``by`` divides ``value`` (e.g. heads must divide the channels they split)."""
    if by < 1 or value % by:
        raise ValueError(f"{by_what}={by} must divide {what}={value}")


def check_positive(**values: int) -> None:
    """Raise unless every keyword's value is a positive integer (a bool is none)."""
    for name, value in values.items():
        POSITIVE_INT.check(name, value)


def check_input_dtype(module: torch.nn.Module, args: tuple) -> None:
    """A forward pre-hook: a floating input batch must have the dtype of the module's weights, unless autocast
    is on for its device (CUDA or CPU autocast casts it). Without autocast a float16 batch into float32 weights
    (or float64 into float32) fails deep inside a convolution; here it is a ValueError saying why."""
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or _autocast_on(x.device.type):
        return
    weights = next((p for p in module.parameters() if p.is_floating_point()), None)
    if weights is not None and x.dtype != weights.dtype:
        raise ValueError(f"expected an input batch of {weights.dtype} like the model's weights (or a run under "
                         f"torch.autocast), got {x.dtype}: convert it with x.to({weights.dtype}) or the model with "
                         f".to({x.dtype})")


def _autocast_on(device_type: str) -> bool:
    """Whether autocast is on for ``device_type``; False for a device autocast does not know (``meta``, whose
    tensors have no values to cast: a model on it is only traced for shapes)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except RuntimeError:
        return False


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
