"""One call at the top of every notebook: deterministic numbers, the vtlab plotly renderer, the device."""

from __future__ import annotations

import random

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
