"""Wall-clock time of the scaling blocks (a convolution, a non-local block, a VT block) against the map's size.

The blocks and their inputs are those of :mod:`vtlab.cost.scaling`, which counts their MACs; this module times
them. Times are measured: volatile, and machine-dependent. :func:`measure_time_spread` keeps every run after a
warm-up, so that a median can be quoted with its spread. Crossovers of measured times (:func:`time_crossovers`)
are interpolated between the measured sizes where the ordering flips; on a shared or busy machine they move from
run to run, and the MAC crossovers (:func:`vtlab.cost.scaling.mac_crossovers`) are the ones to rely on.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import torch

from .cost.scaling import DEFAULT_CONFIG, Crossover, SizeCost, block_inputs, scaling_blocks
from .vt import VTConfig


@dataclass(frozen=True)
class TimedSize:
    """Measured seconds per image of each block on one H×W map: every timed run (``runs[name]``, sorted) after the
    warm-up, so that the spread is visible, with its median (the figure to quote) and its range."""

    H: int
    W: int
    runs: dict[str, tuple[float, ...]]

    def median(self, name: str) -> float:
        return statistics.median(self.runs[name])

    def spread(self, name: str) -> tuple[float, float]:
        """(fastest, slowest) run."""
        return self.runs[name][0], self.runs[name][-1]

    def relative_spread(self, name: str) -> float:
        """(slowest − fastest) / median: 0.1 means the runs span 10% of the median."""
        low, high = self.spread(name)
        return (high - low) / self.median(name)

    def medians(self) -> SizeCost:
        """The medians as a :class:`SizeCost`, for :func:`vtlab.viz.scaling.cost_figure`."""
        return SizeCost(self.H, self.W, {name: self.median(name) for name in self.runs})


@torch.no_grad()
def measure_time_spread(sides: Sequence[int], config: VTConfig = DEFAULT_CONFIG, repeats: int = 7, warmup: int = 2,
                        threads: int | None = None, batch: int = 1, device: torch.device | str = "cpu",
                        dynamic: bool = False) -> list[TimedSize]:
    """Time a forward pass of each block on square maps of each side: ``warmup`` untimed runs (allocations,
    oneDNN's kernel choice), then ``repeats`` timed runs, each on its own and synchronised on a GPU. The blocks
    take turns run by run (conv, non-local, VT, conv, …), so that a slow spell on a shared machine lands on all
    three rather than on one. ``threads`` fixes torch's CPU thread count while measuring (and restores it after).

    Returns every run, so that the median and the spread can both be shown: a time quoted without its spread hides
    how much another process on the machine moved it. Volatile: never compare these numbers exactly.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"expected repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    device = torch.device(device)
    blocks = {name: block.to(device) for name, block in scaling_blocks(config, dynamic).items()}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        points = []
        for side in sides:
            inputs = {name: block_inputs(name, config, side, side, batch=batch, dynamic=dynamic, device=device)
                      for name in blocks}
            for _ in range(warmup):
                for name, block in blocks.items():
                    block(*inputs[name])
            runs: dict[str, list[float]] = {name: [] for name in blocks}
            for _ in range(repeats):
                for name, block in blocks.items():
                    sync()
                    start = time.perf_counter()
                    block(*inputs[name])
                    sync()
                    runs[name].append((time.perf_counter() - start) / batch)
            points.append(TimedSize(side, side, {name: tuple(sorted(r)) for name, r in runs.items()}))
        return points
    finally:
        torch.set_num_threads(previous_threads)


def time_crossovers(points: Sequence[SizeCost]) -> list[Crossover]:
    """Crossovers of measured costs: for each pair of blocks and each two consecutive sizes between which their
    ordering flips, the size where the log-costs' difference, linear in log n between the two, is zero."""
    points = sorted(points, key=lambda p: p.n)
    crossovers = []
    for a, b in combinations(points[0].costs if points else (), 2):
        for p, q in zip(points, points[1:], strict=False):
            dp = math.log(p.costs[a]) - math.log(p.costs[b])
            dq = math.log(q.costs[a]) - math.log(q.costs[b])
            if dp == 0 or dp * dq >= 0:
                continue
            t = dp / (dp - dq)
            log_n = math.log(p.n) + t * (math.log(q.n) - math.log(p.n))
            log_cost = math.log(p.costs[a]) + t * (math.log(q.costs[a]) - math.log(p.costs[a]))
            cheaper_below = a if dp < 0 else b
            crossovers.append(Crossover(cheaper_below, b if cheaper_below == a else a, math.exp(log_n),
                                        math.exp(log_cost)))
    return sorted(crossovers, key=lambda c: c.n)
