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

    @property
    def delta_se(self) -> float:
        """The paired standard error of the mean difference to the base: its standard deviation over the seeds
        over √seeds (NaN for one seed)."""
        return self.delta_std / math.sqrt(len(self.delta)) if len(self.delta) > 1 else math.nan

    def delta_interval(self, level: float = 0.95) -> tuple[float, float]:
        """The ``level`` confidence interval of the mean difference to the base, from Student's t with
        seeds − 1 degrees of freedom (the runs of a seed are paired)."""
        half = t_quantile(level, len(self.delta) - 1) * self.delta_se
        return self.mean_delta - half, self.mean_delta + half

    def verdict(self, paper_sign: int, level: float = 0.95) -> str:
        """What the interval says of the paper's effect, whose difference this variant − base has the sign
        ``paper_sign`` (−1 for an ablation the paper finds worse, or a baseline it finds worse than VT):
        "agrees" when the interval excludes 0 on that side, "disagrees" when it excludes 0 on the other, else
        "unresolved (|Δ| < X points)", X the interval's end farther from 0."""
        if paper_sign not in (-1, 1):
            raise ValueError(f"expected the paper's sign -1 or 1, got {paper_sign!r}")
        low, high = self.delta_interval(level)
        if math.isnan(low):
            return "unresolved (one seed)"
        if low > 0 or high < 0:
            return "agrees" if (1 if low > 0 else -1) == paper_sign else "disagrees"
        return f"unresolved (|Δ| < {max(-low, high):.1f} points)"


# Student's t quantiles t_{0.975, df}, for df = 1..30 (beyond that the normal's 1.96 is within 2 %)
_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
          2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(level: float, df: int) -> float:
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees of freedom (``level`` 0.95 only; NaN
    for df < 1)."""
    if level != 0.95:
        raise ValueError(f"expected level 0.95 (the one tabulated), got {level!r}")
    if df < 1:
        return math.nan
    return _T_975[df - 1] if df <= len(_T_975) else 1.96


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
    seeds = study.seeds
    if not seeds:
        raise ValueError("expected a study with at least one seed that every variant has run, got none")
    return {v: VariantSummary(v, seeds, study.final(v, metric), study.paired_differences(v, BASE, metric),
                              tuple(late_gain(study.run(v, s).curve(metric), settings.epochs) for s in seeds))
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
