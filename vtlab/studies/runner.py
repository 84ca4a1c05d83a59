"""Training a study: each variant once per seed with vtlab's engine (:func:`run_one`), resumably and shared
between processes through one file (:func:`run_study`).

Runs of the same seed share their data, data order and the initial weights of stages 1–4, so the per-seed
difference to the base is a paired comparison. On the CPU with a fixed thread count a run is deterministic on
one machine and torch version; another CPU may change the last digits, and through them the trajectories.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ..cost import count_macs, count_params
from ..data import parse_data
from ..models import create_model
from ..train.engine import TrainConfig, create_data, train
from ..train.recipes import get_recipe
from .settings import TOKEN_KEYS, StudySettings, variant_model
from .store import read_study, save_study
from .study import BlockTokens, Environment, Run, Study, Validation, VariantCost


def variant_cost(settings: StudySettings, variant: str, num_classes: int) -> VariantCost:
    """The model, options, MACs and parameters of one variant at the training image size."""
    name, options = variant_model(settings, variant)
    model = create_model(name, num_classes=num_classes, **options)
    size = settings.image_size or parse_data(settings.data, settings.task).image_size
    return VariantCost(name, options, count_macs(model, size), count_params(model))


def _device_name(device: str) -> str:
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return torch.cuda.get_device_name()
    return "cpu"


def _last_epoch_rows(path: Path) -> list[dict[str, str]] | None:
    """The rows of a measure's CSV (e.g. tokens.csv) for the run's last epoch, or None where the engine wrote
    none."""
    if not path.exists():
        return None
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return [row for row in rows if row["epoch"] == rows[-1]["epoch"]]


def _final_tokens(out: Path) -> tuple[BlockTokens, ...] | None:
    """The last epoch's token measurements of a run (one per block), or None where the engine wrote none."""
    rows = _last_epoch_rows(out / "tokens.csv")
    return None if rows is None else tuple(BlockTokens(**{key: float(row[key]) for key in TOKEN_KEYS}) for row in rows)


def _final_fusion(out: Path) -> tuple[float, ...] | None:
    """The last epoch's per-level fusion ratios of a VT-FPN run, or None where the engine wrote none."""
    rows = _last_epoch_rows(out / "fusion.csv")
    return None if rows is None else tuple(float(row["ratio"]) for row in rows)


def study_config(settings: StudySettings, variant: str, seed: int, out: str, **changes) -> TrainConfig:
    """The engine's configuration of one run of a study (quiet), with ``changes`` to other TrainConfig fields."""
    name, options = variant_model(settings, variant)
    return TrainConfig(**{"recipe": settings.recipe, "model": name, "data": settings.data, "epochs": settings.epochs,
                          "batch_size": settings.batch_size, "seed": seed, "out": out, "device": settings.device,
                          "image_size": settings.image_size, "train_size": settings.train_size,
                          "val_size": settings.val_size, "progress": False, "model_options": options, **changes})


def run_one(settings: StudySettings, variant: str, seed: int) -> Run:
    """Train one variant with one seed (quietly, in a temporary run folder)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        rows = train(study_config(settings, variant, seed, out))
        tokens, fusion = _final_tokens(Path(out)), _final_fusion(Path(out))
    return Run(variant, seed, _device_name(settings.device), round(time.perf_counter() - started, 1), settings.epochs,
               {key: tuple(float(row[key]) for row in rows) for key in settings.curves}, tokens, fusion)


def _runs_on_disk(path: Path, settings: StudySettings) -> tuple[Run, ...]:
    """The runs a study file already holds (none if there is no file); its settings must be ``settings``."""
    if not path.exists():
        return ()
    previous = read_study(path, complete=False)
    if previous.settings != settings:
        raise ValueError(f"{path} holds a study with other settings ({previous.settings.to_dict()}); expected "
                         f"{settings.to_dict()}: move it away or run with its settings")
    return previous.runs


def _in_order(settings: StudySettings, runs: list[Run] | tuple[Run, ...]) -> tuple[Run, ...]:
    """Runs by seed, then variant, in the settings' order: the same file whichever process finished first."""
    return tuple(sorted(runs, key=lambda run: (settings.seeds.index(run.seed), settings.variants.index(run.variant))))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s sibling ``.NAME.lock`` while a study file is read and rewritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_share(settings: StudySettings, seeds: tuple[int, ...], variants: tuple[str, ...]) -> None:
    """Refuse a study that cannot train, or a share of it (``seeds``, ``variants``) outside its settings."""
    if not set(seeds) <= set(settings.seeds):
        raise ValueError(f"expected seeds among the study's {list(settings.seeds)}, got {list(seeds)}")
    if not set(variants) <= set(settings.variants):
        raise ValueError(f"expected variants among the study's {list(settings.variants)}, got {list(variants)}")
    for variant in settings.variants:
        variant_model(settings, variant)
    if not settings.seeds:
        raise ValueError("expected at least one seed")
    if not isinstance(settings.epochs, int) or settings.epochs < 1:
        raise ValueError(f"expected epochs >= 1, got {settings.epochs!r}")
    get_recipe(settings.recipe)  # fail early on a typo


def _empty_study(settings: StudySettings, runs: tuple[Run, ...]) -> Study:
    """The study before the runs this call trains: its environment, validation set and variants' costs."""
    validation = create_data(settings.task, settings.data, "val", settings.image_size, length=settings.val_size)
    environment = Environment(torch.__version__.split("+")[0], _device_name(settings.device), settings.threads)
    return Study(settings, environment, Validation(len(validation), validation.num_classes),
                 {v: variant_cost(settings, v, validation.num_classes) for v in settings.variants}, runs)


def run_study(settings: StudySettings | None = None, log: Callable[[str], None] | None = None,
              path: str | Path | None = None, seeds: tuple[int, ...] | None = None,
              variants: tuple[str, ...] | None = None) -> Study:
    """Train every variant once per seed with vtlab's engine and return the study. With ``path``, runs already
    in that file are kept (its settings must be these) and the file is rewritten after every new run: an
    interrupted study continues where it stopped. ``seeds`` and ``variants`` (subsets of the settings') train
    only those, so that several processes can share one study file: each merges its runs into the file under a
    lock. ``log`` receives one line per finished run (e.g. ``print``); nothing else is printed."""
    settings = settings or StudySettings()
    seeds = settings.seeds if seeds is None else tuple(seeds)
    variants = settings.variants if variants is None else tuple(variants)
    _check_share(settings, seeds, variants)
    path = None if path is None else Path(path)
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        study = _empty_study(settings, _runs_on_disk(path, settings) if path is not None else ())
        for seed in seeds:
            for variant in variants:
                if path is not None:  # another process may have added runs since
                    study = dataclasses.replace(study, runs=_runs_on_disk(path, settings))
                if any((run.variant, run.seed) == (variant, seed) for run in study.runs):
                    continue
                run = run_one(settings, variant, seed)
                if path is None:
                    study = dataclasses.replace(study, runs=(*study.runs, run))
                    continue
                with _locked(path):  # merge into what is on disk now, then write
                    study = dataclasses.replace(study, runs=_in_order(settings, [*_runs_on_disk(path, settings), run]))
                    save_study(study, path, complete=False)
                if log is not None:
                    log(f"{settings.data} {variant:>8} seed {seed}: {settings.metric} "
                        f"{run.final(settings.metric):.4f} ({run.seconds:.0f} s)")
    finally:
        torch.set_num_threads(threads)
    return dataclasses.replace(study, runs=_in_order(settings, study.runs))
