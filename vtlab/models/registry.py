"""A registry of model builders: ``create_model(name, **kwargs)`` is the one entry point (as in timm)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_INPUT_SIZES: dict[str, int] = {}
_TASKS: dict[str, str] = {}
TASKS = ("classify", "segment")


def register_model(builder: Callable[..., nn.Module] | None = None, *, input_size: int = 224,
                   task: str = "classify"):
    """Decorator, bare or with ``input_size`` (the image size the model is meant for) and ``task`` ("classify":
    logits (N, classes); "segment": per-pixel logits (N, classes, H, W)): register ``builder`` under its
    function name."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")

    def register(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if builder.__name__ in _BUILDERS:
            raise ValueError(f"a model named {builder.__name__!r} is already registered")
        _BUILDERS[builder.__name__] = builder
        _INPUT_SIZES[builder.__name__] = input_size
        _TASKS[builder.__name__] = task
        return builder

    return register(builder) if builder is not None else register


def model_input_size(name: str) -> int:
    """The image size a registered model is meant for (224 for the ImageNet models)."""
    _check_known(name)
    return _INPUT_SIZES[name]


def model_task(name: str) -> str:
    """What a registered model predicts: "classify" (one label per image) or "segment" (one per pixel)."""
    _check_known(name)
    return _TASKS[name]


def _check_known(name: str) -> None:
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(list_models())}")


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (e.g. ``"vt_*"``), sorted."""
    return sorted(name for name in _BUILDERS if fnmatch.fnmatch(name, pattern))


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name``; keyword arguments go to its builder (e.g. ``num_classes``)."""
    _check_known(name)
    return _BUILDERS[name](**kwargs)
