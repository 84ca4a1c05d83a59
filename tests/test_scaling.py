"""vtlab.cost.scaling, vtlab.timing and vtlab.viz.scaling: the blocks' MACs follow the hand formulas at every size, the
crossovers are where the ordering really flips, and the figures show what they say."""

import math

import plotly.graph_objects as go
import pytest
import torch

from vtlab.cost import count_macs
from vtlab.cost.scaling import (
    BLOCKS,
    DEFAULT_CONFIG,
    LABELS,
    Crossover,
    MacPolynomial,
    SizeCost,
    block_inputs,
    count_block_macs,
    fit_polynomial,
    mac_crossovers,
    mac_polynomials,
    mac_scaling,
    scaling_blocks,
)
from vtlab.timing import TimedSize, measure_time_spread, time_crossovers
from vtlab.viz.scaling import cost_figure, mac_figure, scaling_explorer, time_figure
from vtlab.vt import VTConfig

# small enough to count in a blink, with every option that changes the count away from 1
SMALL = VTConfig(C=32, CT=64, L=4, depth=1, heads=2, kqv_groups=2, query_groups=4, kv_groups=2, position_size=8,
                 position_downsample=1)


def hand_vt_macs(c: VTConfig, n: int, dynamic: bool = False) -> int:
    """One VT block's MACs written out term by term (equations 1-5, Listings 2-4)."""
    C, CT, L, h = c.C, c.CT, c.L, c.tokenizer_heads  # h: coefficient maps per token, the encoder's channels
    new = L // 2 if dynamic else L  # tokens extracted from the map
    grid = (c.position_size // 2**c.position_downsample) ** 2  # H̄W̄ = Cp
    tokenizer = (new * CT * C if dynamic else 0) + 2 * n * new * C  # W_T→WA; scores X̄W_A^T and pooling A^T X̄
    # position encoder: stride-2 3x3 convs on the resized maps (heads as channels), the 1x1 head merge (only with
    # several heads), W_A→P
    size, convs = c.position_size, 0
    for _ in range(c.position_downsample):
        size //= 2
        convs += size * size * 9 * h * h
    position = new * (convs + (grid * h if h > 1 else 0) + grid * grid)
    tokenizer += position + new * (C + grid) * CT  # W_V after pooling, on [A^T X̄ ‖ P]
    transformer = L * CT * (CT // 2) * 2 // c.kqv_groups + L * CT * CT // c.kqv_groups + L * CT * CT \
        + L * L * CT // 2 + L * L * CT
    projector = n * C * C // c.query_groups + 2 * L * CT * C // c.kv_groups + 2 * n * L * C
    return tokenizer + transformer + projector


@pytest.mark.parametrize("side", [3, 6])
def test_counted_macs_match_the_hand_formulas(side):
    n, C = side * side, SMALL.C
    assert count_block_macs("conv", SMALL, side) == 18 * C * C * n  # two 3x3 convolutions C -> C
    # Section 3.2's 3·HW·C² + 1.5·(HW)²·C, here with grouped K, Q, V: K, Q, V cost 2·C²/groups, F costs C²
    nonlocal_macs = 2 * n * C * C // SMALL.kqv_groups + n * C * C + 3 * n * n * C // 2
    assert count_block_macs("nonlocal", SMALL, side) == nonlocal_macs
    assert count_block_macs("vt", SMALL, side) == hand_vt_macs(SMALL, n)
    assert count_block_macs("vt", SMALL, side, dynamic=True) == hand_vt_macs(SMALL, n, dynamic=True)


def test_polynomials_are_exact_and_match_the_paper_setting():
    p = mac_polynomials(SMALL)
    assert set(p) == set(BLOCKS)
    for side in (5, 9):
        assert {name: q.at(side) for name, q in p.items()} == {
            name: count_block_macs(name, SMALL, side) for name in BLOCKS}
    assert p["vt"].quadratic == 0 and p["conv"].constant == p["conv"].quadratic == 0
    # the VT-ResNet-18 default: the paper's non-local formula exactly, and a VT block linear in n
    big = mac_polynomials(DEFAULT_CONFIG)
    C = DEFAULT_CONFIG.C
    assert big["nonlocal"] == MacPolynomial(0, 3 * C * C, 3 * C // 2)
    assert big["conv"] == MacPolynomial(0, 18 * C * C, 0)
    assert big["vt"].linear == C * C + 4 * DEFAULT_CONFIG.L * C  # ungrouped Q_T→X, scores and pooling twice
    assert big["vt"].at(7) == hand_vt_macs(DEFAULT_CONFIG, 49)
    assert big["nonlocal"].at(7) == 40_379_136  # Section 3.2: 40.3 M


def test_fit_polynomial_recovers_a_quadratic_and_rejects_other_growth():
    truth = MacPolynomial(7, 11, 3)
    assert fit_polynomial({n: truth(n) for n in (4, 9, 16)}) == truth
    with pytest.raises(ValueError, match="integer quadratic"):
        fit_polynomial({n: round(n * math.log(n) * 10) for n in (4, 9, 16)})
    with pytest.raises(ValueError, match="three"):
        fit_polynomial({4: 1, 9: 2})


@pytest.mark.parametrize("config", [SMALL, DEFAULT_CONFIG], ids=["small", "vt_resnet18"])
def test_each_crossover_lies_where_the_ordering_flips(config):
    polynomials = mac_polynomials(config)
    crossovers = mac_crossovers(polynomials)
    assert {frozenset((c.cheaper_below, c.cheaper_above)) for c in crossovers} == {
        frozenset(pair) for pair in (("conv", "vt"), ("nonlocal", "vt"), ("conv", "nonlocal"))}
    for c in crossovers:
        below, above = polynomials[c.cheaper_below], polynomials[c.cheaper_above]
        n_low, n_high = math.ceil(c.n) - 1, math.floor(c.n) + 1  # the pixel counts on either side
        assert below.at(1, n_low) < above.at(1, n_low)
        assert below.at(1, n_high) > above.at(1, n_high)
        assert math.isclose(below(c.n), above(c.n), rel_tol=1e-9) and math.isclose(c.cost, below(c.n))
    # non-local against convolution: 3C²n + 1.5Cn² = 18C²n at n = 10C when K, Q, V are ungrouped
    if config.kqv_groups == 1:
        nonlocal_conv = next(c for c in crossovers if {c.cheaper_below, c.cheaper_above} == {"conv", "nonlocal"})
        assert nonlocal_conv.cheaper_below == "nonlocal" and nonlocal_conv.n == pytest.approx(10 * config.C)


def test_crossovers_need_a_sign_change():
    touching = {"a": MacPolynomial(0, 0, 1), "b": MacPolynomial(1, 2, 0)}  # n² vs 1 + 2n: crosses once
    (c,) = mac_crossovers(touching)
    assert c.cheaper_below == "a" and c.n == pytest.approx(1 + math.sqrt(2))
    double_root = {"a": MacPolynomial(4, 0, 1), "b": MacPolynomial(0, 4, 0)}  # (n - 2)² >= 0: never cheaper
    assert mac_crossovers(double_root) == []
    parallel = {"a": MacPolynomial(5, 3, 0), "b": MacPolynomial(1, 3, 0)}
    assert mac_crossovers(parallel) == []


def test_time_crossovers_interpolate_between_the_flipping_sizes():
    points = [SizeCost(s, s, {"conv": float(s * s), "vt": 20.0}) for s in (2, 4, 8)]
    (c,) = time_crossovers(points)
    assert (c.cheaper_below, c.cheaper_above) == ("conv", "vt")
    assert 16 < c.n < 64 and c.n == pytest.approx(20.0) and c.cost == pytest.approx(20.0)
    assert "VT block cheaper than convolution" in c.describe("seconds") and "ms" in c.describe("seconds")


def test_mac_scaling_reports_exact_costs_and_the_cheapest():
    points = mac_scaling([2, 7], SMALL)
    assert [(p.H, p.n) for p in points] == [(2, 4), (7, 49)]
    for p in points:
        assert p.costs == {name: count_block_macs(name, SMALL, p.H) for name in BLOCKS}
        assert p.costs[p.cheapest] == min(p.costs.values())


def test_blocks_keep_the_feature_map_shape_and_inputs_follow_dynamic():
    blocks = scaling_blocks(SMALL, dynamic=True)
    for name, block in blocks.items():
        inputs = block_inputs(name, SMALL, 3, 5, batch=2, dynamic=True)
        with torch.no_grad():
            out = block(*inputs)
        X_out = out[0] if isinstance(out, tuple) else out
        assert X_out.shape == (2, SMALL.C, 3, 5)
    assert [t.shape for t in block_inputs("vt", SMALL, 3, 5, dynamic=True)] == [(1, 32, 3, 5), (1, 4, 64)]
    assert count_macs(blocks["vt"], inputs=block_inputs("vt", SMALL, 4, 4, dynamic=True)) == \
        hand_vt_macs(SMALL, 16, dynamic=True)
    with pytest.raises(ValueError, match="unknown block"):
        block_inputs("fc", SMALL, 3, 3)


def test_cost_figure_has_a_line_per_block_and_the_crossovers_in_range():
    points = mac_scaling(range(1, 41), DEFAULT_CONFIG)
    crossovers = mac_crossovers(mac_polynomials(DEFAULT_CONFIG))
    fig = cost_figure(points, crossovers, "MACs")
    names = [trace.name for trace in fig.data]
    assert names == ["convolution (BasicBlock)", "non-local block", "VT block", "crossovers"]
    marker = fig.data[-1]
    shown = [c for c in crossovers if c.side <= 40]  # the non-local/convolution crossover (71.6) is off the chart
    assert len(shown) == 2 and list(marker.x) == pytest.approx([c.side for c in shown], rel=1e-3)
    assert list(marker.y) == pytest.approx([c.cost / 1e6 for c in shown], rel=1e-3)
    assert len(fig.layout.shapes) == 2  # a dotted line at each
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "log"
    assert list(fig.data[0].y[:2]) == pytest.approx([p.costs["conv"] / 1e6 for p in points[:2]], rel=1e-3)
    # no crossovers: no marker trace; times in milliseconds
    timed = cost_figure([SizeCost(2, 2, {"conv": 0.002, "vt": 0.001})], unit="seconds")
    assert [t.name for t in timed.data] == ["convolution (BasicBlock)", "VT block"] and timed.data[0].y[0] == 2.0
    with pytest.raises(ValueError, match="unit"):
        cost_figure(points, unit="flops")


def test_mac_figure_and_explorer_follow_the_setting():
    fig = mac_figure(range(1, 129), DEFAULT_CONFIG)
    assert isinstance(fig, go.Figure) and "C = 512" in fig.layout.title.text
    assert fig.data[-1].name == "crossovers" and len(fig.data[-1].x) == 3
    explorer = scaling_explorer(range(1, 17), SMALL, C_options=(16, 32), CT_options=(32, 64), L_options=(2, 4))
    assert "C = 32, CT = 64, L = 4" in explorer.figure.layout.title.text
    explorer.controls["L"].value = 2
    assert "C = 32, CT = 64, L = 2" in explorer.figure.layout.title.text
    vt = next(t for t in explorer.figure.data if t.name == "VT block")
    assert vt.y[-1] == pytest.approx(mac_polynomials(SMALL.replace(L=2))["vt"].at(16) / 1e6, rel=1e-3)


def test_crossover_describes_itself():
    c = Crossover("nonlocal", "vt", 64.0, 52e6)
    assert c.side == 8.0
    assert c.describe() == "VT block cheaper than non-local block from 8.0x8.0 (n = 64.0) on, at 52.0 M MACs"


def test_measure_time_spread_keeps_every_run_and_restores_threads():
    threads = torch.get_num_threads()
    points = measure_time_spread([2, 4], SMALL, repeats=3, warmup=1, threads=1)
    assert torch.get_num_threads() == threads
    assert [(p.H, p.W) for p in points] == [(2, 2), (4, 4)]
    for point in points:
        assert set(point.runs) == set(BLOCKS)
        for name in BLOCKS:
            runs = point.runs[name]
            assert len(runs) == 3 and list(runs) == sorted(runs) and runs[0] > 0
            assert point.spread(name) == (runs[0], runs[-1]) and point.median(name) == runs[1]
            assert point.relative_spread(name) == (runs[-1] - runs[0]) / runs[1]
        assert point.medians().costs == {name: point.median(name) for name in BLOCKS}
    with pytest.raises(ValueError, match="repeats"):
        measure_time_spread([2], SMALL, repeats=0)


def test_time_figure_draws_medians_with_their_spread():
    points = [TimedSize(s, s, {"conv": (1e-3, 2e-3, 4e-3), "vt": (2e-3, 3e-3, 3.5e-3)}) for s in (7, 14)]
    fig = time_figure(points, "t")
    assert [t.name for t in fig.data] == [LABELS["conv"], LABELS["vt"]]
    conv = fig.data[0]
    assert list(conv.y) == [2.0, 2.0] and list(conv.error_y.arrayminus) == [1.0, 1.0]
    assert list(conv.error_y.array) == [2.0, 2.0]
