"""The paper's claims at CPU scale: seeded training runs of a compact VT model, its ablations and its convolutional
baseline, and the small JSON files that keep their results.

The paper trains VT-ResNet-18/34 on ImageNet (Table 1: VT-ResNet against ResNet; Table 3: 90 epochs per
ablation). Here each variant of ``vt_resnet_mini`` (:data:`VARIANTS`: the base model and Table 3's -TF, -PE,
-DT) and the baseline ``resnet_mini`` (``"baseline"``) is trained with vtlab's own engine on small offline data
(the generated ``shapes`` scenes, scikit-learn's ``digits``), once per seed, long enough to reach a plateau.
Runs of the same seed share their data, data order and the initial weights of stages 1–4, so the per-seed
difference to the base is a paired comparison; the spread over seeds says how much of a difference is noise.
The same machinery compares ``vt_fpn_resnet_mini`` with ``fpn_resnet_mini`` on the ``shapes`` masks (mIoU).

:func:`run_ablations` is resumable: given a file, it keeps the runs already there (if the file was made with
the same settings), trains only the missing ones and rewrites the file after every run, so an interrupted
study loses at most the run in progress. On the CPU with a fixed thread count a run is deterministic on one
machine and torch version; another CPU may change the last digits, and through them the trajectories.

File format (:data:`FORMAT`), as :func:`run_ablations` returns it and :func:`check_ablations` verifies it::

    {"format": 2,
     "settings": {AblationSettings fields; tuples as lists},
     "environment": {"torch": version, "device": "cpu" or a GPU's name, "threads": int},
     "validation": {"images": int, "classes": int},                                  # what accuracy is on
     "variants": {name: {"model": str, "options": {switch: false}, "macs": int, "params": int}},
     "runs": [{"variant": name, "seed": int, "device": str, "seconds": float, "epochs": int,
               "train_loss": [...], "val_loss": [...], "val_acc": [...] (+ "val_miou": [...] for segmentation),
               "tokens": [per block {"cosine", "effective_tokens", "peak", "lift", "on_objects"}] or null}]}

with one float per epoch in each list, in the engine's rounding (6 decimals); ``tokens`` are the last epoch's
token measurements (:func:`vtlab.probe.token_report`) of a VT-ResNet on ``shapes``.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from ..cost import count_macs, count_params, paper
from ..data import parse_data
from ..models import create_model, model_task
from .engine import TrainConfig, create_data, train
from .recipes import get_recipe

FORMAT = 2
# Where the studies that ship with vtlab live (study-NAME.json; scripts/make_studies.py writes them).
STUDY_DIR = Path(__file__).resolve().parents[1] / "assets" / "studies"
BASELINE = "baseline"
# The VT variants trained: the base model and Table 3's ablations, by the vtlab switches each turns off; and the
# convolutional baseline, "baseline", which is another model (AblationSettings.baseline).
VARIANTS: dict[str, dict[str, bool]] = {"base": {}, **paper.ABLATIONS}
CURVES = ("train_loss", "val_loss", "val_acc")
TOKEN_KEYS = ("cosine", "effective_tokens", "peak", "lift", "on_objects")


@dataclass(frozen=True)
class AblationSettings:
    """What :func:`run_ablations` trains: ``model`` with each of ``variants`` (and ``baseline`` for the variant
    "baseline") once per seed in ``seeds``, with the ``recipe`` for ``epochs`` epochs at ``batch_size`` (None: the
    recipe's) on ``train_size`` items of ``data`` (validation: ``val_size`` items of its validation split, None:
    all of it; see :func:`vtlab.data.create_dataset` for which items), at
    ``image_size`` (None: the data's own), on ``device`` with ``threads`` CPU threads."""

    model: str = "vt_resnet_mini"
    recipe: str = "quick"
    data: str = "shapes"
    epochs: int = 8
    train_size: int | None = 1000
    image_size: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    variants: tuple[str, ...] = tuple(VARIANTS)
    device: str = "cpu"
    threads: int = 2
    baseline: str = "resnet_mini"
    val_size: int | None = None
    batch_size: int | None = None

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> AblationSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown ablation settings {sorted(unknown)}; expected some of {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @property
    def task(self) -> str:
        return model_task(self.model)

    @property
    def curves(self) -> tuple[str, ...]:
        """The per-epoch values each run keeps: losses and accuracy, and mIoU for segmentation."""
        return CURVES + (("val_miou",) if self.task == "segment" else ())


SEEDS = (0, 1, 2, 3, 4)
CLASSIFY = (BASELINE, *VARIANTS)
# The studies that ship with vtlab (STUDY_DIR/study-NAME.json, made by scripts/make_studies.py): budgets
# chosen so that the base model's validation accuracy has flattened by the end (AblationSummary.late_gain says
# how much the last fifth of the epochs still added). One CPU thread per run, so two studies (or two halves of
# one, by seed) can run at once on two cores.
STUDIES: dict[str, AblationSettings] = {
    "shapes": AblationSettings(data="shapes", epochs=15, batch_size=32, train_size=1200, val_size=300, seeds=SEEDS,
                               variants=CLASSIFY, threads=1),
    "digits": AblationSettings(data="digits", epochs=40, batch_size=32, train_size=300, seeds=SEEDS,
                               variants=CLASSIFY, threads=1),
    # Two objects decide the label: the VT model against its baseline only (Table 3's ablations are on shapes
    # and digits), which keeps all the studies within about two hours on two cores.
    "pairs": AblationSettings(data="shapes-pairs", epochs=15, batch_size=32, train_size=1200, val_size=300,
                              seeds=SEEDS, variants=(BASELINE, "base"), threads=1),
    "segmentation": AblationSettings(model="vt_fpn_resnet_mini", baseline="fpn_resnet_mini", recipe="quick-segment",
                                     data="shapes", epochs=30, train_size=640, val_size=200, seeds=(0, 1, 2),
                                     variants=(BASELINE, "base"), threads=1),
}


def variant_model(settings: AblationSettings, variant: str) -> tuple[str, dict[str, bool]]:
    """(model name, VT options) of a variant: the baseline model, or ``settings.model`` with switches off."""
    if variant == BASELINE:
        return settings.baseline, {}
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {[BASELINE, *VARIANTS]}")
    return settings.model, dict(VARIANTS[variant])


def variant_cost(settings: AblationSettings, variant: str, num_classes: int) -> dict:
    """The model, options, MACs and parameters of one variant at the training image size."""
    name, options = variant_model(settings, variant)
    model = create_model(name, num_classes=num_classes, **options)
    size = settings.image_size or parse_data(settings.data).image_size
    return {"model": name, "options": options, "macs": count_macs(model, size), "params": count_params(model)}


def _device_name(device: str) -> str:
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return torch.cuda.get_device_name()
    return "cpu"


def _final_tokens(out: Path) -> list[dict[str, float]] | None:
    """The last epoch's rows of a run's tokens.csv (one per block), or None where the engine wrote none."""
    path = out / "tokens.csv"
    if not path.exists():
        return None
    with open(path) as f:
        rows = list(csv.DictReader(f))
    last = rows[-1]["epoch"]
    return [{key: float(row[key]) for key in TOKEN_KEYS} for row in rows if row["epoch"] == last]


def study_config(settings: AblationSettings, variant: str, seed: int, out: str, **changes) -> TrainConfig:
    """The engine's configuration of one run of a study (quiet), with ``changes`` to other TrainConfig fields."""
    name, options = variant_model(settings, variant)
    return TrainConfig(**{"recipe": settings.recipe, "model": name, "data": settings.data, "epochs": settings.epochs,
                          "batch_size": settings.batch_size, "seed": seed, "out": out, "device": settings.device,
                          "image_size": settings.image_size, "train_size": settings.train_size,
                          "val_size": settings.val_size, "progress": False, "model_options": options, **changes})


def run_one(settings: AblationSettings, variant: str, seed: int) -> dict:
    """Train one variant with one seed (quietly, in a temporary run folder); return its entry of ``runs``."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        rows = train(study_config(settings, variant, seed, out))
        tokens = _final_tokens(Path(out))
    return {"variant": variant, "seed": seed, "device": _device_name(settings.device),
            "seconds": round(time.perf_counter() - started, 1), "epochs": settings.epochs,
            **{key: [float(row[key]) for row in rows] for key in settings.curves}, "tokens": tokens}


def _runs_on_disk(path: Path, settings: AblationSettings) -> list[dict]:
    """The runs a study file already holds (none if there is no file); its settings must be ``settings``."""
    if not path.exists():
        return []
    previous = check_ablations(json.loads(path.read_text()), complete=False)
    if previous["settings"] != settings.to_dict():
        raise ValueError(f"{path} holds a study with other settings ({previous['settings']}); expected "
                         f"{settings.to_dict()}: move it away or run with its settings")
    return previous["runs"]


def run_ablations(settings: AblationSettings | None = None, log: Callable[[str], None] | None = None,
                  path: str | Path | None = None, seeds: tuple[int, ...] | None = None,
                  variants: tuple[str, ...] | None = None) -> dict:
    """Train every variant once per seed with vtlab's engine and return the results in the file format of this
    module (see the module docstring). With ``path``, runs already in that file are kept (its settings must be
    these) and the file is rewritten after every new run: an interrupted study continues where it stopped.
    ``seeds`` and ``variants`` (subsets of the settings') train only those, so that several processes can share
    one study file: each merges its runs into the file under a lock. ``log`` receives one line per finished run
    (e.g. ``print``); nothing else is printed."""
    settings = settings or AblationSettings()
    seeds = settings.seeds if seeds is None else tuple(seeds)
    if not set(seeds) <= set(settings.seeds):
        raise ValueError(f"expected seeds among the study's {list(settings.seeds)}, got {list(seeds)}")
    variants = settings.variants if variants is None else tuple(variants)
    if not set(variants) <= set(settings.variants):
        raise ValueError(f"expected variants among the study's {list(settings.variants)}, got {list(variants)}")
    for variant in settings.variants:
        variant_model(settings, variant)
    if not settings.seeds:
        raise ValueError("expected at least one seed")
    if not isinstance(settings.epochs, int) or settings.epochs < 1:
        raise ValueError(f"expected epochs >= 1, got {settings.epochs!r}")
    get_recipe(settings.recipe)  # fail early on a typo
    validation = create_data(settings.task, settings.data, "val", settings.image_size, length=settings.val_size)
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    done = _runs_on_disk(Path(path), settings) if path is not None else []
    try:
        results = {"format": FORMAT, "settings": settings.to_dict(),
                   "environment": {"torch": torch.__version__.split("+")[0], "device": _device_name(settings.device),
                                   "threads": settings.threads},
                   "validation": {"images": len(validation), "classes": validation.num_classes},
                   "variants": {v: variant_cost(settings, v, validation.num_classes) for v in settings.variants},
                   "runs": list(done)}
        for seed in seeds:
            for variant in variants:
                if path is not None:  # another process may have added runs since
                    results["runs"] = _runs_on_disk(Path(path), settings)
                if (variant, seed) in {(run["variant"], run["seed"]) for run in results["runs"]}:
                    continue
                run = run_one(settings, variant, seed)
                if path is None:
                    results["runs"].append(run)
                    continue
                with _locked(Path(path)):  # merge into what is on disk now, then write
                    results["runs"] = _in_order(settings, [*_runs_on_disk(Path(path), settings), run])
                    save_ablations(results, path, complete=False)
                if log is not None:
                    metric = "val_miou" if settings.task == "segment" else "val_acc"
                    log(f"{settings.data} {variant:>8} seed {seed}: {metric} {run[metric][-1]:.4f} "
                        f"({run['seconds']:.0f} s)")
    finally:
        torch.set_num_threads(threads)
    results["runs"] = _in_order(settings, results["runs"])
    return results


def _in_order(settings: AblationSettings, runs: list[dict]) -> list[dict]:
    """Runs by seed, then variant, in the settings' order: the same file whichever process finished first."""
    return sorted(runs, key=lambda run: (settings.seeds.index(run["seed"]), settings.variants.index(run["variant"])))


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on ``path``'s sibling ``.NAME.lock`` while a study file is read and rewritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_ablations(results: dict, complete: bool = True) -> dict:
    """Raise ``ValueError`` unless ``results`` has this module's file format (keys, types, one value per epoch
    in every curve, every (variant, seed) run at most once, and with ``complete`` exactly once); return it."""
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
        model, options = variant_model(settings, name)
        if set(variant) != {"model", "options", "macs", "params"} or variant["options"] != options or \
                variant["model"] != model or not all(isinstance(variant[k], int) for k in ("macs", "params")):
            fail(f"variant {name!r}: {variant}")
    expected = sorted((v, s) for s in settings.seeds for v in settings.variants)
    found = sorted((run.get("variant"), run.get("seed")) for run in results["runs"])
    if len(set(found)) != len(found) or not set(found) <= set(expected) or (complete and found != expected):
        fail(f"runs {found}, expected {'one' if complete else 'at most one'} per variant and seed {expected}")
    for run in results["runs"]:
        if set(run) != {"variant", "seed", "device", "seconds", "epochs", "tokens", *settings.curves}:
            fail(f"run keys {sorted(run)}")
        for key in settings.curves:
            values = run[key]
            if len(values) != settings.epochs or not all(isinstance(x, float) and math.isfinite(x) for x in values):
                fail(f"{run['variant']} seed {run['seed']}: {key} should hold {settings.epochs} finite floats")
        tokens = run["tokens"]
        if tokens is not None and not (isinstance(tokens, list) and all(
                isinstance(t, dict) and set(t) == set(TOKEN_KEYS) for t in tokens)):
            fail(f"{run['variant']} seed {run['seed']}: tokens should be null or a list of {TOKEN_KEYS} per block")
    return results


def save_ablations(results: dict, path: str | Path, complete: bool = True) -> Path:
    """Write checked results as indented JSON (one run per line, so that a diff shows what changed), through a
    temporary file, so that an interrupted write leaves the previous file whole."""
    from .checkpoint import atomic_write

    check_ablations(results, complete=complete)
    path = Path(path)
    head = {k: v for k, v in results.items() if k != "runs"}
    text = json.dumps(head, indent=1)[:-2] + ',\n "runs": [\n' + ",\n".join(
        "  " + json.dumps(run) for run in results["runs"]) + "\n ]\n}\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def load_ablations(path: str | Path, complete: bool = True) -> dict:
    """Read and check a file written by :func:`save_ablations`."""
    return check_ablations(json.loads(Path(path).read_text()), complete=complete)


@dataclass(frozen=True)
class AblationSummary:
    """One variant's final validation accuracy (or mIoU) per seed (in the settings' seed order), and its per-seed
    difference to the base run of the same seed, in points (0–100); ``late_gain``: per seed, how many points the
    last fifth of the epochs added (near 0: the run had reached its plateau)."""

    variant: str
    seeds: tuple[int, ...]
    accuracy: tuple[float, ...]
    delta: tuple[float, ...]
    late_gain: tuple[float, ...] = ()

    @property
    def mean_accuracy(self) -> float:
        return statistics.fmean(self.accuracy)

    @property
    def mean_delta(self) -> float:
        return statistics.fmean(self.delta)

    @property
    def std(self) -> float:
        """Sample standard deviation of the accuracy over the seeds (0 for one seed)."""
        return statistics.stdev(self.accuracy) if len(self.accuracy) > 1 else 0.0

    @property
    def delta_std(self) -> float:
        return statistics.stdev(self.delta) if len(self.delta) > 1 else 0.0

    @property
    def spread(self) -> float:
        """Highest minus lowest accuracy over the seeds."""
        return max(self.accuracy) - min(self.accuracy)

    @property
    def delta_range(self) -> tuple[float, float]:
        return min(self.delta), max(self.delta)


def summarize_ablations(results: dict, metric: str | None = None) -> dict[str, AblationSummary]:
    """Per variant (in the file's order): the final ``metric`` (default: validation accuracy, or mIoU for
    segmentation) per seed and its paired difference to the base, in points. Needs the variant "base"."""
    settings = AblationSettings.from_dict(results["settings"])
    metric = metric or ("val_miou" if settings.task == "segment" else "val_acc")
    if "base" not in settings.variants:
        raise ValueError("the differences are taken to the variant 'base', which these results lack")
    curves = {(run["variant"], run["seed"]): run[metric] for run in results["runs"]}
    final = {key: 100 * curve[-1] for key, curve in curves.items()}
    tail = max(1, settings.epochs // 5)
    late = {key: 100 * (curve[-1] - curve[-1 - tail]) if len(curve) > tail else math.nan
            for key, curve in curves.items()}
    return {v: AblationSummary(v, settings.seeds, tuple(final[v, s] for s in settings.seeds),
                               tuple(final[v, s] - final["base", s] for s in settings.seeds),
                               tuple(late[v, s] for s in settings.seeds))
            for v in settings.variants}


def load_study(name: str, folder: str | Path | None = None) -> dict:
    """The complete, checked results of the study ``name`` of :data:`STUDIES`, from ``folder`` (default: the
    copies that ship with vtlab, :data:`STUDY_DIR`). Raises ``ValueError`` if the file was made with other
    settings than :data:`STUDIES` holds now (a stale cache), naming what differs."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; expected one of {list(STUDIES)}")
    path = Path(folder if folder is not None else STUDY_DIR) / f"study-{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no cached study {path}; make it with `python scripts/make_studies.py --only {name}`")
    results = load_ablations(path)
    expected = STUDIES[name].to_dict()
    changed = {k: (results["settings"].get(k), v) for k, v in expected.items()
               if results["settings"].get(k) != v and k != "device"}
    if changed:
        raise ValueError(f"{path} was made with other settings than STUDIES[{name!r}] now holds "
                         f"({', '.join(f'{k}: {a!r} (now {b!r})' for k, (a, b) in changed.items())}); "
                         f"regenerate it with `python scripts/make_studies.py --only {name}`")
    return results


def variant_label(results: dict, variant: str) -> str:
    """A variant's name in figures and tables: its model, with the ablation where it is one
    (``vt_resnet_mini -TF``)."""
    model = results["variants"][variant]["model"]
    return model if variant in (BASELINE, "base") else f"{model} {variant}"


def direction(deltas: Sequence[float]) -> str:
    """What per-seed differences say, in words: higher (or lower) on every seed, or no consistent difference."""
    if all(d > 0 for d in deltas):
        return f"higher on all {len(deltas)} seeds"
    if all(d < 0 for d in deltas):
        return f"lower on all {len(deltas)} seeds"
    return f"higher on {sum(d > 0 for d in deltas)} of {len(deltas)} seeds: no consistent difference"


def binomial_stderr(accuracy: float, count: int) -> float:
    """Standard error, in points, of an accuracy (in points) measured on ``count`` independent images."""
    p = accuracy / 100
    return 100 * math.sqrt(p * (1 - p) / count)


__all__ = ["BASELINE", "CLASSIFY", "FORMAT", "SEEDS", "STUDIES", "STUDY_DIR", "VARIANTS", "AblationSettings",
           "AblationSummary", "binomial_stderr", "check_ablations", "direction", "load_ablations", "load_study",
           "run_ablations", "run_one", "save_ablations", "study_config", "summarize_ablations", "variant_cost",
           "variant_label", "variant_model"]
