"""What a study's runs say: per variant, the final metric of each seed and its paired difference to the base run
of the same seed (:class:`VariantSummary`, made by :func:`summarize`), that difference in words
(:func:`direction`), and the standard error of one accuracy measured on a validation set
(:func:`binomial_stderr`): the yardsticks against which the notebooks and ``vtlab reproduce`` read a difference.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .settings import BASE

if TYPE_CHECKING:
    from .study import Study


@dataclass(frozen=True)
class VariantSummary:
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
        """The lowest and the highest per-seed difference to the base."""
        return min(self.delta), max(self.delta)


def late_gain(curve: Sequence[float], epochs: int) -> float:
    """How many points the last fifth of ``epochs`` added to ``curve`` (a fraction per epoch); NaN if the curve
    is too short to tell."""
    tail = max(1, epochs // 5)
    return 100 * (curve[-1] - curve[-1 - tail]) if len(curve) > tail else math.nan


def summarize(study: Study, metric: str | None = None) -> dict[str, VariantSummary]:
    """Per variant (in the study's order): the final ``metric`` (default: the study's, validation accuracy or
    mIoU) per seed and its paired difference to the base, in points. Needs the variant "base"."""
    settings = study.settings
    metric = metric or settings.metric
    if BASE not in settings.variants:
        raise ValueError(f"expected the variant {BASE!r}, to which the differences are taken, among the study's "
                         f"variants, got {list(settings.variants)}")
    return {v: VariantSummary(v, settings.seeds, study.final(v, metric), study.paired_differences(v, BASE, metric),
                              tuple(late_gain(study.run(v, s).curve(metric), settings.epochs)
                                    for s in settings.seeds))
            for v in settings.variants}


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
