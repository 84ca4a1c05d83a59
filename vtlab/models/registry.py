"""A registry of model builders: ``create_model(name, **kwargs)`` is the one entry point (as in timm)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register ``builder`` under its function name."""
    if builder.__name__ in _BUILDERS:
        raise ValueError(f"a model named {builder.__name__!r} is already registered")
    _BUILDERS[builder.__name__] = builder
    return builder


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (e.g. ``"vt_*"``), sorted."""
    return sorted(name for name in _BUILDERS if fnmatch.fnmatch(name, pattern))


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name``; keyword arguments go to its builder (e.g. ``num_classes``)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(list_models())}")
    return _BUILDERS[name](**kwargs)
