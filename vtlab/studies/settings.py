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
VARIANTS: dict[str, dict[str, bool | str]] = {BASE: {}, **paper.ABLATIONS}
# Controls that are not Table 3's: the base model with a vtlab option changed, to show what that option does.
# "lateral": VT-FPN's lateral convs alone, without tokens or projector (VTConfig.fusion); "uncentred": dynamic
# filters from T_in,a as it is, not centred over its tokens (VTConfig.centre_filter_tokens).
CONTROLS: dict[str, dict[str, bool | str]] = {"lateral": {"fusion": "none"},
                                              "uncentred": {"centre_filter_tokens": False}}
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


SEEDS = tuple(range(8))
CLASSIFY = (BASELINE, *VARIANTS)
# The studies that ship with vtlab (STUDY_DIR/study-NAME.json, made by scripts/make_studies.py). Budgets: about
# six CPU-hours in all on two cores, one CPU thread per run, so that two processes (by seed) share the work.
# Validation sets are large (scenes are free) so that one run's binomial error is small beside the seed spread.
STUDIES: dict[str, StudySettings] = {
    # Table 3 on generated scenes, and the "uncentred" control of vtlab's centred dynamic filters
    "shapes": StudySettings(data="shapes", epochs=10, batch_size=32, train_size=1200, val_size=1000, seeds=SEEDS,
                            variants=(*CLASSIFY, "uncentred"), threads=1),
    "digits": StudySettings(data="digits", epochs=40, batch_size=32, train_size=300, seeds=SEEDS[:5],
                            variants=CLASSIFY, threads=1),
    # whether the two medium shapes share a colour: a label no linear readout of summed per-object features
    # gives (shapes-same-colour); -TF, since the transformer is what relates the tokens
    "relations": StudySettings(data="shapes-same-colour", epochs=8, batch_size=32, train_size=1600, val_size=1000,
                               seeds=SEEDS, variants=(BASELINE, BASE, "-TF"), threads=1),
    # VT-FPN against FPN, and against its own lateral convs without the token path
    "segmentation": StudySettings(model="vt_fpn_resnet_mini", baseline="fpn_resnet_mini", recipe="quick-segment",
                                  data="shapes", epochs=20, train_size=640, val_size=400, seeds=tuple(range(10)),
                                  variants=(BASELINE, BASE, "lateral"), threads=1),
}


def variant_model(settings: StudySettings, variant: str) -> tuple[str, dict[str, bool | str]]:
    """(model name, VT options) of a variant: the baseline model, or ``settings.model`` with switches off (an
    ablation) or an option changed (a control)."""
    if variant == BASELINE:
        return settings.baseline, {}
    known = {**VARIANTS, **CONTROLS}
    if variant not in known:
        raise ValueError(f"unknown variant {variant!r}; expected one of {[BASELINE, *known]}")
    return settings.model, dict(known[variant])
