"""Evaluation: a model's loss, accuracy (and mIoU) over a loader (:func:`evaluate`, which training validates
with), and a saved run's weights (checked against their SHA-256) on its data as recorded in run.json
(:func:`evaluate_run`)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from .._checks import check_positive
from ..data import IGNORE_INDEX, check_same_classes, create_data, scan_dataset
from ..models import create_model, model_task
from .checkpoint import checkpoint_epoch, load_weights, recorded_metadata
from .config import resolve_device
from .distributed import Distributed, all_reduce_sum
from .metrics import segmentation_metrics
from .run_folder import read_run


def autocast_for(device: torch.device):
    """(autocast context, loss scaler or None): bf16 on CUDA (fp16 with loss scaling where bf16 is missing),
    nothing elsewhere."""
    if device.type != "cuda":
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


NO_IGNORE = -100  # classification: every label counts (255 is a real ImageNet class)


def count_correct(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> tuple[int, int]:
    """(correct, labelled): images, or pixels whose label is not ``ignore_index``."""
    labelled = labels != ignore_index
    return int(((logits.argmax(1) == labels) & labelled).sum()), int(labelled.sum())


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, ctx: Distributed | None = None,
             num_classes: int | None = None) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and accuracy ``acc`` over ``loader`` (per image, or per labelled pixel),
    summed across processes; with ``num_classes`` (segmentation) also the mean IoU ``miou``. Batches are
    channels_last, as in training (module docstring)."""
    ctx = ctx or Distributed()
    model.eval()
    autocast, _ = autocast_for(device)
    ignore = IGNORE_INDEX if num_classes else NO_IGNORE
    loss_sum = correct = count = 0.0
    miou = segmentation_metrics(num_classes).to(device) if num_classes else None
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        images = images.contiguous(memory_format=torch.channels_last)
        with autocast:
            logits = model(images)
        loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum", ignore_index=ignore).item()
        right, labelled = count_correct(logits, labels, ignore)
        correct, count = correct + right, count + labelled
        if miou is not None:
            miou.update(logits.argmax(1), labels)
    loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], device, ctx)
    if count == 0:
        raise ValueError("the validation set is empty, or holds no labelled pixel (every mask value one the dataset "
                         "ignores)")
    result = {"loss": loss_sum / count, "acc": correct / count}
    if miou is not None:
        result["miou"] = float(miou.compute()["miou"])
    return result


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
    latest = checkpoint_epoch(run / "checkpoint.pt")
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
