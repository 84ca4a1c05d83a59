"""A registry of model builders: ``create_model(name, **kwargs)`` is the one entry point (as in timm)."""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable

from torch import nn

from .._checks import check_input_dtype

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


def check_model_options(name: str, options: dict) -> None:
    """Raise ValueError unless the builder of ``name`` takes every keyword of ``options`` (e.g. the VT options of
    an ablation, which plain ResNets and FPNs do not have)."""
    _check_known(name)
    parameters = inspect.signature(_BUILDERS[name]).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return  # VT models pass their options on to VTConfig, which names what it does not know
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        kind = "VT options (ablations apply to vt_* models)" if name.startswith(("resnet", "fpn")) else "options"
        raise ValueError(f"model {name!r} takes no {', '.join(map(repr, unknown))}: it has no such {kind}; its "
                         f"options are {', '.join(parameters) or 'none'}")


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name``; keyword arguments go to its builder (e.g. ``num_classes``, a
    positive integer)."""
    check_model_options(name, kwargs)
    if "num_classes" in kwargs:
        value = kwargs["num_classes"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected num_classes to be a positive integer, got {value!r}")
    model = _BUILDERS[name](**kwargs)
    model.register_forward_pre_hook(check_input_dtype)
    return model
