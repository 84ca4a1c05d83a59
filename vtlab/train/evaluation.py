"""Evaluating a saved run: its weights (checked against their SHA-256), its model and data as recorded in
run.json."""

from __future__ import annotations

import json
from pathlib import Path

from torch.utils.data import DataLoader

from .._checks import check_positive
from ..data import check_same_classes
from ..models import create_model, model_task
from .checkpoint import CheckpointError, load_weights, read_run_json
from .engine import create_data, evaluate, resolve_device

EVAL_KEYS = ("model", "num_classes", "model_options", "data", "recipe", "config.image_size", "config.train_size")


def load_run(run: str | Path, ema: bool = False):
    """(model with the run's weights, run.json as a dict) from a run folder."""
    run = Path(run)
    info = read_run_json(run, EVAL_KEYS)
    try:
        options = json.loads(info["model_options"])
    except (TypeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{run / 'run.json'} holds unreadable model_options {info['model_options']!r}") from error
    model = create_model(info["model"], num_classes=info["num_classes"], **options)
    weights = run / ("ema.safetensors" if ema else "model.safetensors")
    if ema and not weights.exists():
        raise FileNotFoundError(f"no EMA weights in {run}: its recipe ({info['recipe']}) keeps no EMA")
    load_weights(model, weights)
    return model, info


def evaluate_run(run: str | Path, split: str = "val", ema: bool = False, data: str | None = None,
                 device: str = "auto", batch_size: int = 128) -> dict[str, float]:
    """A run's weights on a split of its data (or of ``data``): {"loss", "acc", "images"}, and "miou" for
    segmentation runs (whose "acc" is pixel accuracy)."""
    check_positive(batch_size=batch_size)
    model, info = load_run(run, ema)
    task = model_task(info["model"])
    dataset = create_data(task, data or info["data"], split, info["config"]["image_size"],
                          length=info["config"]["train_size"] if split == "train" else info["config"].get("val_size"))
    if dataset.num_classes != info["num_classes"]:
        raise ValueError(f"{data} has {dataset.num_classes} classes; the run's model predicts {info['num_classes']}")
    if "classes" in info:  # the run's training classes, in label order
        check_same_classes(info["classes"], dataset.classes, data or info["data"])
    target = resolve_device(device)
    result = evaluate(model.to(target), DataLoader(dataset, batch_size), target,
                      num_classes=dataset.num_classes if task == "segment" else None)
    return {**result, "images": len(dataset)}
