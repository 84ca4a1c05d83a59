r"""How the cost of a convolution, a non-local block and a visual-transformer block grows with the feature map.

Section 3.2 compares equation (3) on L tokens with the same equation on all HW pixels (a non-local block) at
a single size, 7×7. This module follows three ways of processing a C-channel feature map over a range of sizes
at fixed channels, so that one sees where each is the cheapest:

- ``"conv"``: a ResNet BasicBlock at C channels (two 3×3 convolutions, what a ResNet stage is made of),
  18·C²·n multiply-adds for n = H·W pixels;
- ``"nonlocal"``: :class:`~vtlab.vt.NonLocalBlock`, equation (3) over the n pixels, 3·C²·n + 1.5·n²·C;
- ``"vt"``: one static :class:`~vtlab.vt.VisualTransformerBlock` (tokenizer, transformer and projector, the
  block that replaces a ResNet stage), whose transformer works on L tokens whatever n is.

**MACs** are counted by :func:`vtlab.cost.count_macs` on the real modules, never from a formula. Each of these
blocks costs exactly a + b·n + c·n² MACs (convolutions and point-wise weights are linear in n, attention
between pixels quadratic, anything on tokens or on the position encoder's fixed grid constant), so counting a
block at three sizes gives its polynomial exactly (:class:`MacPolynomial`); it is checked against a count at
further sizes before use. The polynomial then gives the MACs at any size without building, say, a 128×128
non-local attention of 268 M entries, and the crossovers (:func:`mac_crossovers`) as exact roots.

Wall-clock times of the same blocks are measured by :mod:`vtlab.timing`: this module only counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from itertools import combinations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from ..models.resnet import VT_CONFIGS
from ..vt import NonLocalBlock, VisualTransformerBlock, VTConfig
from .counting import count_macs

BLOCKS = ("conv", "nonlocal", "vt")
LABELS = {"conv": "convolution (BasicBlock)", "nonlocal": "non-local block", "vt": "VT block"}
# VT-ResNet-18's stage 5 (Table 5: C = 512, CT = 1024, L = 8), the default setting.
DEFAULT_CONFIG = VT_CONFIGS["vt_resnet18"]


def scaling_block(name: str, config: VTConfig = DEFAULT_CONFIG, dynamic: bool = False) -> nn.Module:
    """Block ``name`` of :data:`BLOCKS` at the config's C, in eval mode.

    The non-local block uses the VT block's heads and K, Q, V groups, so that the two differ only in what
    equation (3) attends over (pixels or tokens). ``dynamic=True`` makes the VT block's tokenizer dynamic
    (equation (5)), as in every block after a stage's first; it then also takes the previous tokens.
    """
    C = config.C
    if name == "conv":
        return BasicBlock(C, C).eval()
    if name == "nonlocal":
        return NonLocalBlock(C, heads=config.heads, kqv_groups=config.kqv_groups, scaled=config.scaled).eval()
    if name == "vt":
        return VisualTransformerBlock(config, dynamic=dynamic).eval()
    raise ValueError(f"unknown block {name!r}; expected one of {BLOCKS}")


def scaling_blocks(config: VTConfig = DEFAULT_CONFIG, dynamic: bool = False) -> dict[str, nn.Module]:
    """The three blocks of :func:`scaling_block`, keyed by :data:`BLOCKS`."""
    return {name: scaling_block(name, config, dynamic) for name in BLOCKS}


def block_inputs(name: str, config: VTConfig, H: int, W: int, batch: int = 1, dynamic: bool = False,
                 device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    """Random inputs for block ``name`` on an H×W map: (X,), or (X, T_prev) for a dynamic VT block."""
    if name not in BLOCKS:
        raise ValueError(f"unknown block {name!r}; expected one of {BLOCKS}")
    X = torch.randn(batch, config.C, H, W, device=device)
    if name == "vt" and dynamic:
        return X, torch.randn(batch, config.L, config.CT, device=device)
    return (X,)


@dataclass(frozen=True)
class MacPolynomial:
    """MACs(n) = constant + linear·n + quadratic·n² for a feature map of n = H·W pixels (integer coefficients)."""

    constant: int
    linear: int
    quadratic: int

    def __call__(self, n: float) -> float:
        return self.constant + self.linear * n + self.quadratic * n * n

    def at(self, H: int, W: int | None = None) -> int:
        """Exact MACs on an H×W map (W = H when not given)."""
        return self(H * (H if W is None else W))


def fit_polynomial(counts: dict[int, int]) -> MacPolynomial:
    """The quadratic through three (n, MACs) points, in exact arithmetic.

    Raises ``ValueError`` if the coefficients are not integers, which would mean the counts do not come from
    a polynomial of degree 2 in n (a cost term such as n·log n, or a size-dependent count).
    """
    if len(counts) != 3:
        raise ValueError(f"expected counts at exactly three pixel counts n, got {sorted(counts)}")
    (n0, m0), (n1, m1), (n2, m2) = sorted((Fraction(n), Fraction(m)) for n, m in counts.items())
    d01, d12 = (m1 - m0) / (n1 - n0), (m2 - m1) / (n2 - n1)  # divided differences (Newton form)
    c = (d12 - d01) / (n2 - n0)
    b = d01 - c * (n0 + n1)
    a = m0 - b * n0 - c * n0 * n0
    if any(x.denominator != 1 for x in (a, b, c)):
        raise ValueError(f"the counts {counts} are not an integer quadratic in n (got {a}, {b}, {c})")
    return MacPolynomial(int(a), int(b), int(c))


def count_block_macs(name: str, config: VTConfig, H: int, W: int | None = None, dynamic: bool = False) -> int:
    """MACs of block ``name`` on one H×W map, counted by :func:`vtlab.cost.count_macs` on the real module."""
    block = scaling_block(name, config, dynamic)
    return count_macs(block, inputs=block_inputs(name, config, H, H if W is None else W, dynamic=dynamic))


def mac_polynomials(config: VTConfig = DEFAULT_CONFIG, dynamic: bool = False, fit_sides: tuple[int, ...] = (2, 3, 4),
                    check_sides: tuple[int, ...] = (7,)) -> dict[str, MacPolynomial]:
    """Each block's MAC polynomial, fitted to counts on square maps of ``fit_sides`` (three sides) and checked
    against counts at ``check_sides`` (raises ``ValueError`` if one differs). Cached per setting, since
    counting traces every block several times."""
    return dict(_mac_polynomials(config, dynamic, tuple(fit_sides), tuple(check_sides)))


@cache
def _mac_polynomials(config: VTConfig, dynamic: bool, fit_sides: tuple[int, ...],
                     check_sides: tuple[int, ...]) -> tuple[tuple[str, MacPolynomial], ...]:
    if len(set(fit_sides)) != 3:
        raise ValueError(f"expected three distinct fit sides, got {fit_sides}")
    blocks = scaling_blocks(config, dynamic)
    polynomials = {}
    for name, block in blocks.items():
        def counted(side: int, name: str = name, block: nn.Module = block) -> int:
            return count_macs(block, inputs=block_inputs(name, config, side, side, dynamic=dynamic))

        polynomial = fit_polynomial({side * side: counted(side) for side in fit_sides})
        for side in check_sides:
            if polynomial.at(side) != counted(side):
                raise ValueError(f"{name}: the polynomial fitted at sides {fit_sides} gives {polynomial.at(side)} "
                                 f"MACs at {side}x{side}, the count {counted(side)}")
        polynomials[name] = polynomial
    return tuple(polynomials.items())


@dataclass(frozen=True)
class SizeCost:
    """The blocks' costs on one H×W map: ``costs[name]`` in MACs or seconds; ``cheapest`` is the lowest."""

    H: int
    W: int
    costs: dict[str, float]

    @property
    def n(self) -> int:
        return self.H * self.W

    @property
    def cheapest(self) -> str:
        return min(self.costs, key=self.costs.__getitem__)


def mac_scaling(sides: Sequence[int], config: VTConfig = DEFAULT_CONFIG, dynamic: bool = False) -> list[SizeCost]:
    """MACs of the three blocks on square maps of each side in ``sides`` (exact integers)."""
    polynomials = mac_polynomials(config, dynamic)
    return [SizeCost(side, side, {name: p.at(side) for name, p in polynomials.items()}) for side in sides]


@dataclass(frozen=True)
class Crossover:
    """Where two blocks cost the same: ``cheaper_below`` is the cheaper one on smaller maps, ``cheaper_above``
    on larger ones; ``n`` pixels (a square map of side ``side`` = √n), each then costing ``cost``."""

    cheaper_below: str
    cheaper_above: str
    n: float
    cost: float

    @property
    def side(self) -> float:
        return math.sqrt(self.n)

    def describe(self, unit: str = "MACs") -> str:
        """E.g. "VT block cheaper than non-local block from 8.0x8.0 (n = 64.3) on, at 52.5 M MACs"."""
        scale = (1e6, "M") if unit == "MACs" else (1e-3, "m")
        return (f"{LABELS[self.cheaper_above]} cheaper than {LABELS[self.cheaper_below]} from "
                f"{self.side:.1f}x{self.side:.1f} (n = {self.n:.1f}) on, at {self.cost / scale[0]:.1f} "
                f"{scale[1]}{'s' if unit == 'seconds' else ' ' + unit}")


def _positive_roots(constant: float, linear: float, quadratic: float) -> list[float]:
    if quadratic == 0:
        return [-constant / linear] if linear != 0 and -constant / linear > 0 else []
    discriminant = linear * linear - 4 * quadratic * constant
    if discriminant < 0:
        return []
    root = math.sqrt(discriminant)
    return sorted(r for r in {(-linear - root) / (2 * quadratic), (-linear + root) / (2 * quadratic)} if r > 0)


def mac_crossovers(polynomials: dict[str, MacPolynomial]) -> list[Crossover]:
    """Every map size n > 0 where two blocks' MACs are equal (the roots of their polynomials' difference),
    sorted by n. A pair whose difference only touches zero without changing sign gives none."""
    crossovers = []
    for a, b in combinations(polynomials, 2):
        pa, pb = polynomials[a], polynomials[b]
        difference = (pa.constant - pb.constant, pa.linear - pb.linear, pa.quadratic - pb.quadratic)
        for n in _positive_roots(*difference):
            below, above = n * (1 - 1e-6), n * (1 + 1e-6)
            if (pa(below) < pb(below)) == (pa(above) < pb(above)):
                continue  # a double root: the ordering does not change
            cheaper_below = a if pa(below) < pb(below) else b
            crossovers.append(Crossover(cheaper_below, b if cheaper_below == a else a, n, pa(n)))
    return sorted(crossovers, key=lambda c: c.n)
