"""Run folders: which folders vtlab may write, what run.json records, and what a resume must find there.

A run folder is vtlab's only if vtlab made it. ``--out`` may name a new folder, an empty one, or one holding a
vtlab run (a ``run.json`` with the keys ``vtlab train`` writes); any other non-empty folder is refused, naming
what is there, before anything is written. Within its own folder vtlab writes, sweeps and locks only the names
it writes itself (:func:`own_names`): the user's other files there are never touched.

``run.json`` is validated by type and range in one place, :func:`read_run`, for ``vtlab eval`` and resumes
alike. Each run has a ``run_id``, recorded in run.json and in every checkpoint, so that a checkpoint copied in
from another run is refused rather than continued.

A resume compares the settings of :data:`RESUME_SETTINGS` with run.json (:func:`resume_changes`), and the
folder with what its checkpoint says a run at that epoch must hold (the engine rewrites what is missing or
stale from the checkpoint, which holds every weight and row).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .checkpoint import LOCK_NAME, CheckpointError, read_run_json

RUN_FILES = ("run.json", "metrics.csv", "checkpoint.pt", "model.safetensors", "ema.safetensors")
# What ``vtlab eval`` and a resume need from run.json ("config.NAME" looks inside ``config``).
RUN_KEYS = ("model", "task", "num_classes", "model_options", "data", "recipe", "seed", "batch_size", "epochs",
            "peak_lr", "config")
# What a resume compares with run.json: name → flag. Model and ablations fix the weights' shapes: never changed.
RESUME_SETTINGS = {"model": "--model", "model_options": "--ablate", "data": "--data", "recipe": "--recipe",
                   "seed": "--seed", "batch_size": "--batch-size", "epochs": "--epochs", "peak_lr": "--lr",
                   "image_size": "--image-size", "train_size": "--train-size", "val_size": "--val-size",
                   "workers": "--workers"}
ARCHITECTURE = ("model", "model_options")
CONFIG_SETTINGS = ("image_size", "train_size", "val_size", "workers")
PROBE_PATTERN = re.compile(r"\.write-probe\..+\.tmp")


def own_names(measures: list[str] | tuple[str, ...] = ()) -> set[str]:
    """The file names vtlab writes in a run folder: its run files, the measures' CSV files and the lock."""
    return {*RUN_FILES, *(f"{name}.csv" for name in measures), LOCK_NAME}


def is_leftover(name: str, measures: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether ``name`` is a temporary file that an interrupted vtlab write left (``.TARGET.XXXX.tmp`` of one of
    vtlab's own names, or the writability probe)."""
    if PROBE_PATTERN.fullmatch(name):
        return True
    return name.startswith(".") and name.endswith(".tmp") and any(
        name.startswith(f".{own}.") for own in own_names(measures) - {LOCK_NAME})


def remove_leftovers(folder: Path, measures: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """Delete the temporary files that a write interrupted by a kill left in ``folder`` (only vtlab's own, see
    :func:`is_leftover`); returns what was deleted. Call it only while holding the folder's RunLock."""
    removed = []
    for path in sorted(Path(folder).iterdir()):
        if is_leftover(path.name, measures) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _vtlab_run(folder: Path) -> dict | None:
    """``folder``'s run.json if it is one that ``vtlab train`` wrote (readable, with its keys), else None."""
    try:
        return read_run(folder)
    except (OSError, ValueError):
        return None


def claim(folder: Path, measures: list[str] | tuple[str, ...] = ()) -> None:
    """Raise ValueError unless ``folder`` is new, empty, holds only vtlab's leftovers, or holds a vtlab run: a
    user's folder is never written into."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    entries = sorted(os.listdir(folder))
    if all(name == LOCK_NAME or is_leftover(name, measures) for name in entries):
        return
    if (folder / "run.json").is_file() and _vtlab_run(folder) is not None:
        return
    shown = ", ".join(entries[:6]) + (f" and {len(entries) - 6} more" if len(entries) > 6 else "")
    why = "its run.json is not one that `vtlab train` wrote" if "run.json" in entries else "it has no run.json"
    raise ValueError(f"expected --out to be a new or empty folder, or a vtlab run folder; {folder} holds "
                     f"{len(entries)} entries that vtlab did not write ({shown}) and {why}: choose another --out "
                     f"(vtlab never writes into a folder it did not make)")


def _check_type(path: Path, name: str, value, kinds: tuple[type, ...], expected: str, least=None) -> None:
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds) or (
            least is not None and value is not None and value < least):
        raise CheckpointError(f"{path} holds {name} = {value!r}; expected {expected} (hand-edited? restore the "
                              f"run.json that `vtlab train` wrote)")


def read_run(folder: Path) -> dict:
    """A run folder's run.json, with every key that eval and resume read checked by type and range; a file that
    fails raises CheckpointError naming the key, what was expected and what came."""
    from ..models import list_models

    path = Path(folder) / "run.json"
    info = read_run_json(folder, RUN_KEYS)
    _check_type(path, "model", info["model"], (str,), "a model name from `vtlab models`")
    if info["model"] not in list_models():
        raise CheckpointError(f"{path} names the model {info['model']!r}; expected one from `vtlab models`")
    for key in ("data", "recipe", "task"):
        _check_type(path, key, info[key], (str,), "a string")
    for key, least in (("num_classes", 1), ("seed", 0), ("batch_size", 1), ("epochs", 1)):
        _check_type(path, key, info[key], (int,), f"an integer >= {least}", least)
    _check_type(path, "peak_lr", info["peak_lr"], (int, float), "a number > 0", 0)
    _check_type(path, "model_options", info["model_options"], (str,), "a JSON object as a string")
    try:
        options = json.loads(info["model_options"])
    except (json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(f"{path} holds unreadable model_options {info['model_options']!r}") from error
    _check_type(path, "model_options", options, (dict,), "a JSON object of model options")
    if "num_classes" in options:
        raise CheckpointError(f"{path} holds num_classes inside model_options; expected it as run.json's own "
                              f"num_classes ({info['num_classes']!r})")
    info["options"] = options
    config = info["config"]
    _check_type(path, "config", config, (dict,), "an object")
    for key in CONFIG_SETTINGS:
        least = 0 if key == "workers" else 1
        _check_type(path, f"config.{key}", config.get(key, 0 if key == "workers" else None),
                    (int, type(None)), f"an integer >= {least} or null", least)
    if "classes" in info:
        classes = info["classes"]
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes) or \
                len(classes) != info["num_classes"]:
            raise CheckpointError(f"{path} holds classes = {str(classes)[:80]}; expected a list of "
                                  f"{info['num_classes']} class names (num_classes)")
    _check_type(path, "run_id", info.get("run_id"), (str, type(None)), "a string")
    return info


def recorded_settings(run: dict) -> dict:
    """The settings of RESUME_SETTINGS as a run.json records them (workers: 0 in run.json files that predate it)."""
    config = run["config"]
    return {**{name: run[name] for name in RESUME_SETTINGS if name in run},
            **{name: config.get(name, 0 if name == "workers" else None) for name in CONFIG_SETTINGS}}


def resume_changes(out: Path, run: dict, settings: dict, allow: bool) -> dict:
    """The settings that differ from ``out``'s run.json (``run``), as {name: (recorded, now)}; raises ValueError
    listing them unless ``allow`` (the model and its ablations can never change: the weights would not fit)."""
    recorded = recorded_settings(run)
    changes = {name: (recorded[name], value) for name, value in settings.items() if recorded[name] != value}
    listed = ", ".join(f"{RESUME_SETTINGS[name]} {old!r} (now {new!r})" for name, (old, new) in changes.items())
    if any(name in ARCHITECTURE for name in changes):
        raise ValueError(f"{out} holds a run with other model settings: {listed}; the checkpoint's weights fit that "
                         f"model only: resume with the run's settings, or choose another --out")
    if changes and not allow:
        raise ValueError(f"{out} was run with other settings: {listed}; resume with the run's settings, or pass "
                         f"--allow-changes (allow_changes=True) to continue with these (run.json records the change)")
    return changes


def check_same_run(out: Path, run: dict, meta: dict) -> None:
    """Raise CheckpointError unless the checkpoint (its ``meta``) was written by the run that run.json describes:
    the same run_id, or, for checkpoints that predate it, the same model, data, recipe and seed."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{out / 'checkpoint.pt'} holds no run description (meta); expected a vtlab checkpoint")
    if run.get("run_id") and meta.get("run_id"):
        if run["run_id"] != meta["run_id"]:
            raise CheckpointError(
                f"{out / 'checkpoint.pt'} was written by another run (run id {meta['run_id']}, seed "
                f"{meta.get('seed')!r}) than the one {out / 'run.json'} describes (run id {run['run_id']}, seed "
                f"{run['seed']!r}): it was copied in from elsewhere; restore this run's own checkpoint, or copy the "
                f"whole run folder")
        return
    differ = [f"{key} {meta.get(key)!r} (run.json: {run.get(key)!r})" for key in ("model", "data", "recipe", "seed")
              if key in meta and meta.get(key) != run.get(key)]
    if differ:
        raise CheckpointError(f"{out / 'checkpoint.pt'} belongs to another run than {out / 'run.json'}: "
                              f"{', '.join(differ)}; restore this run's own checkpoint or choose another --out")
