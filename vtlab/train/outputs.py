"""What a run folder holds beside its checkpoint: ``run.json``, ``metrics.csv`` (one row per epoch), the weights
(``model.safetensors``, ``ema.safetensors``, each with its SHA-256 and epoch) and a CSV file per measure; all
derived from the run's state, so that a resume can tell what is missing or stale and rewrite it from the
checkpoint (:func:`complete`)."""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import asdict
from pathlib import Path

from torch import nn

from .checkpoint import CHECKSUM_KEY, atomic_write, recorded_metadata, save_weights, state_digest, weights_state
from .config import RunPlan
from .measures import EpochMeasure

METRICS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "ema_val_loss", "ema_val_acc", "lr",
           "images_per_s", "epoch_time_s"]
# Segmentation runs add mIoU; their accuracies are pixel accuracies over labelled pixels.
SEGMENTATION_METRICS = METRICS[:5] + ["val_miou"] + METRICS[5:7] + ["ema_val_miou"] + METRICS[7:]


def write_csv(path: Path, rows: list[dict], fieldnames: list[str]) -> None:
    """``rows`` as a CSV file with a header, written atomically (metrics.csv, tokens.csv)."""
    text = csv_text(rows, fieldnames)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def csv_text(rows: list[dict], fieldnames: list[str]) -> str:
    """``rows`` as CSV text with a header (the bytes metrics.csv and the measures' files hold)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def run_outputs(plan: RunPlan, model: nn.Module, ema: nn.Module | None, rows: list[dict],
                measured: dict[str, list[dict]], measures: list[EpochMeasure]) -> list[tuple[Path, str, object]]:
    """What a run folder holds beside its checkpoint, derived from the run's state: (path, kind, content)."""
    out = plan.out
    files = [(out / "model.safetensors", "weights", model)]
    if ema is not None:
        files.append((out / "ema.safetensors", "weights", ema.module))
    files.append((out / "metrics.csv", "csv", (rows, SEGMENTATION_METRICS if plan.segment else METRICS)))
    files += [(out / f"{m.name}.csv", "csv", (measured[m.name], m.fields)) for m in measures if measured.get(m.name)]
    return files


def write_output(path: Path, kind: str, content, epoch: int) -> None:
    """Write one of :func:`run_outputs`' files (atomically)."""
    if kind == "weights":
        save_weights(content, path, epoch)
    else:
        write_csv(path, *content)


def stale(path: Path, kind: str, content, epoch: int) -> str | None:
    """Why ``path`` does not hold ``content`` of ``epoch`` (missing, other weights, other rows), or None."""
    if not path.is_file():
        return "missing"
    if kind == "weights":
        metadata = recorded_metadata(path)
        same = metadata.get(CHECKSUM_KEY) == state_digest(weights_state(content)) and \
            metadata.get("epoch", str(epoch)) == str(epoch)
        return None if same else "other weights"
    try:
        same = path.read_bytes() == csv_text(*content).encode()
    except OSError:
        same = False
    return None if same else "other rows"


def complete(plan: RunPlan, model: nn.Module, ema: nn.Module | None, rows: list[dict],
             measured: dict[str, list[dict]], measures: list[EpochMeasure], epoch: int) -> None:
    """Rewrite from the checkpoint (loaded into ``model`` and ``ema``) what the run folder lacks at ``epoch``:
    weights or rows that a kill between writes, or a deleted file, left missing or stale; say what was
    rewritten."""
    mended = []
    for path, kind, content in run_outputs(plan, model, ema, rows, measured, measures):
        why = stale(path, kind, content, epoch)
        if why:
            write_output(path, kind, content, epoch)
            mended.append(f"{path.name} ({why})")
    if mended:
        print(f"note: {plan.out} did not hold what its checkpoint (epoch {epoch}) says it must: rewrote "
              f"{', '.join(mended)} from checkpoint.pt", file=sys.stderr)


def run_json(plan: RunPlan, meta: dict, classes, measures: list[EpochMeasure]) -> dict:
    """What run.json records: the config, the recipe, the resolved settings, ``meta`` (model, data, run_id ...),
    the measures attached and the class names."""
    run = {"config": asdict(plan.config), "recipe": asdict(plan.recipe), "batch_size": plan.batch_size,
           "epochs": plan.epochs, "peak_lr": plan.peak_lr, "world_size": plan.ctx.world_size,
           "device": str(plan.device), **meta, "measures": [m.name for m in measures]}
    if classes is not None:
        run["classes"] = list(classes)
    return run


def write_run_json(out: Path, run: dict) -> None:
    """Write ``run`` as OUT/run.json (atomically)."""
    atomic_write(out / "run.json", lambda tmp: Path(tmp).write_text(json.dumps(run, indent=2)))
