"""The training engine behind ``vtlab train``: a recipe, a model and a dataset in; metrics and checkpoints out.

One loop for both tasks: classification (labels per image) and semantic segmentation (labels per pixel, with
unlabelled pixels ignored; validation adds mIoU), chosen by the model (:func:`vtlab.models.model_task`).

One code path for every device: models and batches are channels_last everywhere (on the CPU a training step
of the mini models takes 1.15-1.5x less time so); CUDA gets bf16 autocast (fp16 with loss scaling where bf16 is
missing) and optional ``torch.compile``; the CPU runs in float32. Under ``torchrun`` it runs DDP with a
distributed sampler (NCCL on GPUs, gloo on CPUs) and, where the recipe asks and the run is on CUDA,
SyncBatchNorm (PyTorch's DDP rejects it on CPU modules).

A run folder OUT receives ``run.json`` (what was run), ``metrics.csv`` (one row per epoch), ``checkpoint.pt``
after every epoch and ``model.safetensors`` / ``ema.safetensors``. A VT-ResNet trained on ``shapes`` also gets
``tokens.csv``: per epoch and block, how different its token maps are and how much they look at the shapes
(:func:`vtlab.probe.token_report` on 200 held-out scenes), so that a collapse of the tokens shows as it happens.
An interrupted run continues with ``resume=True``: data order and the data-loader workers' seeds depend only on
(seed, epoch) and the RNG state is restored, so on the CPU a resumed run ends with the same metrics as an
uninterrupted one, with or without workers.

Nothing runs silently wrong: every numeric option is checked before anything is built; the run folder must be
writable and is locked for the whole run (:class:`~vtlab.train.checkpoint.RunLock`), and temporary files that a
killed write left are removed; a resume with settings other than run.json's is refused unless
``allow_changes`` (then run.json records the change); train and validation classes must agree; a non-finite
loss stops the run (:class:`NonFiniteLossError`) with the last good checkpoint kept; checkpoints and weights
are checked against their SHA-256 when loaded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm.auto import tqdm

from ..data import IGNORE_INDEX, check_same_classes, create_dataset, create_segmentation_dataset, parse_data
from ..models import create_model, model_task
from ..models.registry import check_model_options
from ..probe import shapes_probe_batch, token_report
from .checkpoint import (
    CheckpointError,
    RunLock,
    atomic_write,
    check_writable,
    load_checkpoint,
    read_run_json,
    remove_leftovers,
    save_checkpoint,
    save_weights,
    unwrap,
)
from .distributed import Distributed, all_reduce_sum, init_distributed
from .metrics import segmentation_metrics
from .recipes import Recipe, get_recipe, lr_factor
from .regularization import add_stochastic_depth

TOKEN_METRICS = ["epoch", "block", "cosine", "effective_tokens", "peak", "lift", "on_objects"]
METRICS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "ema_val_loss", "ema_val_acc", "lr",
           "images_per_s", "epoch_time_s"]
# Segmentation runs add mIoU; their accuracies are pixel accuracies over labelled pixels.
SEGMENTATION_METRICS = METRICS[:5] + ["val_miou"] + METRICS[5:7] + ["ema_val_miou"] + METRICS[7:]


@dataclass
class TrainConfig:
    """What ``vtlab train`` takes. ``model`` / ``data`` default to the recipe's; ``epochs``, ``batch_size``
    (global, over all processes) and ``lr`` (peak, at that batch) override it."""

    recipe: str = "quick"
    model: str | None = None
    data: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    out: str = "runs/vtlab"
    resume: bool = False
    device: str = "auto"
    workers: int = 0
    compile: bool = False
    image_size: int | None = None
    train_size: int | None = None  # shapes: scenes rendered; other data: a seeded sample of N items (ClassSubset)
    val_size: int | None = None  # likewise for the validation set (default: all of it; shapes: 500 scenes)
    download: bool = False
    progress: bool = True
    stop_after: int | None = None  # end this session after N epochs, resumable (e.g. to fit a job's time limit)
    model_options: dict = field(default_factory=dict)  # e.g. {"dynamic": False} for an ablation
    # resume=True continues the run in ``out``, or starts it if ``out`` holds no checkpoint yet (what `vtlab
    # reproduce` does); with require_checkpoint (`vtlab train --resume`) a missing checkpoint is an error.
    require_checkpoint: bool = False
    allow_changes: bool = False  # resume even with settings other than run.json's, recording the change there


class NonFiniteLossError(RuntimeError):
    """The training loss (or a validation loss) became NaN or infinite; the run stopped, its last good
    checkpoint kept."""


# TrainConfig's numeric options: (flag, smallest allowed value); None means "the recipe's / the data's default".
NUMERIC_OPTIONS = {"epochs": ("--epochs", 1), "batch_size": ("--batch-size", 1), "image_size": ("--image-size", 1),
                   "train_size": ("--train-size", 1), "val_size": ("--val-size", 1), "stop_after": ("--stop-after", 1),
                   "workers": ("--workers", 0), "seed": ("--seed", 0)}


def check_config(config: TrainConfig) -> None:
    """Raise ValueError naming the flag (and TrainConfig field) of the first option out of range: counts are
    integers >= 1 (workers and seed >= 0), the lr a finite number > 0. None keeps the default; 0 is never read
    as "default"."""
    for name, (flag, least) in NUMERIC_OPTIONS.items():
        value = getattr(config, name)
        if value is None and name not in ("workers", "seed"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < least or value >= 2**63:
            kind = "a positive integer" if least == 1 else "an integer >= 0"
            raise ValueError(f"expected {flag} ({name}) to be {kind}, got {value!r}")
    if config.lr is not None and (isinstance(config.lr, bool) or not isinstance(config.lr, (int, float))
                                  or not math.isfinite(config.lr) or config.lr <= 0):
        raise ValueError(f"expected --lr (lr) to be a finite number > 0, got {config.lr!r}")
    if not isinstance(config.model_options, dict):
        raise ValueError(f"expected model_options as a dict, got {type(config.model_options).__name__}")


# What a resume compares with run.json: name → flag. Model and ablations fix the weights' shapes: never changed.
RESUME_SETTINGS = {"model": "--model", "model_options": "--ablate", "data": "--data", "recipe": "--recipe",
                   "seed": "--seed", "batch_size": "--batch-size", "epochs": "--epochs", "peak_lr": "--lr",
                   "image_size": "--image-size", "train_size": "--train-size", "val_size": "--val-size"}
ARCHITECTURE = ("model", "model_options")
RUN_KEYS = ("model", "model_options", "data", "recipe", "seed", "batch_size", "epochs", "peak_lr",
            "config.image_size", "config.train_size")


def recorded_settings(run: dict) -> dict:
    """The settings of RESUME_SETTINGS as a run.json records them."""
    config = run["config"]
    return {**{name: run[name] for name in RESUME_SETTINGS if name in run},
            **{name: config.get(name) for name in ("image_size", "train_size", "val_size")}}


def resume_changes(out: Path, settings: dict, allow: bool) -> dict:
    """The settings that differ from ``out``'s run.json, as {name: (recorded, now)}; raises ValueError listing
    them unless ``allow`` (the model and its ablations can never change: the weights would not fit)."""
    recorded = recorded_settings(read_run_json(out, RUN_KEYS))
    changes = {name: (recorded[name], value) for name, value in settings.items() if recorded[name] != value}
    listed = ", ".join(f"{RESUME_SETTINGS[name]} {old!r} (now {new!r})" for name, (old, new) in changes.items())
    if any(name in ARCHITECTURE for name in changes):
        raise ValueError(f"{out} holds a run with other model settings: {listed}; the checkpoint's weights fit that "
                         f"model only: resume with the run's settings, or choose another --out")
    if changes and not allow:
        raise ValueError(f"{out} was run with other settings: {listed}; resume with the run's settings, or pass "
                         f"--allow-changes (allow_changes=True) to continue with these (run.json records the change)")
    return changes


def _epoch_seed(*values: int) -> int:
    """A 63-bit seed that depends only on ``values`` (e.g. seed, epoch, rank)."""
    digest = hashlib.sha256("/".join(map(str, values)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _check_finite(what: str, value: float, epoch: int, out: Path) -> None:
    if not math.isfinite(value):
        kept = (f"the last good checkpoint (epoch {epoch}) in {out} is kept" if epoch
                else f"no epoch finished, so nothing was saved in {out}")
        raise NonFiniteLossError(f"the {what} became {value} in epoch {epoch + 1}: the run stopped and nothing of "
                                 f"that epoch was saved; {kept}. Try a lower --lr")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"expected --device auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def build_optimizer(model: nn.Module, recipe: Recipe, lr: float) -> torch.optim.Optimizer:
    """The recipe's optimizer; no weight decay on biases and normalization weights (1-D parameters)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if recipe.optimizer == "rmsprop":  # TensorFlow-style RMSProp settings, as in the recipes this one follows
        return torch.optim.RMSprop(groups, lr=lr, alpha=0.9, eps=1e-3, momentum=recipe.momentum)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}; expected rmsprop, adamw or sgd")


def _autocast(device: torch.device):
    if device.type != "cuda":
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


def create_data(task: str, data: str, split: str, image_size: int | None = None, augment: str = "none",
                download: bool = False, length: int | None = None):
    """The dataset a task trains or validates on (images with labels, or with masks)."""
    if task == "segment":
        if download:
            raise ValueError("--download applies to CIFAR only; segmentation datasets are read from disk")
        return create_segmentation_dataset(data, split, image_size, augment="flip" if augment != "none" else "none",
                                           length=length)
    return create_dataset(data, split, image_size, augment, download=download, length=length)


NO_IGNORE = -100  # classification: every label counts (255 is a real ImageNet class)


def _correct(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> tuple[int, int]:
    """(correct, labelled): images, or pixels whose label is not ``ignore_index``."""
    labelled = labels != ignore_index
    return int(((logits.argmax(1) == labels) & labelled).sum()), int(labelled.sum())


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, ctx: Distributed | None = None,
             channels_last: bool = False, num_classes: int | None = None) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and accuracy ``acc`` over ``loader`` (per image, or per labelled pixel),
    summed across processes; with ``num_classes`` (segmentation) also the mean IoU ``miou``."""
    ctx = ctx or Distributed()
    model.eval()
    autocast, _ = _autocast(device)
    ignore = IGNORE_INDEX if num_classes else NO_IGNORE
    loss_sum = correct = count = 0.0
    miou = segmentation_metrics(num_classes).to(device) if num_classes else None
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast:
            logits = model(images)
        loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum", ignore_index=ignore).item()
        right, labelled = _correct(logits, labels, ignore)
        correct, count = correct + right, count + labelled
        if miou is not None:
            miou.update(logits.argmax(1), labels)
    loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], device, ctx)
    if count == 0:
        raise ValueError("the validation set is empty (or holds no labelled pixel)")
    result = {"loss": loss_sum / count, "acc": correct / count}
    if miou is not None:
        result["miou"] = float(miou.compute()["miou"])
    return result


def _write_csv(path: Path, rows: list[dict], fieldnames: list[str]) -> None:
    """``rows`` as a CSV file with a header, written atomically (metrics.csv, tokens.csv)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, lambda tmp: Path(tmp).write_text(buffer.getvalue()))


def _token_probe(model: nn.Module, data: str, task: str, image_size: int | None, device: torch.device):
    """The scenes tokens.csv is measured on, or None where it does not apply (not a VT-ResNet on shapes)."""
    kind = parse_data(data).kind
    if task != "classify" or kind not in ("shapes", "shapes-pairs") or not hasattr(model, "forward_features"):
        return None
    images, masks, regions = shapes_probe_batch(image_size, task="pair" if kind == "shapes-pairs" else "largest")
    return images.to(device), masks.to(device), regions


def train(config: TrainConfig) -> list[dict]:
    """Run (or resume) a training run; returns the metrics rows, one per epoch.

    Everything that can be checked before data and model are built is: the options, the recipe and model, the
    run folder (writable, locked for the whole run, leftovers of killed writes removed), and on resume the
    checkpoint (present, intact) and the settings against run.json.
    """
    check_config(config)
    recipe = get_recipe(config.recipe)
    model_name, data = config.model or recipe.model, config.data or recipe.data
    if data is None:
        raise ValueError(f"recipe {recipe.name!r} has no default data: pass --data (e.g. an ImageNet folder)")
    task = model_task(model_name)
    if task != recipe.task:
        suggestion = "quick-segment, coco-stuff or lip" if task == "segment" else "quick, imagenet or imagenet-ablation"
        raise ValueError(f"model {model_name!r} is a {task} model but recipe {recipe.name!r} trains {recipe.task} "
                         f"models; use a {task} recipe ({suggestion})")
    check_model_options(model_name, config.model_options)
    epochs = config.epochs if config.epochs is not None else recipe.epochs
    batch_size = config.batch_size if config.batch_size is not None else recipe.batch_size
    peak_lr = config.lr if config.lr is not None else recipe.scaled_lr(batch_size)[1]
    device = resolve_device(config.device)
    ctx = init_distributed(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if batch_size % ctx.world_size:
        raise ValueError(f"the batch size {batch_size} must divide evenly over {ctx.world_size} processes")
    out = Path(config.out)
    checkpoint_path = out / "checkpoint.pt"
    if ctx.is_main:
        check_writable(out)
    with RunLock(out) if ctx.is_main else nullcontext():  # one writer per run folder, for the whole run
        if ctx.is_main:
            remove_leftovers(out)
        if checkpoint_path.exists() and not config.resume:
            raise ValueError(f"{out} already holds a run ({checkpoint_path}); pass --resume to continue it, "
                             f"or choose another --out")
        state, changes = None, {}
        if config.resume and checkpoint_path.exists():
            settings = {"model": model_name, "model_options": json.dumps(config.model_options, sort_keys=True),
                        "data": data, "recipe": recipe.name, "seed": config.seed, "batch_size": batch_size,
                        "epochs": epochs, "peak_lr": peak_lr, "image_size": config.image_size,
                        "train_size": config.train_size, "val_size": config.val_size}
            changes = resume_changes(out, settings, config.allow_changes)
            state = load_checkpoint(checkpoint_path)
        elif config.resume and config.require_checkpoint:
            raise FileNotFoundError(f"--resume: no checkpoint.pt in {out}, so there is no run to continue (a "
                                    f"mistyped --out, or no epoch finished there); drop --resume to start one")
        return _run(config, recipe, model_name, data, task, epochs, batch_size, peak_lr, device, ctx, state, changes)


def _run(config: TrainConfig, recipe: Recipe, model_name: str, data: str, task: str, epochs: int, batch_size: int,
         peak_lr: float, device: torch.device, ctx: Distributed, state: dict | None, changes: dict) -> list[dict]:
    """The body of :func:`train`, once its checks passed and the run folder is locked: data, model, epochs."""
    out = Path(config.out)
    checkpoint_path = out / "checkpoint.pt"
    # data: the dataset's content does not depend on the training seed; its order depends on (seed, epoch)
    train_set = create_data(task, data, "train", config.image_size, recipe.augment, download=config.download,
                            length=config.train_size)
    val_set = create_data(task, data, "val", config.image_size, download=config.download, length=config.val_size)
    check_same_classes(train_set.classes, val_set.classes, data)
    segment = task == "segment"
    per_process = batch_size // ctx.world_size
    sampler = DistributedSampler(train_set, ctx.world_size, ctx.rank, shuffle=True, seed=config.seed,
                                 drop_last=True)
    # Workers are started anew each epoch from a generator seeded by (seed, epoch, rank), so that their random
    # augmentations do not depend on where a run was resumed. Without workers the main process draws them
    # from torch's global generator, whose state the checkpoint restores.
    loader_options = {"num_workers": config.workers, "pin_memory": device.type == "cuda"}
    worker_seeds = torch.Generator() if config.workers > 0 else None
    train_loader = DataLoader(train_set, per_process, sampler=sampler, drop_last=len(train_set) >= batch_size,
                              generator=worker_seeds, **loader_options)
    val_loader = DataLoader(Subset(val_set, range(ctx.rank, len(val_set), ctx.world_size)), per_process,
                            generator=torch.Generator() if config.workers > 0 else None, **loader_options)
    if len(train_loader) == 0:
        raise ValueError(f"the training set ({len(train_set)} images) is smaller than one batch per process")

    # model, regularization, optimizer, schedule
    torch.manual_seed(config.seed)  # the same initial weights in every process
    model = create_model(model_name, num_classes=train_set.num_classes, **config.model_options,
                         **({} if segment else {"dropout": recipe.dropout}))
    add_stochastic_depth(model, recipe.survival)
    if ctx.enabled and recipe.sync_bn:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif ctx.is_main:  # DistributedDataParallel accepts SyncBatchNorm on GPU modules only
            print("note: SyncBatchNorm needs CUDA; on the CPU each process keeps its own BatchNorm statistics",
                  file=sys.stderr)
    model = model.to(device, memory_format=torch.channels_last)  # on every device (module docstring)
    ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema_decay), use_buffers=True)
           if recipe.ema_decay else None)
    optimizer = build_optimizer(model, recipe, peak_lr)
    steps_per_epoch = len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(recipe, step / steps_per_epoch, epochs))
    autocast, scaler = _autocast(device)

    meta = {"model": model_name, "task": task, "data": data, "recipe": recipe.name,
            "num_classes": train_set.num_classes,
            "seed": config.seed, "model_options": json.dumps(config.model_options, sort_keys=True)}
    start_epoch, rows, token_rows = 0, [], []
    probe = _token_probe(model, data, task, config.image_size, device) if ctx.is_main else None
    run = {"config": asdict(config), "recipe": asdict(recipe), "batch_size": batch_size, "epochs": epochs,
           "peak_lr": peak_lr, "world_size": ctx.world_size, "device": str(device), **meta}
    if getattr(train_set, "classes", None) is not None:
        run["classes"] = list(train_set.classes)
    if state is not None:
        try:
            if state["meta"]["model"] != model_name or state["meta"]["num_classes"] != train_set.num_classes:
                raise ValueError(f"{checkpoint_path} is a checkpoint of {state['meta']['model']} with "
                                 f"{state['meta']['num_classes']} classes; this run is {model_name} with "
                                 f"{train_set.num_classes}")
            unwrap(model).load_state_dict(state["model"])
            if ema is not None:
                ema.load_state_dict(state["ema"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["rng"]["cpu"])
            if device.type == "cuda" and state["rng"]["cuda"] is not None:
                torch.cuda.set_rng_state(state["rng"]["cuda"], device)
            start_epoch, rows, token_rows = state["epoch"], state["metrics"], state.get("tokens", [])
        except (KeyError, TypeError, RuntimeError) as error:
            raise CheckpointError(f"{checkpoint_path} does not fit this run (incomplete, or written for other "
                                  f"settings): {type(error).__name__}: {str(error).splitlines()[0]}") from error
        if changes and ctx.is_main:  # --allow-changes: run.json takes the new settings and says what changed
            recorded = read_run_json(out)
            run["resumed_with_changes"] = recorded.get("resumed_with_changes", []) + [
                {"epoch": start_epoch, **{RESUME_SETTINGS[name]: {"was": old, "now": new}
                                          for name, (old, new) in changes.items()}}]
            atomic_write(out / "run.json", lambda tmp: Path(tmp).write_text(json.dumps(run, indent=2)))
    elif ctx.is_main:
        atomic_write(out / "run.json", lambda tmp: Path(tmp).write_text(json.dumps(run, indent=2)))
    if config.compile:
        model = torch.compile(model)
    trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if ctx.enabled else model
    ignore = IGNORE_INDEX if segment else NO_IGNORE
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing, ignore_index=ignore)

    last_epoch = epochs if config.stop_after is None else min(epochs, start_epoch + config.stop_after)
    for epoch in range(start_epoch, last_epoch):
        sampler.set_epoch(epoch)
        if worker_seeds is not None:
            worker_seeds.manual_seed(_epoch_seed(config.seed, epoch, ctx.rank))
        trained.train()
        started, loss_sum, correct, labelled, seen = time.perf_counter(), 0.0, 0, 0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not (ctx.is_main and config.progress),
                   leave=False, dynamic_ncols=True)
        for images, labels in bar:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            images = images.contiguous(memory_format=torch.channels_last)
            with autocast:
                logits = trained(images)
                loss = criterion(logits.float(), labels)
            loss_value = loss.item()
            _check_finite("training loss", loss_value, epoch, out)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(unwrap(model))
            right, n = _correct(logits, labels, ignore)
            loss_sum, correct, labelled, seen = loss_sum + loss_value * n, correct + right, labelled + n, \
                seen + len(labels)
            bar.set_postfix(loss=f"{loss_sum / max(labelled, 1):.3f}", acc=f"{correct / max(labelled, 1):.3f}")
        seconds = time.perf_counter() - started
        loss_sum, correct, labelled, seen = all_reduce_sum([loss_sum, correct, labelled, seen], device, ctx)
        classes = train_set.num_classes if segment else None
        val = evaluate(trained, val_loader, device, ctx, True, classes)
        ema_val = evaluate(ema, val_loader, device, ctx, True, classes) if ema is not None else {}
        for what, result in (("validation loss", val), ("EMA validation loss", ema_val)):
            if result:
                _check_finite(what, result["loss"], epoch, out)
        row = {"epoch": epoch + 1, "train_loss": round(loss_sum / labelled, 6),
               "train_acc": round(correct / labelled, 6), "val_loss": round(val["loss"], 6),
               "val_acc": round(val["acc"], 6),
               "ema_val_loss": round(ema_val["loss"], 6) if ema_val else "",
               "ema_val_acc": round(ema_val["acc"], 6) if ema_val else "",
               "lr": round(optimizer.param_groups[0]["lr"], 8), "images_per_s": round(seen / seconds, 1),
               "epoch_time_s": round(seconds, 2)}
        if segment:
            row["val_miou"] = round(val["miou"], 6)
            row["ema_val_miou"] = round(ema_val["miou"], 6) if ema_val else ""
        rows.append(row)
        if probe is not None:
            token_rows += [{"epoch": epoch + 1, "block": block, **{k: round(v, 6) for k, v in measured.items()}}
                           for block, measured in enumerate(token_report(unwrap(model), *probe))]
        if ctx.is_main:
            state = {"model": unwrap(model).state_dict(), "ema": ema.state_dict() if ema is not None else None,
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "scaler": scaler.state_dict() if scaler is not None else None,
                     "rng": {"cpu": torch.get_rng_state(),
                             "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None},
                     "epoch": epoch + 1, "meta": meta, "metrics": rows, "tokens": token_rows}
            save_checkpoint(checkpoint_path, state)
            save_weights(model, out / "model.safetensors")
            if ema is not None:
                save_weights(ema.module, out / "ema.safetensors")
            _write_csv(out / "metrics.csv", rows, SEGMENTATION_METRICS if segment else METRICS)
            if token_rows:
                _write_csv(out / "tokens.csv", token_rows, TOKEN_METRICS)
            if config.progress:
                r = rows[-1]
                miou = f" mIoU {r['val_miou']:.3f}" if segment else ""
                print(f"epoch {r['epoch']}/{epochs}: train loss {r['train_loss']:.4f} acc {r['train_acc']:.3f}, "
                      f"val loss {r['val_loss']:.4f} acc {r['val_acc']:.3f}{miou}, {r['images_per_s']:.0f} images/s",
                      flush=True)
    return rows
