"""Table 3's ablations at CPU scale: short same-seed training runs of a compact VT-ResNet and its ablated
variants, and the small JSON file that keeps their results.

The paper trains VT-ResNet-18/34 on ImageNet for 90 epochs per variant; here each variant of ``vt_resnet_mini``
(base, -TF, -PE, -DT: :data:`VARIANTS`) is trained with vtlab's own engine on the generated ``shapes`` scenes
for a few epochs, once per seed. Runs of the same seed share their data, data order and the initial weights
of stages 1–4 (built before the VT stage), so the per-seed difference to the base is a paired comparison; the
spread over seeds says how much of a difference is noise. On the CPU with a fixed thread count a run is
deterministic, so :func:`run_ablations` writes the same file every time on the same machine and torch version
(another CPU or torch version may change the last digits, and through them the trajectories).

File format (:data:`FORMAT`), as :func:`run_ablations` returns it and :func:`check_ablations` verifies it::

    {"format": 1,
     "settings": {AblationSettings fields; tuples as lists},
     "environment": {"torch": version, "device": "cpu", "threads": 2},
     "validation": {"images": int, "classes": int},                                  # what accuracy is on
     "variants": {name: {"options": {switch: false}, "macs": int, "params": int}},   # at the training size
     "runs": [{"variant": name, "seed": int, "train_loss": [...], "val_loss": [...], "val_acc": [...]}]}

with one float per epoch in each list, in the engine's rounding (6 decimals).
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from ..cost import count_macs, count_params, paper
from ..data import create_dataset, parse_data
from ..models import create_model
from .engine import TrainConfig, train
from .recipes import get_recipe

FORMAT = 1
# The variants trained: the base model and Table 3's ablations, by the vtlab switches each turns off.
VARIANTS: dict[str, dict[str, bool]] = {"base": {}, **paper.ABLATIONS}
CURVES = ("train_loss", "val_loss", "val_acc")


@dataclass(frozen=True)
class AblationSettings:
    """What :func:`run_ablations` trains: ``model`` with each of ``variants`` once per seed in ``seeds``, with
    the ``recipe`` for ``epochs`` epochs on the first ``train_size`` scenes of ``data`` (validation: the
    dataset's own validation split), at ``image_size`` (None: the data's own), on ``device`` with
    ``threads`` CPU threads."""

    model: str = "vt_resnet_mini"
    recipe: str = "quick"
    data: str = "shapes"
    epochs: int = 8
    train_size: int = 1000
    image_size: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    variants: tuple[str, ...] = tuple(VARIANTS)
    device: str = "cpu"
    threads: int = 2

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> AblationSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown ablation settings {sorted(unknown)}; expected some of {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def variant_cost(settings: AblationSettings, variant: str, num_classes: int) -> dict:
    """The options, MACs and parameters of one variant of ``settings.model`` at the training image size."""
    options = VARIANTS[variant]
    model = create_model(settings.model, num_classes=num_classes, **options)
    size = settings.image_size or parse_data(settings.data).image_size
    return {"options": dict(options), "macs": count_macs(model, size), "params": count_params(model)}


def run_ablations(settings: AblationSettings | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Train every variant once per seed with vtlab's engine (quietly, in temporary run folders) and return
    the results in the file format of this module (see the module docstring). ``log`` receives one line per
    finished run (e.g. ``print``); nothing else is printed."""
    settings = settings or AblationSettings()
    unknown = [v for v in settings.variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; expected some of {list(VARIANTS)}")
    if not settings.seeds:
        raise ValueError("expected at least one seed")
    get_recipe(settings.recipe)  # fail early on a typo
    validation = create_dataset(settings.data, "val", settings.image_size)  # what train() scores on
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        variants = {v: variant_cost(settings, v, validation.num_classes) for v in settings.variants}
        runs = []
        for seed in settings.seeds:
            for variant in settings.variants:
                with tempfile.TemporaryDirectory() as out:
                    config = TrainConfig(recipe=settings.recipe, model=settings.model, data=settings.data,
                                         epochs=settings.epochs, seed=seed, out=out, device=settings.device,
                                         image_size=settings.image_size, train_size=settings.train_size,
                                         progress=False, model_options=dict(VARIANTS[variant]))
                    rows = train(config)
                runs.append({"variant": variant, "seed": seed,
                             **{key: [float(row[key]) for row in rows] for key in CURVES}})
                if log is not None:
                    log(f"{variant:>5} seed {seed}: validation accuracy {rows[-1]['val_acc']:.4f}")
    finally:
        torch.set_num_threads(threads)
    return {"format": FORMAT, "settings": settings.to_dict(),
            "environment": {"torch": torch.__version__.split("+")[0], "device": settings.device,
                            "threads": settings.threads},
            "validation": {"images": len(validation), "classes": validation.num_classes},
            "variants": variants, "runs": runs}


def check_ablations(results: dict) -> dict:
    """Raise ``ValueError`` unless ``results`` has this module's file format (keys, types, one value per epoch
    in every curve, every (variant, seed) run once); return it unchanged."""
    def fail(why: str) -> None:
        raise ValueError(f"not an ablation results file (format {FORMAT}): {why}")

    keys = ["format", "settings", "environment", "validation", "variants", "runs"]
    if not isinstance(results, dict) or sorted(results) != sorted(keys):
        fail(f"expected the keys {keys}, got {sorted(results) if isinstance(results, dict) else results!r}")
    if results["format"] != FORMAT:
        fail(f"format {results['format']!r}")
    settings = AblationSettings.from_dict(results["settings"])
    if set(results["environment"]) != {"torch", "device", "threads"}:
        fail(f"environment keys {sorted(results['environment'])}")
    validation = results["validation"]
    if set(validation) != {"images", "classes"} or not all(isinstance(v, int) and v > 0 for v in validation.values()):
        fail(f"validation {validation}")
    if list(results["variants"]) != list(settings.variants):
        fail(f"variants {list(results['variants'])} but settings name {list(settings.variants)}")
    for name, variant in results["variants"].items():
        if set(variant) != {"options", "macs", "params"} or variant["options"] != VARIANTS.get(name) or not all(
                isinstance(variant[k], int) for k in ("macs", "params")):
            fail(f"variant {name!r}: {variant}")
    expected = sorted((v, s) for s in settings.seeds for v in settings.variants)
    found = sorted((run.get("variant"), run.get("seed")) for run in results["runs"])
    if found != expected:
        fail(f"runs {found}, expected one per variant and seed {expected}")
    for run in results["runs"]:
        if set(run) != {"variant", "seed", *CURVES}:
            fail(f"run keys {sorted(run)}")
        for key in CURVES:
            values = run[key]
            if len(values) != settings.epochs or not all(isinstance(x, float) and math.isfinite(x) for x in values):
                fail(f"{run['variant']} seed {run['seed']}: {key} should hold {settings.epochs} finite floats")
    return results


def save_ablations(results: dict, path: str | Path) -> Path:
    """Write checked results as indented JSON (one run per line, so that a diff shows what changed)."""
    check_ablations(results)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in results.items() if k != "runs"}
    text = json.dumps(head, indent=1)[:-2] + ',\n "runs": [\n' + ",\n".join(
        "  " + json.dumps(run) for run in results["runs"]) + "\n ]\n}\n"
    path.write_text(text)
    return path


def load_ablations(path: str | Path) -> dict:
    """Read and check a file written by :func:`save_ablations`."""
    return check_ablations(json.loads(Path(path).read_text()))


@dataclass(frozen=True)
class AblationSummary:
    """One variant's final validation accuracy per seed (in the settings' seed order), and its per-seed
    difference to the base run of the same seed, in accuracy points (0–100)."""

    variant: str
    seeds: tuple[int, ...]
    accuracy: tuple[float, ...]
    delta: tuple[float, ...]

    @property
    def mean_accuracy(self) -> float:
        return statistics.fmean(self.accuracy)

    @property
    def mean_delta(self) -> float:
        return statistics.fmean(self.delta)

    @property
    def spread(self) -> float:
        """Highest minus lowest accuracy over the seeds."""
        return max(self.accuracy) - min(self.accuracy)

    @property
    def delta_range(self) -> tuple[float, float]:
        return min(self.delta), max(self.delta)


def summarize_ablations(results: dict) -> dict[str, AblationSummary]:
    """Per variant (in the file's order): final validation accuracy per seed and its paired difference to the
    base, in points. Needs the variant "base"."""
    settings = AblationSettings.from_dict(results["settings"])
    if "base" not in settings.variants:
        raise ValueError("the differences are taken to the variant 'base', which these results lack")
    final = {(run["variant"], run["seed"]): 100 * run["val_acc"][-1] for run in results["runs"]}
    return {v: AblationSummary(v, settings.seeds, tuple(final[v, s] for s in settings.seeds),
                               tuple(final[v, s] - final["base", s] for s in settings.seeds))
            for v in settings.variants}


def binomial_stderr(accuracy: float, count: int) -> float:
    """Standard error, in points, of an accuracy (in points) measured on ``count`` independent images."""
    p = accuracy / 100
    return 100 * math.sqrt(p * (1 - p) / count)


__all__ = ["FORMAT", "VARIANTS", "AblationSettings", "AblationSummary", "binomial_stderr",
                          "check_ablations", "load_ablations", "run_ablations", "save_ablations",
                          "summarize_ablations", "variant_cost"]
