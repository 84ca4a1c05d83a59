"""Checkpoints that survive interruption and load without unpickling code.

A run folder holds ``checkpoint.pt`` (model, EMA, optimizer, scheduler and RNG state: tensors and plain
values only, so ``torch.load(weights_only=True)`` reads it) and ``model.safetensors`` / ``ema.safetensors``
(the weights alone). Every file is written to a temporary name beside its target and renamed over it, so a
run killed mid-write leaves the previous file whole.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn


def atomic_write(path: Path, write) -> None:
    """Call ``write(temporary_path)``, then rename the temporary file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what a plain open() would have given, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def save_weights(model: nn.Module, path: Path) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, tmp))


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a ``.safetensors`` file into ``model``; a file from another architecture raises ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file {path}")
    state = load_file(str(path))
    own = unwrap(model).state_dict()
    if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
        raise ValueError(f"{path} holds weights of another model: {len(set(state) ^ set(own))} names and "
                         f"{sum(state[k].shape != own[k].shape for k in set(state) & set(own))} shapes differ")
    unwrap(model).load_state_dict(state)


def save_checkpoint(path: Path, state: dict) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
