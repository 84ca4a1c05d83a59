"""A study as callers read it: :class:`Study` holds its settings, where it ran, what it validated on, each
variant's cost and every run's per-epoch curves, and answers what the notebooks and ``vtlab reproduce`` ask of
it (a variant's cost and label, its runs, its per-seed curves and final values, the paired differences and the
summaries). Each class's ``to_dict`` is its entry of the study file (:mod:`vtlab.studies.store`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .settings import BASE, BASELINE, CURVES, StudySettings
from .summary import VariantSummary, summarize

FORMAT = 3  # the version of the study file's layout, which to_dict writes and vtlab.studies.store reads


@dataclass(frozen=True)
class BlockTokens:
    """One VT block's token measurements at a run's last epoch (:func:`vtlab.probe.token_report`): the mean
    cosine similarity between its tokens' maps, the effective number of tokens, the maps' peak, the lift over
    the labelled regions and the share of token weight on objects."""

    cosine: float
    effective_tokens: float
    peak: float
    lift: float
    on_objects: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Run:
    """One variant trained with one seed: where (``device``) and how long (``seconds``) it ran, for ``epochs``
    epochs, one value per epoch in each of its ``curves`` (``train_loss``, ``val_loss``, ``val_acc``, and
    ``val_miou`` for segmentation, as fractions), and the last epoch's ``tokens`` per VT block (None where the
    engine measured none: a model without tokens, or data the probe does not know), and for VT-FPN the last
    epoch's ``fusion`` ratio per pyramid level (:func:`vtlab.probe.fusion_ratios`; None for other models)."""

    variant: str
    seed: int
    device: str
    seconds: float
    epochs: int
    curves: dict[str, tuple[float, ...]]
    tokens: tuple[BlockTokens, ...] | None = None
    fusion: tuple[float, ...] | None = None

    def curve(self, key: str) -> tuple[float, ...]:
        """The per-epoch values of ``key`` (one of :attr:`curves`)."""
        if key not in self.curves:
            raise ValueError(f"expected one of the run's curves {list(self.curves)}, got {key!r}")
        return self.curves[key]

    def final(self, key: str) -> float:
        """The last epoch's value of ``key``."""
        return self.curve(key)[-1]

    def rows(self, keys: Sequence[str] = CURVES) -> list[dict[str, float]]:
        """The run as metrics rows (``epoch`` and ``keys``), as :func:`vtlab.viz.training.curves_figure` reads."""
        curves = [self.curve(key) for key in keys]
        return [{"epoch": epoch, **dict(zip(keys, values, strict=True))}
                for epoch, values in enumerate(zip(*curves, strict=True), start=1)]

    def to_dict(self) -> dict:
        return {"variant": self.variant, "seed": self.seed, "device": self.device, "seconds": self.seconds,
                "epochs": self.epochs, **{key: list(values) for key, values in self.curves.items()},
                "tokens": None if self.tokens is None else [block.to_dict() for block in self.tokens],
                "fusion": None if self.fusion is None else list(self.fusion)}


@dataclass(frozen=True)
class VariantCost:
    """The model a variant trains, its VT options (the switches turned off) and its MACs and parameters at the
    training image size."""

    model: str
    options: dict[str, bool | str]
    macs: int
    params: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Environment:
    """What the study ran on: the torch version, the device and the CPU threads per run."""

    torch: str
    device: str
    threads: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Validation:
    """What the validation metric is measured on: how many held-out images, of how many classes."""

    images: int
    classes: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Study:
    """A study's results (:func:`vtlab.studies.load_study`, :func:`vtlab.studies.run_study`): ``variants`` by
    name in the settings' order, ``runs`` by seed, then variant. Read it through its methods; its fields are
    not to be changed (make a new Study with :func:`dataclasses.replace`)."""

    settings: StudySettings
    environment: Environment
    validation: Validation
    variants: dict[str, VariantCost]
    runs: tuple[Run, ...] = ()

    def cost(self, variant: str) -> VariantCost:
        """The model, options, MACs and parameters of ``variant``."""
        if variant not in self.variants:
            raise ValueError(f"expected one of the study's variants {list(self.variants)}, got {variant!r}")
        return self.variants[variant]

    def label(self, variant: str) -> str:
        """A variant's name in figures and tables: its model, with the ablation where it is one
        (``vt_resnet_mini -TF``)."""
        model = self.cost(variant).model
        return model if variant in (BASELINE, BASE) else f"{model} {variant}"

    def runs_of(self, variant: str) -> tuple[Run, ...]:
        """The runs of ``variant``, in the study's order (by seed)."""
        self.cost(variant)
        return tuple(run for run in self.runs if run.variant == variant)

    def run(self, variant: str, seed: int) -> Run:
        """The run of ``variant`` with ``seed``."""
        for run in self.runs_of(variant):
            if run.seed == seed:
                return run
        raise ValueError(f"expected a seed the study ran {variant!r} with, {[r.seed for r in self.runs_of(variant)]}, "
                         f"got {seed!r}")

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds of the settings for which every variant has its run: all of them in a complete study, and in
        one still being made the seeds its comparisons can pair so far."""
        done = {(run.variant, run.seed) for run in self.runs}
        return tuple(s for s in self.settings.seeds if all((v, s) in done for v in self.settings.variants))

    @property
    def complete(self) -> bool:
        """Whether every variant has run with every seed of the settings."""
        return self.seeds == self.settings.seeds

    def curves(self, variant: str, metric: str | None = None) -> dict[int, tuple[float, ...]]:
        """Seed → the per-epoch ``metric`` (default: the study's) of ``variant``'s run of that seed."""
        metric = metric or self.settings.metric
        return {run.seed: run.curve(metric) for run in self.runs_of(variant)}

    def final(self, variant: str, metric: str | None = None) -> tuple[float, ...]:
        """The last epoch's ``metric`` (default: the study's) of ``variant``, in points, per seed of :attr:`seeds`."""
        metric = metric or self.settings.metric
        return tuple(100 * self.run(variant, seed).final(metric) for seed in self.seeds)

    def paired_differences(self, variant: str, against: str = BASE, metric: str | None = None) -> tuple[float, ...]:
        """Per seed of :attr:`seeds`: ``variant``'s final ``metric`` minus that of ``against``'s run of the same
        seed, in points (runs of one seed share data, data order and the initial weights of stages 1–4)."""
        return tuple(a - b for a, b in zip(self.final(variant, metric), self.final(against, metric), strict=True))

    def summaries(self, metric: str | None = None) -> dict[str, VariantSummary]:
        """Per variant, its :class:`~vtlab.studies.summary.VariantSummary` (:func:`~vtlab.studies.summarize`)."""
        return summarize(self, metric)

    @property
    def minutes(self) -> float:
        """The runs' training time in all, in minutes."""
        return sum(run.seconds for run in self.runs) / 60

    @property
    def devices(self) -> list[str]:
        """The devices the runs trained on, sorted."""
        return sorted({run.device for run in self.runs})

    def to_dict(self) -> dict:
        """The study in the file format (:mod:`vtlab.studies.store`)."""
        return {"format": FORMAT, "settings": self.settings.to_dict(), "environment": self.environment.to_dict(),
                "validation": self.validation.to_dict(),
                "variants": {name: cost.to_dict() for name, cost in self.variants.items()},
                "runs": [run.to_dict() for run in self.runs]}
