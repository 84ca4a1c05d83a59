"""The study file: its format (:data:`FORMAT`), read into a :class:`~vtlab.studies.study.Study` and checked
(:func:`parse_study`), written (:func:`save_study`) and read back (:func:`read_study`), and the studies that ship
with vtlab (:func:`load_study`).

The file, as :func:`save_study` writes it::

    {"format": 3,
     "settings": {StudySettings fields; tuples as lists},
     "environment": {"torch": version, "device": "cpu" or a GPU's name, "threads": int},
     "validation": {"images": int, "classes": int},                                  # what accuracy is on
     "variants": {name: {"model": str, "options": {switch: false}, "macs": int, "params": int}},
     "runs": [{"variant": name, "seed": int, "device": str, "seconds": float, "epochs": int,
               "train_loss": [...], "val_loss": [...], "val_acc": [...] (+ "val_miou": [...] for segmentation),
               "tokens": [per block {"cosine", "effective_tokens", "peak", "lift", "on_objects"}] or null,
               "fusion": [per pyramid level, the token path's term over the lateral map] or null}]}

with one float per epoch in each list, in the engine's rounding (6 decimals); ``tokens`` are the last epoch's
token measurements (:func:`vtlab.probe.token_report`) of a VT-ResNet on ``shapes``, ``fusion`` the last epoch's
:func:`vtlab.probe.fusion_ratios` of a VT-FPN. One run per line, so that a
diff of two versions shows which runs changed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NoReturn

from ..train.checkpoint import atomic_write
from .settings import STUDIES, STUDY_DIR, TOKEN_KEYS, StudySettings, variant_model
from .study import FORMAT, BlockTokens, Environment, Run, Study, Validation, VariantCost

KEYS = ("format", "settings", "environment", "validation", "variants", "runs")


def _fail(why: str) -> NoReturn:
    raise ValueError(f"not a study file (format {FORMAT}): {why}")


def _check_head(results: dict) -> StudySettings:
    """Check everything but the runs; return the settings."""
    if not isinstance(results, dict) or sorted(results) != sorted(KEYS):
        _fail(f"expected the keys {list(KEYS)}, got {sorted(results) if isinstance(results, dict) else results!r}")
    if results["format"] != FORMAT:
        _fail(f"format {results['format']!r}")
    if not isinstance(results["settings"], dict):
        _fail(f"settings {results['settings']!r}")
    settings = StudySettings.from_dict(results["settings"])
    if not isinstance(results["environment"], dict) or set(results["environment"]) != {"torch", "device", "threads"}:
        _fail(f"environment {results['environment']!r}")
    validation = results["validation"]
    if not isinstance(validation, dict) or set(validation) != {"images", "classes"} or \
            not all(isinstance(v, int) and v > 0 for v in validation.values()):
        _fail(f"validation {validation}")
    if not isinstance(results["variants"], dict) or list(results["variants"]) != list(settings.variants):
        _fail(f"variants {list(results['variants'])} but settings name {list(settings.variants)}")
    for name, variant in results["variants"].items():
        model, options = variant_model(settings, name)
        if not isinstance(variant, dict) or set(variant) != {"model", "options", "macs", "params"} or \
                variant["options"] != options or variant["model"] != model or \
                not all(isinstance(variant[k], int) for k in ("macs", "params")):
            _fail(f"variant {name!r}: {variant}")
    return settings


def _check_runs(runs: object, settings: StudySettings, complete: bool) -> None:
    """Every (variant, seed) run at most once (with ``complete``, exactly once), one finite float per epoch in
    each curve, and tokens null or one record per block."""
    if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
        _fail(f"runs should be a list of records, got {runs!r}")
    expected = sorted((v, s) for s in settings.seeds for v in settings.variants)
    found = sorted((run.get("variant"), run.get("seed")) for run in runs)
    if len(set(found)) != len(found) or not set(found) <= set(expected) or (complete and found != expected):
        _fail(f"runs {found}, expected {'one' if complete else 'at most one'} per variant and seed {expected}")
    for run in runs:
        if set(run) != {"variant", "seed", "device", "seconds", "epochs", "tokens", "fusion", *settings.curves}:
            _fail(f"run keys {sorted(run)}")
        for key in settings.curves:
            values = run[key]
            if not isinstance(values, list) or len(values) != settings.epochs or \
                    not all(isinstance(x, float) and math.isfinite(x) for x in values):
                _fail(f"{run['variant']} seed {run['seed']}: {key} should hold {settings.epochs} finite floats")
        tokens = run["tokens"]
        if tokens is not None and not (isinstance(tokens, list) and all(
                isinstance(t, dict) and set(t) == set(TOKEN_KEYS) for t in tokens)):
            _fail(f"{run['variant']} seed {run['seed']}: tokens should be null or a list of {TOKEN_KEYS} per block")
        fusion = run["fusion"]
        if fusion is not None and not (isinstance(fusion, list) and all(
                isinstance(x, float) and math.isfinite(x) for x in fusion)):
            _fail(f"{run['variant']} seed {run['seed']}: fusion should be null or one finite float per level")


def _run(run: dict, settings: StudySettings) -> Run:
    tokens = None if run["tokens"] is None else tuple(BlockTokens(**block) for block in run["tokens"])
    return Run(run["variant"], run["seed"], run["device"], run["seconds"], run["epochs"],
               {key: tuple(run[key]) for key in settings.curves}, tokens,
               None if run["fusion"] is None else tuple(run["fusion"]))


def parse_study(results: dict, complete: bool = True) -> Study:
    """The :class:`~vtlab.studies.study.Study` that ``results`` (a study file's JSON) holds; raise
    ``ValueError`` unless it has the format (keys, types, one value per epoch in every curve, every (variant,
    seed) run at most once, and with ``complete`` exactly once)."""
    settings = _check_head(results)
    _check_runs(results["runs"], settings, complete)
    return Study(settings, Environment(**results["environment"]), Validation(**results["validation"]),
                 {name: VariantCost(**cost) for name, cost in results["variants"].items()},
                 tuple(_run(run, settings) for run in results["runs"]))


def study_text(study: Study, complete: bool = True) -> str:
    """A checked study as the file's text: indented JSON, one run per line."""
    results = study.to_dict()
    parse_study(results, complete=complete)
    head = {k: v for k, v in results.items() if k != "runs"}
    return json.dumps(head, indent=1)[:-2] + ',\n "runs": [\n' + ",\n".join(
        "  " + json.dumps(run) for run in results["runs"]) + "\n ]\n}\n"


def save_study(study: Study, path: str | Path, complete: bool = True) -> Path:
    """Write a checked study (:func:`study_text`) through a temporary file, so that an interrupted write leaves
    the previous file whole; returns ``path``."""
    path = Path(path)
    text = study_text(study, complete)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"expected a study file (JSON) at {path}, got unreadable text: {error}") from None


def read_study(path: str | Path, complete: bool = True) -> Study:
    """Read and check a file written by :func:`save_study`."""
    return parse_study(_read_json(Path(path)), complete=complete)


def load_study(name: str, folder: str | Path | None = None, complete: bool = True) -> Study:
    """The checked study ``name`` of :data:`~vtlab.studies.settings.STUDIES`, from ``folder`` (default: the
    copies that ship with vtlab, :data:`~vtlab.studies.settings.STUDY_DIR`); with ``complete=False`` also one
    still being made (``Study.complete`` says which, ``Study.seeds`` what can be paired so far). Raises
    ``ValueError`` if the file was made with other settings than STUDIES holds now (a stale cache), naming what
    differs."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; expected one of {list(STUDIES)}")
    path = Path(folder if folder is not None else STUDY_DIR) / f"study-{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no cached study {path}; make it with `python scripts/make_studies.py --only {name}`")
    results = _read_json(path)
    study = parse_study(results, complete=complete)
    expected = STUDIES[name].to_dict()
    changed = {k: (results["settings"].get(k), v) for k, v in expected.items()
               if results["settings"].get(k) != v and k != "device"}
    if changed:
        raise ValueError(f"{path} was made with other settings than STUDIES[{name!r}] now holds "
                         f"({', '.join(f'{k}: {a!r} (now {b!r})' for k, (a, b) in changed.items())}); "
                         f"regenerate it with `python scripts/make_studies.py --only {name}`")
    return study
