"""A registry of model builders: ``create_model(name, **kwargs)`` is the one entry point (as in timm)."""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable

from torch import nn

from .._checks import POSITIVE_INT, Expect, check_input_dtype, check_options
from ..vt.block import VT_OPTIONS

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_INPUT_SIZES: dict[str, int] = {}
_TASKS: dict[str, str] = {}
TASKS = ("classify", "segment")
# What the builders' own keywords take; a VT model's other keywords are VTConfig fields (VT_OPTIONS).
BUILDER_OPTIONS: dict[str, Expect] = {"num_classes": POSITIVE_INT, "dropout": Expect(float, low=0, below=1)}


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
    if not isinstance(name, str):
        raise ValueError(f"expected a model name (a str, e.g. 'vt_resnet18'), got {name!r} ({type(name).__name__})")
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(list_models())}")


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (e.g. ``"vt_*"``), sorted."""
    return sorted(name for name in _BUILDERS if fnmatch.fnmatch(name, pattern))


def check_model_options(name: str, options: dict) -> None:
    """Raise ValueError unless the builder of ``name`` takes every keyword of ``options`` (e.g. the VT options of
    an ablation, which plain ResNets and FPNs do not have) and each value is of the type and in the range it
    takes (:data:`BUILDER_OPTIONS`, and :data:`~vtlab.vt.block.VT_OPTIONS` for the VT options): the one check
    that :func:`create_model` and a run's settings go through before anything is built."""
    _check_known(name)
    if not isinstance(options, dict):
        raise ValueError(f"expected the options of model {name!r} as a dict, got {type(options).__name__}")
    parameters = inspect.signature(_BUILDERS[name]).parameters
    own = [p.name for p in parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    takes_vt_options = len(own) < len(parameters)  # VT models pass their other keywords on to VTConfig
    unknown = sorted(set(options) - set(own) - (set(VT_OPTIONS) if takes_vt_options else set()))
    if unknown and takes_vt_options:
        raise ValueError(f"unknown VT options {unknown}; expected some of {sorted(VT_OPTIONS)} (or the model's "
                         f"own {', '.join(own)})")
    if unknown:
        kind = "VT options (ablations apply to vt_* models)" if name.startswith(("resnet", "fpn")) else "options"
        raise ValueError(f"model {name!r} takes no {', '.join(map(repr, unknown))}: it has no such {kind}; its "
                         f"options are {', '.join(parameters) or 'none'}")
    check_options(options, {**VT_OPTIONS, **BUILDER_OPTIONS})


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name``; keyword arguments go to its builder (``num_classes``, a positive
    integer; ``dropout`` for classifiers, in [0, 1); and for ``vt_*`` models any :class:`~vtlab.vt.VTConfig`
    field), each checked by :func:`check_model_options` first."""
    check_model_options(name, kwargs)
    model = _BUILDERS[name](**kwargs)
    model.register_forward_pre_hook(check_input_dtype)
    return model
