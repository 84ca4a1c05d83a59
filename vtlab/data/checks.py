"""The one place that says what each argument of the data layer takes: :func:`check_inputs` checks arguments
by name (type and range), :func:`check_choice` an argument that names one of a few choices. Every entry
point and dataset constructor of :mod:`vtlab.data` calls them before using what it was given, so that a
wrong type fails with one line naming the argument instead of deep inside torch or PIL."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence

from .._checks import check_positive

SEED_RANGE = (-(2**63), 2**64)  # what torch.Generator.manual_seed takes


def _shown(value: object) -> str:
    return repr(value) if type(value) in (int, float, bool, str) else f"{value!r} ({type(value).__name__})"


def _fail(name: str, expected: str, value: object) -> None:
    raise ValueError(f"expected {name} to be {expected}, got {_shown(value)}")


def _text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        _fail(name, "a non-empty string", value)


def _path(name: str, value: object) -> None:
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        _fail(name, "a path (str or pathlib.Path)", value)


def _callable_or_none(name: str, value: object) -> None:
    if value is not None and not callable(value):
        _fail(name, "a callable or None", value)


def _positive_or_none(name: str, value: object) -> None:
    if value is not None:
        check_positive(**{name: value})


def _positive(name: str, value: object) -> None:
    check_positive(**{name: value})


def _seed(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not \
            SEED_RANGE[0] <= value < SEED_RANGE[1]:
        _fail(name, "an integer (a random seed)", value)


def _flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        _fail(name, "True or False", value)


def _probability(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        _fail(name, "a number in [0, 1]", value)


def _fraction(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or \
            not 0 < value < 1:
        _fail(name, "a number > 0 and < 1", value)


RULES: dict[str, Callable[[str, object], None]] = {
    "data": _text, "variant": _text, "root": _path, "transform": _callable_or_none,
    "image_size": _positive_or_none, "length": _positive_or_none, "size": _positive, "seed": _seed,
    "download": _flag, "train": _flag, "skip_bad": _flag, "progress": _flag,
    "flip_p": _probability, "p": _probability, "val_fraction": _fraction,
}


def check_inputs(**values: object) -> None:
    """Check each keyword by its name's rule in :data:`RULES`; raise ValueError("expected <name> to be <what>,
    got <value>") for the first that breaks it."""
    for name, value in values.items():
        RULES[name](name, value)


def check_choice(name: str, value: object, choices: Sequence[str]) -> None:
    """Raise ValueError("unknown <name> <value>; expected 'a', 'b' or 'c'") unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        quoted = [repr(choice) for choice in choices]
        listed = f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
        raise ValueError(f"unknown {name} {_shown(value)}; expected {listed}")
