"""The training engine behind ``vtlab train``: a recipe, a model and a dataset in; metrics and checkpoints out.

One loop for both tasks: classification (labels per image) and semantic segmentation (labels per pixel, with
unlabelled pixels ignored; validation adds mIoU), chosen by the model (:func:`vtlab.models.model_task`).

One code path for every device: models and batches are channels_last everywhere (the faster layout for the
convolutions; the README's Train section gives the measured gain); CUDA gets bf16 autocast (fp16 with loss
scaling where bf16 is missing) and optional ``torch.compile``; the CPU runs in float32. Under ``torchrun`` it
runs DDP with a distributed sampler (NCCL on GPUs, gloo on CPUs) and, where the recipe asks and the run is on
CUDA, SyncBatchNorm (PyTorch's DDP rejects it on CPU modules).

A run folder OUT receives ``run.json`` (what was run), ``metrics.csv`` (one row per epoch), ``checkpoint.pt``
after every epoch and ``model.safetensors`` / ``ema.safetensors``, and a CSV file per attached measure
(:mod:`vtlab.train.measures`; ``vtlab train`` attaches ``tokens.csv`` to VT-ResNets trained on ``shapes``). The
engine itself names no dataset: data come from :mod:`vtlab.data`, per-epoch extras from the measures a caller
passes. An interrupted run continues with ``resume=True``: data order and the data-loader workers' seeds depend
only on (seed, epoch) and the RNG state is restored, so on the CPU a resumed run ends with the same metrics as an
uninterrupted one, with or without workers.

Nothing runs silently wrong: every numeric option is checked before anything is built; the run folder must be
new, empty or a vtlab run's (:func:`~vtlab.train.run_folder.claim`), writable, and locked for the whole run;
temporary files that a killed write of vtlab's left are removed; a resume with settings other than run.json's is
refused unless ``allow_changes`` (then run.json records the change), as is a checkpoint of another run; a resume
rewrites from the checkpoint whatever the folder lacks (weights, rows); the data are scanned before the first
epoch (:func:`vtlab.data.scan_dataset`); train and validation classes must agree; a non-finite loss stops the
run (:class:`NonFiniteLossError`) with the last good checkpoint kept; a segmentation batch without a labelled
pixel adds nothing to the gradient, and the epoch's line says how many there were; checkpoints and weights are
checked against their SHA-256 when loaded.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm.auto import tqdm

from ..data import IGNORE_INDEX, check_same_classes, scan_dataset
from ..data import create_data as build_data
from ..models import create_model
from .checkpoint import (
    CheckpointError,
    RunLock,
    check_writable,
    load_checkpoint,
    save_checkpoint,
    unwrap,
)
from .config import RunPlan, TrainConfig, check_config, plan_run, resolve_device
from .distributed import all_reduce_sum
from .evaluation import NO_IGNORE, autocast_for, count_correct, evaluate
from .measures import EpochMeasure, standard_measures
from .outputs import complete, run_json, run_outputs, write_output, write_run_json
from .recipes import Recipe, lr_factor
from .regularization import add_stochastic_depth
from .run_folder import RESUME_SETTINGS, check_same_run, claim, read_run, remove_leftovers, resume_changes

# Re-exported: the engine's public names, wherever they are defined.
__all__ = ["RESUME_SETTINGS", "NonFiniteLossError", "TrainConfig", "check_config", "check_resume", "create_data",
           "evaluate", "resolve_device", "train"]


class NonFiniteLossError(RuntimeError):
    """The training loss (or a validation loss) became NaN or infinite; the run stopped, its last good
    checkpoint kept."""


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


def create_data(task: str, data: str, split: str, image_size: int | None = None, augment: str = "none",
                download: bool = False, length: int | None = None):
    """The dataset a task trains or validates on (images with labels, or with masks): the data registry's
    :func:`vtlab.data.create_data`, under a name of the engine's that a test can replace."""
    return build_data(task, data, split, image_size, augment, download=download, length=length)


def train(config: TrainConfig, measures: list[EpochMeasure] | None = None) -> list[dict]:
    """Run (or resume) a training run; returns the metrics rows, one per epoch.

    ``measures`` are recorded after every epoch (:mod:`vtlab.train.measures`); None attaches
    :func:`~vtlab.train.measures.standard_measures`, ``[]`` none. Everything that can be checked before data
    and model are built is: the options, the recipe and model, the run folder (vtlab's or new, writable,
    locked for the whole run, leftovers of killed writes removed), and on resume the checkpoint (present,
    intact, this run's) and the settings against run.json.
    """
    plan = plan_run(config)
    if measures is None:
        measures = standard_measures(plan.task, plan.data, config.image_size)
    names = [m.name for m in measures]
    out, main = plan.out, plan.ctx.is_main
    checkpoint_path = out / "checkpoint.pt"
    if main:
        claim(out, names)
        check_writable(out)
    with RunLock(out) if main else nullcontext():  # one writer per run folder, for the whole run
        if main:
            remove_leftovers(out, names)
        if checkpoint_path.exists() and not config.resume:
            raise ValueError(f"{out} already holds a run ({checkpoint_path}); pass --resume to continue it, "
                             f"or choose another --out")
        run, state, changes = None, None, {}
        if config.resume and checkpoint_path.exists():
            run = read_run(out)
            changes = resume_changes(out, run, plan.settings(), config.allow_changes)
            state = load_checkpoint(checkpoint_path)
            check_same_run(out, run, state.get("meta"))
        elif config.resume and config.require_checkpoint:
            raise FileNotFoundError(f"--resume: no checkpoint.pt in {out}, so there is no run to continue (a "
                                    f"mistyped --out, or no epoch finished there); drop --resume to start one")
        return _run(plan, measures, run, state, changes)


def check_resume(config: TrainConfig) -> None:
    """Raise ValueError unless ``config.out`` holds a vtlab run with ``config``'s settings (what a resume checks
    before it continues; for callers that reuse a run's files without training)."""
    plan = plan_run(config)
    resume_changes(plan.out, read_run(plan.out), plan.settings(), config.allow_changes)


class _Data:
    """The datasets, sampler and loaders of a run."""

    def __init__(self, plan: RunPlan):
        config, ctx = plan.config, plan.ctx
        # the dataset's content does not depend on the training seed; its order depends on (seed, epoch)
        train_set = create_data(plan.task, plan.data, "train", config.image_size, plan.recipe.augment,
                                download=config.download, length=config.train_size)
        val_set = create_data(plan.task, plan.data, "val", config.image_size, download=config.download,
                              length=config.val_size)
        check_same_classes(train_set.classes, val_set.classes, plan.data)
        show = ctx.is_main and config.progress
        self.train_set = scan_dataset(train_set, skip_bad=config.skip_bad, progress=show, split="train")
        self.val_set = scan_dataset(val_set, skip_bad=config.skip_bad, progress=show, split="val")
        per_process = plan.batch_size // ctx.world_size
        self.sampler = DistributedSampler(self.train_set, ctx.world_size, ctx.rank, shuffle=True, seed=config.seed,
                                          drop_last=True)
        # Workers are started anew each epoch from a generator seeded by (seed, epoch, rank), so that their random
        # augmentations do not depend on where a run was resumed. Without workers the main process draws them
        # from torch's global generator, whose state the checkpoint restores.
        options = {"num_workers": config.workers, "pin_memory": plan.device.type == "cuda"}
        self.worker_seeds = torch.Generator() if config.workers > 0 else None
        self.train_loader = DataLoader(self.train_set, per_process, sampler=self.sampler,
                                       drop_last=len(self.train_set) >= plan.batch_size, generator=self.worker_seeds,
                                       **options)
        self.val_loader = DataLoader(Subset(self.val_set, range(ctx.rank, len(self.val_set), ctx.world_size)),
                                     per_process, generator=torch.Generator() if config.workers > 0 else None,
                                     **options)
        if len(self.train_loader) == 0:
            raise ValueError(f"the training set ({len(self.train_set)} images) is smaller than one batch per "
                             f"process")
        self.num_classes = self.train_set.num_classes
        self.classes = getattr(self.train_set, "classes", None)


class _Trainee:
    """The model and what trains it: EMA, optimizer, schedule, loss scaling."""

    def __init__(self, plan: RunPlan, num_classes: int, steps_per_epoch: int):
        recipe, ctx, device = plan.recipe, plan.ctx, plan.device
        torch.manual_seed(plan.config.seed)  # the same initial weights in every process
        model = create_model(plan.model, num_classes=num_classes, **plan.config.model_options,
                             **({} if plan.segment else {"dropout": recipe.dropout}))
        add_stochastic_depth(model, recipe.survival)
        if ctx.enabled and recipe.sync_bn:
            if device.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            elif ctx.is_main:  # DistributedDataParallel accepts SyncBatchNorm on GPU modules only
                print("note: SyncBatchNorm needs CUDA; on the CPU each process keeps its own BatchNorm statistics",
                      file=sys.stderr)
        self.model = model.to(device, memory_format=torch.channels_last)  # on every device (module docstring)
        self.ema = (AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema_decay), use_buffers=True)
                    if recipe.ema_decay else None)
        self.optimizer = build_optimizer(self.model, recipe, plan.peak_lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(recipe, step / steps_per_epoch, plan.epochs))
        self.autocast, self.scaler = autocast_for(device)

    def state(self, device: torch.device) -> dict:
        return {"model": unwrap(self.model).state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "rng": {"cpu": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}}

    def restore(self, state: dict, device: torch.device) -> None:
        unwrap(self.model).load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["cpu"])
        if device.type == "cuda" and state["rng"]["cuda"] is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)


def _run(plan: RunPlan, measures: list[EpochMeasure], recorded: dict | None, state: dict | None,
         changes: dict) -> list[dict]:
    """The body of :func:`train`, once its checks passed and the run folder is locked: data, model, epochs."""
    config, ctx, device, out = plan.config, plan.ctx, plan.device, plan.out
    data = _Data(plan)
    trainee = _Trainee(plan, data.num_classes, len(data.train_loader))
    run_id = recorded.get("run_id") if recorded is not None else uuid.uuid4().hex
    settings = plan.settings()
    meta = {**{name: settings[name] for name in ("model", "data", "recipe", "seed", "model_options")},
            "task": plan.task, "num_classes": data.num_classes, "run_id": run_id}
    measures = [m for m in measures if m.start(unwrap(trainee.model), device)] if ctx.is_main else []
    start_epoch, rows, measured = 0, [], {m.name: [] for m in measures}
    run = run_json(plan, meta, data.classes, measures)
    if state is not None:
        checkpoint_path = out / "checkpoint.pt"
        try:
            if state["meta"]["model"] != plan.model or state["meta"]["num_classes"] != data.num_classes:
                raise ValueError(f"{checkpoint_path} is a checkpoint of {state['meta']['model']} with "
                                 f"{state['meta']['num_classes']} classes; this run is {plan.model} with "
                                 f"{data.num_classes}")
            trainee.restore(state, device)
            start_epoch, rows = state["epoch"], state["metrics"]
            saved = state.get("measures") or {"tokens": state.get("tokens") or []}
            measured.update({m.name: list(saved.get(m.name, [])) for m in measures})
        except (KeyError, TypeError, RuntimeError) as error:
            raise CheckpointError(f"{checkpoint_path} does not fit this run (incomplete, or written for other "
                                  f"settings): {type(error).__name__}: {str(error).splitlines()[0]}") from error
        if changes and ctx.is_main:  # --allow-changes: run.json takes the new settings and says what changed
            run["resumed_with_changes"] = recorded.get("resumed_with_changes", []) + [
                {"epoch": start_epoch, **{RESUME_SETTINGS[name]: {"was": old, "now": new}
                                          for name, (old, new) in changes.items()}}]
            write_run_json(out, run)
        if ctx.is_main:
            complete(plan, trainee.model, trainee.ema, rows, measured, measures, start_epoch)
    elif ctx.is_main:
        write_run_json(out, run)
    model = torch.compile(trainee.model) if config.compile else trainee.model
    trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if ctx.enabled else model
    last_epoch = plan.epochs if config.stop_after is None else min(plan.epochs, start_epoch + config.stop_after)
    for epoch in range(start_epoch, last_epoch):
        row = _epoch(plan, data, trainee, trained, epoch)
        rows.append(row)
        for m in measures:
            measured[m.name] += m.measure(unwrap(trainee.model), epoch + 1)
        if ctx.is_main:
            save_checkpoint(out / "checkpoint.pt", {**trainee.state(device), "epoch": epoch + 1, "meta": meta,
                                                    "metrics": rows, "measures": measured})
            for path, kind, content in run_outputs(plan, trainee.model, trainee.ema, rows, measured, measures):
                write_output(path, kind, content, epoch + 1)
            if config.progress:
                _say_epoch(row, plan)
    return rows


def _say_epoch(r: dict, plan: RunPlan) -> None:
    miou = f" mIoU {r['val_miou']:.3f}" if plan.segment else ""
    print(f"epoch {r['epoch']}/{plan.epochs}: train loss {r['train_loss']:.4f} acc {r['train_acc']:.3f}, "
          f"val loss {r['val_loss']:.4f} acc {r['val_acc']:.3f}{miou}, {r['images_per_s']:.0f} images/s", flush=True)


def _epoch(plan: RunPlan, data: _Data, trainee: _Trainee, trained: nn.Module, epoch: int) -> dict:
    """Train one epoch, validate, and return its metrics row."""
    config, ctx, device, out = plan.config, plan.ctx, plan.device, plan.out
    data.sampler.set_epoch(epoch)
    if data.worker_seeds is not None:
        data.worker_seeds.manual_seed(_epoch_seed(config.seed, epoch, ctx.rank))
    ignore = IGNORE_INDEX if plan.segment else NO_IGNORE
    criterion = nn.CrossEntropyLoss(label_smoothing=plan.recipe.label_smoothing, ignore_index=ignore)
    optimizer, scaler = trainee.optimizer, trainee.scaler
    trained.train()
    started, loss_sum, correct, labelled, seen, empty = time.perf_counter(), 0.0, 0, 0, 0, 0
    bar = tqdm(data.train_loader, desc=f"epoch {epoch + 1}/{plan.epochs}",
               disable=not (ctx.is_main and config.progress), leave=False, dynamic_ncols=True)
    for images, labels in bar:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        images = images.contiguous(memory_format=torch.channels_last)
        with trainee.autocast:
            logits = trained(images)
            unlabelled = plan.segment and not bool((labels != ignore).any())
            # a batch without a labelled pixel: no loss to average, and nothing for the gradient
            loss = logits.float().sum() * 0.0 if unlabelled else criterion(logits.float(), labels)
        empty += unlabelled
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
        trainee.scheduler.step()
        if trainee.ema is not None:
            trainee.ema.update_parameters(unwrap(trainee.model))
        right, n = count_correct(logits, labels, ignore)
        loss_sum, correct, labelled, seen = loss_sum + loss_value * n, correct + right, labelled + n, \
            seen + len(labels)
        bar.set_postfix(loss=f"{loss_sum / max(labelled, 1):.3f}", acc=f"{correct / max(labelled, 1):.3f}")
    seconds = time.perf_counter() - started
    loss_sum, correct, labelled, seen, empty = all_reduce_sum([loss_sum, correct, labelled, seen, empty], device,
                                                              ctx)
    if labelled == 0:
        raise ValueError(f"no training batch of epoch {epoch + 1} held a labelled pixel: every mask value of "
                         f"{plan.data} is one the dataset ignores (255, or outside its classes)")
    if empty and ctx.is_main:
        print(f"note: {int(empty)} of {len(data.train_loader)} training batches of epoch {epoch + 1} held no "
              f"labelled pixel; they added nothing to the gradient", file=sys.stderr)
    return _validate(plan, data, trainee, trained, epoch, {
        "train_loss": loss_sum / labelled, "train_acc": correct / labelled, "seen": seen, "seconds": seconds})


def _validate(plan: RunPlan, data: _Data, trainee: _Trainee, trained: nn.Module, epoch: int,
              train: dict) -> dict:
    """The epoch's metrics row: its training figures, and validation of the model (and of its EMA)."""
    device, ctx, out = plan.device, plan.ctx, plan.out
    classes = data.num_classes if plan.segment else None
    val = evaluate(trained, data.val_loader, device, ctx, classes)
    ema_val = evaluate(trainee.ema, data.val_loader, device, ctx, classes) if trainee.ema is not None else {}
    for what, result in (("validation loss", val), ("EMA validation loss", ema_val)):
        if result:
            _check_finite(what, result["loss"], epoch, out)
    row = {"epoch": epoch + 1, "train_loss": round(train["train_loss"], 6),
           "train_acc": round(train["train_acc"], 6), "val_loss": round(val["loss"], 6),
           "val_acc": round(val["acc"], 6),
           "ema_val_loss": round(ema_val["loss"], 6) if ema_val else "",
           "ema_val_acc": round(ema_val["acc"], 6) if ema_val else "",
           "lr": round(trainee.optimizer.param_groups[0]["lr"], 8),
           "images_per_s": round(train["seen"] / train["seconds"], 1), "epoch_time_s": round(train["seconds"], 2)}
    if plan.segment:
        row["val_miou"] = round(val["miou"], 6)
        row["ema_val_miou"] = round(ema_val["miou"], 6) if ema_val else ""
    return row
