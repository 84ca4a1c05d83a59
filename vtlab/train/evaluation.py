"""Evaluating a saved run: its weights, its model and data as recorded in run.json."""

from __future__ import annotations

import json
from pathlib import Path

from torch.utils.data import DataLoader

from ..models import create_model, model_task
from .checkpoint import load_weights
from .engine import create_data, evaluate, resolve_device


def load_run(run: str | Path, ema: bool = False):
    """(model with the run's weights, run.json as a dict) from a run folder."""
    run = Path(run)
    if not (run / "run.json").is_file():
        raise FileNotFoundError(f"no run.json in {run}: expected a folder written by `vtlab train`")
    info = json.loads((run / "run.json").read_text())
    model = create_model(info["model"], num_classes=info["num_classes"], **json.loads(info["model_options"]))
    weights = run / ("ema.safetensors" if ema else "model.safetensors")
    if ema and not weights.exists():
        raise FileNotFoundError(f"no EMA weights in {run}: its recipe ({info['recipe']}) keeps no EMA")
    load_weights(model, weights)
    return model, info


def evaluate_run(run: str | Path, split: str = "val", ema: bool = False, data: str | None = None,
                 device: str = "auto", batch_size: int = 128) -> dict[str, float]:
    """A run's weights on a split of its data (or of ``data``): {"loss", "acc", "images"}, and "miou" for
    segmentation runs (whose "acc" is pixel accuracy)."""
    model, info = load_run(run, ema)
    task = model_task(info["model"])
    dataset = create_data(task, data or info["data"], split, info["config"]["image_size"],
                          length=info["config"]["train_size"] if split == "train" else info["config"].get("val_size"))
    if dataset.num_classes != info["num_classes"]:
        raise ValueError(f"{data} has {dataset.num_classes} classes; the run's model predicts {info['num_classes']}")
    target = resolve_device(device)
    result = evaluate(model.to(target), DataLoader(dataset, batch_size), target,
                      num_classes=dataset.num_classes if task == "segment" else None)
    return {**result, "images": len(dataset)}
