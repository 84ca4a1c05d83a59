"""One call at the top of every notebook: deterministic numbers, the vtlab plotly renderer, the device."""

from __future__ import annotations

import random
from collections.abc import Mapping

import numpy as np
import torch

from .render import use_vtlab_renderer


def setup_notebook(seed: int = 0, threads: int = 2) -> torch.device:
    """Seed Python, NumPy and torch, fix torch's CPU thread count (float sums depend on it), use deterministic
    algorithms where torch has them, register the ``vtlab`` plotly renderer, and return the device to use:
    CUDA when there is one, else the CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    use_vtlab_renderer()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_answers(namespace: Mapping[str, object], expected: Mapping[str, object], rtol: float = 1e-6) -> None:
    """Check a learner's exercise answers without printing the expected values.

    ``expected`` maps a variable name (e.g. ``"answer_1"``) to the right value: a number, a bool, or a tensor /
    array (compared with relative tolerance ``rtol``). ``namespace`` is where the learner's variables live, usually
    ``globals()``. Prints one line per answer: not answered yet, right, or not yet right. A notebook
    executed without answers prints the same lines on every run, so the cell can be compared by nbval."""
    lines = []
    for name, want in expected.items():
        if name not in namespace:
            verdict = "not answered yet"
        else:
            verdict = "right" if _same(namespace[name], want, rtol) else "not yet right: try again"
        lines.append(f"{name}: {verdict}")
    print("\n".join(lines))


def _same(given: object, want: object, rtol: float) -> bool:
    try:
        if isinstance(want, bool) or isinstance(given, bool):
            return bool(given) == bool(want) and isinstance(given, bool | np.bool_ | torch.Tensor)
        a = torch.as_tensor(np.asarray(given, dtype=float) if not isinstance(given, torch.Tensor) else given).double()
        b = torch.as_tensor(np.asarray(want, dtype=float) if not isinstance(want, torch.Tensor) else want).double()
        return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=0.0))
    except (TypeError, ValueError, RuntimeError):
        return False
