"""What a study trains: its settings (:class:`StudySettings`), its variants (the VT base model, Table 3's
ablations and the convolutional baseline) and the studies that ship with vtlab (:data:`STUDIES`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..cost import paper
from ..models import model_task
from ..train.measures import TokenMeasure

# Where the studies that ship with vtlab live (study-NAME.json; scripts/make_studies.py writes them).
STUDY_DIR = Path(__file__).resolve().parents[1] / "assets" / "studies"
BASELINE = "baseline"
BASE = "base"  # the VT model with every component: the variant each paired difference is taken to
# The VT variants trained: the base model and Table 3's ablations, by the vtlab switches each turns off; and the
# convolutional baseline, "baseline", which is another model (StudySettings.baseline).
VARIANTS: dict[str, dict[str, bool]] = {BASE: {}, **paper.ABLATIONS}
CURVES = ("train_loss", "val_loss", "val_acc")
TOKEN_KEYS = tuple(TokenMeasure.fields[2:])  # what tokens.csv measures per block (after epoch, block)


@dataclass(frozen=True)
class StudySettings:
    """What :func:`vtlab.studies.run_study` trains: ``model`` with each of ``variants`` (and ``baseline`` for the
    variant "baseline") once per seed in ``seeds``, with the ``recipe`` for ``epochs`` epochs at ``batch_size``
    (None: the recipe's) on ``train_size`` items of ``data`` (validation: ``val_size`` items of its validation
    split, None: all of it; see :func:`vtlab.data.create_data` for which items), at ``image_size`` (None: the
    data's own), on ``device`` with ``threads`` CPU threads. The field order is the order of a study file's
    ``settings``."""

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
        """The settings as a study file holds them (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> StudySettings:
        """Settings from a study file's ``settings`` (lists as tuples); unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown study settings {sorted(unknown)}; expected some of {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @property
    def task(self) -> str:
        """The task of ``model``: "classify" or "segment"."""
        return model_task(self.model)

    @property
    def metric(self) -> str:
        """The curve a study compares its variants by: validation accuracy, or mIoU for segmentation."""
        return "val_miou" if self.task == "segment" else "val_acc"

    @property
    def curves(self) -> tuple[str, ...]:
        """The per-epoch values each run keeps: losses and accuracy, and mIoU for segmentation."""
        return CURVES + (("val_miou",) if self.task == "segment" else ())


SEEDS = (0, 1, 2, 3, 4)
CLASSIFY = (BASELINE, *VARIANTS)
# The studies that ship with vtlab (STUDY_DIR/study-NAME.json, made by scripts/make_studies.py): budgets
# chosen so that the base model's validation accuracy has flattened by the end (VariantSummary.late_gain says
# how much the last fifth of the epochs still added). One CPU thread per run, so two studies (or two halves of
# one, by seed) can run at once on two cores.
STUDIES: dict[str, StudySettings] = {
    "shapes": StudySettings(data="shapes", epochs=15, batch_size=32, train_size=1200, val_size=300, seeds=SEEDS,
                            variants=CLASSIFY, threads=1),
    "digits": StudySettings(data="digits", epochs=40, batch_size=32, train_size=300, seeds=SEEDS,
                            variants=CLASSIFY, threads=1),
    # Two objects decide the label: the VT model against its baseline only (Table 3's ablations are on shapes
    # and digits), which keeps all the studies within about two hours on two cores.
    "pairs": StudySettings(data="shapes-pairs", epochs=15, batch_size=32, train_size=1200, val_size=300,
                           seeds=SEEDS, variants=(BASELINE, BASE), threads=1),
    "segmentation": StudySettings(model="vt_fpn_resnet_mini", baseline="fpn_resnet_mini", recipe="quick-segment",
                                  data="shapes", epochs=30, train_size=640, val_size=200, seeds=(0, 1, 2),
                                  variants=(BASELINE, BASE), threads=1),
}


def variant_model(settings: StudySettings, variant: str) -> tuple[str, dict[str, bool]]:
    """(model name, VT options) of a variant: the baseline model, or ``settings.model`` with switches off."""
    if variant == BASELINE:
        return settings.baseline, {}
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {[BASELINE, *VARIANTS]}")
    return settings.model, dict(VARIANTS[variant])
