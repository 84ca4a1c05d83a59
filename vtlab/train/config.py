"""A training run's settings: :class:`TrainConfig` (what ``vtlab train`` takes), checked by type and range in one
place (:func:`check_config`), and :class:`RunPlan`, the settings resolved once from the config and its recipe
(model, data, task, epochs, batch size, lr, device, processes), which every later step of the engine reads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..models import model_task
from ..models.registry import check_model_options
from .distributed import Distributed, init_distributed
from .recipes import Recipe, get_recipe
from .run_folder import RESUME_SETTINGS


@dataclass
class TrainConfig:
    """What ``vtlab train`` takes, one field per flag (each described where it is declared); the recipe gives
    what is left None. Checked by type and range in one place, :func:`check_config`."""

    recipe: str = "quick"  # a name of vtlab.train.RECIPES: optimizer, schedule, augmentation, regularisation
    model: str | None = None  # a registered model (`vtlab models`); None: the recipe's
    data: str | None = None  # a --data value (vtlab.data's registry, or an ImageNet-style folder); None: the recipe's
    epochs: int | None = None  # None: the recipe's
    batch_size: int | None = None  # global, over all processes; None: the recipe's
    lr: float | None = None  # the peak lr at that batch; None: the recipe's, scaled linearly to the batch
    seed: int = 0  # initial weights, data order and augmentation; the data's content does not depend on it
    out: str = "runs/vtlab"  # the run folder: new, empty or a vtlab run's (vtlab.train.run_folder)
    resume: bool = False  # continue the run in ``out`` (see require_checkpoint)
    device: str = "auto"  # "auto", "cpu" or "cuda"
    workers: int = 0  # data-loading processes (a resume setting: augmentations are drawn in them)
    compile: bool = False  # torch.compile the model
    image_size: int | None = None  # resize images to this side; None: the data's own (folders: 224)
    train_size: int | None = None  # shapes: scenes rendered; other data: a seeded sample of N items (ClassSubset)
    val_size: int | None = None  # likewise for the validation set (default: all of it; shapes: 500 scenes)
    download: bool = False  # let CIFAR fetch its archive (needs a network)
    progress: bool = True  # progress bars and a line per epoch
    stop_after: int | None = None  # end this session after N epochs, resumable (e.g. to fit a job's time limit)
    model_options: dict = field(default_factory=dict)  # e.g. {"dynamic": False} for an ablation
    # resume=True continues the run in ``out``, or starts it if ``out`` holds no checkpoint yet (what `vtlab
    # reproduce` does); with require_checkpoint (`vtlab train --resume`) a missing checkpoint is an error.
    require_checkpoint: bool = False
    allow_changes: bool = False  # resume even with settings other than run.json's, recording the change there
    skip_bad: bool = False  # leave out the data files the scan before epoch 1 finds unreadable (and say how many)
    dist_timeout: float = 300.0  # seconds a distributed process waits for its peers at the start


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
    if isinstance(config.dist_timeout, bool) or not isinstance(config.dist_timeout, (int, float)) or \
            not math.isfinite(config.dist_timeout) or config.dist_timeout <= 0:
        raise ValueError(f"expected --dist-timeout (dist_timeout) to be a finite number of seconds > 0, got "
                         f"{config.dist_timeout!r}")
    for name in ("resume", "download", "progress", "compile", "require_checkpoint", "allow_changes", "skip_bad"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"expected {name} to be True or False, got {getattr(config, name)!r}")
    for name in ("recipe", "out", "device") + (() if config.model is None else ("model",)) + \
            (() if config.data is None else ("data",)):
        if not isinstance(getattr(config, name), str) or not getattr(config, name):
            raise ValueError(f"expected {name} to be a non-empty string, got {getattr(config, name)!r}")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"expected --device auto, cpu or cuda, got {name!r}")
    return torch.device(name)


@dataclass(frozen=True)
class RunPlan:
    """A run's settings, resolved once from its TrainConfig and recipe: what every later step reads."""

    config: TrainConfig
    recipe: Recipe
    model: str
    data: str
    task: str
    epochs: int
    batch_size: int
    peak_lr: float
    device: torch.device
    ctx: Distributed

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def segment(self) -> bool:
        return self.task == "segment"

    def settings(self) -> dict:
        """The settings a resume compares with run.json, one per name of RESUME_SETTINGS: the resolved ones, and
        the rest as the config gives them."""
        resolved = {"model": self.model, "model_options": json.dumps(self.config.model_options, sort_keys=True),
                    "data": self.data, "recipe": self.recipe.name, "batch_size": self.batch_size,
                    "epochs": self.epochs, "peak_lr": self.peak_lr}
        return {name: resolved[name] if name in resolved else getattr(self.config, name) for name in RESUME_SETTINGS}


MIN_IMAGE_SIZE = {"classify": 32, "segment": 64}  # the models' smallest input (check_image_batch)


def plan_run(config: TrainConfig) -> RunPlan:
    """Check ``config`` and resolve the recipe's defaults, the device and the processes (before any data, model
    or file is made)."""
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
    if config.image_size is not None and config.image_size < MIN_IMAGE_SIZE[task]:
        raise ValueError(f"expected --image-size of at least {MIN_IMAGE_SIZE[task]} for a {task} model (its "
                         f"smallest input), got {config.image_size}")
    check_model_options(model_name, config.model_options)
    epochs = config.epochs if config.epochs is not None else recipe.epochs
    batch_size = config.batch_size if config.batch_size is not None else recipe.batch_size
    peak_lr = config.lr if config.lr is not None else recipe.scaled_lr(batch_size)[1]
    device = resolve_device(config.device)
    ctx = init_distributed(device.type, timeout_s=config.dist_timeout)
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if batch_size % ctx.world_size:
        raise ValueError(f"the batch size {batch_size} must divide evenly over {ctx.world_size} processes")
    return RunPlan(config, recipe, model_name, data, task, epochs, batch_size, peak_lr, device, ctx)
