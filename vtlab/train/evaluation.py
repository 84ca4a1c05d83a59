"""Evaluating a saved run: its weights (checked against their SHA-256), its model and data as recorded in
run.json."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from .._checks import check_positive
from ..data import check_same_classes, scan_dataset
from ..models import create_model, model_task
from .checkpoint import checkpoint_epoch, load_weights, recorded_metadata
from .engine import create_data, evaluate, resolve_device
from .run_folder import read_run


def load_run(run: str | Path, ema: bool = False):
    """(model with the run's weights, run.json as a dict) from a run folder."""
    run = Path(run)
    info = read_run(run)  # every key checked by type and range
    model = create_model(info["model"], num_classes=info["num_classes"], **info["options"])
    weights = run / ("ema.safetensors" if ema else "model.safetensors")
    if ema and not weights.exists():
        raise FileNotFoundError(f"no EMA weights in {run}: its recipe ({info['recipe']}) keeps no EMA")
    load_weights(model, weights)
    _check_current(run, weights)
    return model, info


def _check_current(run: Path, weights: Path) -> None:
    """Raise ValueError if the weights end an earlier epoch than the run's checkpoint: a run interrupted between
    its writes, whose weights a resume would complete."""
    written = recorded_metadata(weights).get("epoch")
    latest = checkpoint_epoch(run / "checkpoint.pt") if (run / "checkpoint.pt").exists() else None
    if written is not None and latest is not None and int(written) != latest:
        raise ValueError(f"{weights} holds the weights of epoch {written} but {run / 'checkpoint.pt'} ends epoch "
                         f"{latest}: the run was interrupted between its writes; `vtlab train --resume` with its "
                         f"settings and --out {run} completes it")


def evaluate_run(run: str | Path, split: str = "val", ema: bool = False, data: str | None = None,
                 device: str = "auto", batch_size: int = 128) -> dict[str, float]:
    """A run's weights on a split of its data (or of ``data``): {"loss", "acc", "images"}, and "miou" for
    segmentation runs (whose "acc" is pixel accuracy)."""
    check_positive(batch_size=batch_size)
    model, info = load_run(run, ema)
    task = model_task(info["model"])
    config = info["config"]
    dataset = create_data(task, data or info["data"], split, config.get("image_size"),
                          length=config.get("train_size") if split == "train" else config.get("val_size"))
    dataset = scan_dataset(dataset, split=split)
    if dataset.num_classes != info["num_classes"]:
        raise ValueError(f"{data} has {dataset.num_classes} classes; the run's model predicts {info['num_classes']}")
    if "classes" in info:  # the run's training classes, in label order
        check_same_classes(info["classes"], dataset.classes, data or info["data"])
    target = resolve_device(device)
    model = model.to(target, memory_format=torch.channels_last)  # as the run validated it
    result = evaluate(model, DataLoader(dataset, batch_size), target,
                      num_classes=dataset.num_classes if task == "segment" else None)
    return {**result, "images": len(dataset)}
