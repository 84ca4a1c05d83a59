# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. Scaling: convolution, non-local and visual-transformer blocks as the feature map grows
#
# Section 3.2 of the paper compares equation (3) applied to $L$ tokens with the same equation applied to every
# pixel (a non-local block) at one size, $7\times7$. This notebook follows three ways of processing a
# $C$-channel feature map of $n = HW$ pixels over a range of sizes, at the channels of VT-ResNet-18's stage 5:
#
# - a **convolution**: a ResNet BasicBlock (two $3\times3$ convolutions, $C \to C$), what a ResNet stage is
#   made of;
# - a **non-local block**: equation (3) over the $n$ pixels;
# - a **VT block**: tokenizer (equations 1–2), transformer (3) over $L$ tokens, projector (4).
#
# MACs are counted by `vtlab.cost.count_macs` on the real modules; measured CPU times follow, in cells whose
# output changes from run to run. The computation lives in `vtlab.cost.scaling`, the figures in
# `vtlab.viz.scaling`.

# %%
import torch
from IPython.display import display

import vtlab.viz
from vtlab.cost import count_macs, macs_by_module, paper
from vtlab.cost.scaling import (
    BLOCKS,
    DEFAULT_CONFIG,
    LABELS,
    block_inputs,
    count_block_macs,
    mac_crossovers,
    mac_polynomials,
    mac_scaling,
    measure_times,
    scaling_blocks,
    time_crossovers,
)
from vtlab.viz.scaling import cost_figure, mac_figure, scaling_explorer
from vtlab.vt import NonLocalBlock, Transformer

device = vtlab.viz.setup_notebook()
FULL = torch.cuda.is_available()  # True: time larger maps, with more repeats, on the GPU

config = DEFAULT_CONFIG  # VT-ResNet-18's stage 5 (Table 5)
C, CT, L = config.C, config.CT, config.L
print(f"C = {C}, CT = {CT}, L = {L}, heads = {config.heads}, K/Q/V groups = {config.kqv_groups}, "
      f"projector query groups = {config.query_groups}, K/V groups = {config.kv_groups}")

# %% [markdown]
# ## MACs are polynomials in the number of pixels
#
# Every weight applied per pixel (a convolution, a point-wise weight) costs MACs proportional to $n$; attention
# between pixels costs MACs proportional to $n^2$; anything applied to the $L$ tokens, or to the position
# encoder's fixed grid, costs the same at every size. So each block costs exactly
#
# $$\mathrm{MACs}(n) = a + b\,n + c\,n^2 .$$
#
# `mac_polynomials` counts each block at three sizes, solves for $a, b, c$ in exact arithmetic, and checks the
# result against a count at a fourth size. The cell below prints the coefficients beside the hand formulas:
# $18C^2$ per pixel for two $3\times3$ convolutions, $3C^2$ per pixel and $1.5C$ per pixel pair for the non-local
# block (Section 3.2's $3HWC^2 + 1.5(HW)^2C$).

# %%
polynomials = mac_polynomials(config)
hand = {"conv": (0, 18 * C**2, 0), "nonlocal": (0, 3 * C**2, 3 * C // 2)}
for name, p in polynomials.items():
    line = f"{LABELS[name]:>24}: a = {p.constant:>10,}  b = {p.linear:>9,}  c = {p.quadratic:>4}"
    if name in hand:
        line += f"   hand formula (a, b, c) = {hand[name]}, equal: {(p.constant, p.linear, p.quadratic) == hand[name]}"
    print(line)

# the polynomials against direct counts at the sizes a ResNet meets
for side in (7, 14, 28):
    same = all(count_block_macs(name, config, side) == polynomials[name].at(side) for name in BLOCKS)
    print(f"{side}x{side}: polynomial equals the count for every block: {same}")

# %% [markdown]
# The VT block has no $n^2$ term, and its per-pixel slope $b$ is far below the convolution's; its constant $a$
# is the price of working on tokens. Where does each term come from? The cell below counts the block's three
# parts at three sizes: the transformer does not change with the map, the tokenizer and projector grow with it.

# %%
vt_block = scaling_blocks(config)["vt"]
parts = ("tokenizer", "transformer", "projector")
print(f"{'MACs (M)':>12}" + "".join(f"{part:>13}" for part in parts) + f"{'block':>10}")
for side in (7, 14, 28):
    by_module = macs_by_module(vt_block, inputs=block_inputs("vt", config, side, side))
    print(f"{f'{side}x{side}':>12}" + "".join(f"{by_module[part] / 1e6:>13.2f}" for part in parts)
          + f"{by_module[''] / 1e6:>10.2f}")

# %% [markdown]
# ## MACs over a range of sizes, and where the order changes
#
# With the polynomials, the MACs at any size are exact integers, and the sizes where two blocks cost the same
# are the positive roots of the difference of their polynomials.

# %%
print(f"{'side':>6}" + "".join(f"{LABELS[name] + ' (M)':>32}" for name in BLOCKS) + f"{'cheapest':>26}")
for point in mac_scaling([7, 14, 28, 56, 112], config):
    print(f"{f'{point.H}x{point.W}':>6}" + "".join(f"{point.costs[name] / 1e6:>32,.1f}" for name in BLOCKS)
          + f"{LABELS[point.cheapest]:>26}")

crossovers = mac_crossovers(polynomials)
print()
for crossover in crossovers:
    print(crossover.describe())

# %% [markdown]
# The non-local block overtakes the convolution where $3C^2n + 1.5Cn^2 = 18C^2n$, i.e. at $n = 10C$: the larger
# the channels, the later. The VT block's two crossovers lie at small maps, because its constant cost (mostly
# the transformer) is paid even on a map of a few pixels. The figure marks the crossovers (diamonds, dotted
# lines); on log–log axes, cost linear in $n$ is a line of slope 2 against the side, the non-local block's
# bends towards slope 4.

# %%
sides = list(range(1, 129))
mac_figure(sides, config).show()

# %% [markdown]
# ## Back to Section 3.2
#
# The paper's $7\times7$, $C = 512$ example compares the transformer alone, on $L = 8$ tokens of $C_T = C = 512$
# channels, with the non-local block. A VT block also tokenizes and projects, so the cell below counts both the
# paper's comparison and the whole block, at $7\times7$ and at $14\times14$ (the map VT-ResNet-18's stage 5
# works on).

# %%
s32 = paper.SECTION_3_2
C32, L32 = int(s32["C"]), int(s32["L"])
transformer_macs = count_macs(Transformer(C32, heads=1), inputs=torch.zeros(1, L32, C32))
nonlocal_7 = count_macs(NonLocalBlock(C32), inputs=torch.zeros(1, C32, 7, 7))
print(f"7x7, C = CT = {C32}, L = {L32}:   paper                        vtlab")
print(f"  transformer on tokens (M)    {s32['transformer_macs_m']:>8}   {transformer_macs / 1e6:>26.2f}")
print(f"  non-local on pixels (M)      {s32['nonlocal_macs_m']:>8}   {nonlocal_7 / 1e6:>26.2f}")
print(f"  ratio                        {s32['nonlocal_macs_m'] / s32['transformer_macs_m']:>8.2f}"
      f"   {nonlocal_7 / transformer_macs:>26.2f}")
print()
for side in (7, 14):
    macs = {name: p.at(side) for name, p in polynomials.items()}
    print(f"whole blocks at {side}x{side} (C = {C}, CT = {CT}): non-local / VT block = "
          f"{macs['nonlocal'] / macs['vt']:.2f}, convolution / VT block = {macs['conv'] / macs['vt']:.2f}")

# %% [markdown]
# ## Other channels and token counts
#
# The widget redraws the figure for another $C$, $C_T$ or $L$ (each new setting is counted once, about a second);
# below it, its default figure. The next cell prints the crossovers for a few channel widths at $C_T = 2C$.

# %%
explorer = scaling_explorer(sides, config)
display(explorer)

# %%
explorer.figure.show()

# %%
print(f"{'C':>6} {'CT':>6}  " + "  ".join(f"{a} / {b}".rjust(20) for a, b in
                                          (("conv", "vt"), ("nonlocal", "vt"), ("nonlocal", "conv"))))
for width in (128, 256, 512, 1024):
    setting = config.replace(C=width, CT=2 * width)
    found = {frozenset((c.cheaper_below, c.cheaper_above)): c.side for c in mac_crossovers(mac_polynomials(setting))}
    row = [found.get(frozenset(pair)) for pair in (("conv", "vt"), ("nonlocal", "vt"), ("nonlocal", "conv"))]
    print(f"{width:>6} {2 * width:>6}  " + "  ".join(
        (f"{side:.1f}x{side:.1f}" if side is not None else "none").rjust(20) for side in row))

# %% [markdown]
# ## Measured time
#
# MACs are not time: attention's softmax and memory traffic are not counted, and small products use the
# hardware less well than large ones. The next cells time one forward pass per image (best of a few runs, after a
# warm-up) on this machine. Their output changes from run to run and from machine to machine, so they are not
# compared when the notebook is tested; the conclusions above rest on the MACs alone. With `FULL` (a GPU), larger
# maps and more repeats.

# %%
time_sides = [7, 14, 28, 56, 80, 96] if FULL else [7, 14, 28, 56]
repeats = 10 if FULL else 3

# %%
# NBVAL_IGNORE_OUTPUT
times = measure_times(time_sides, config, batch=1, repeats=repeats, device=device)
print(f"{'side':>6}" + "".join(f"{LABELS[name] + ' (ms)':>32}" for name in BLOCKS) + f"{'fastest':>26}")
for point in times:
    print(f"{f'{point.H}x{point.W}':>6}" + "".join(f"{point.costs[name] * 1e3:>32.2f}" for name in BLOCKS)
          + f"{LABELS[point.cheapest]:>26}")
print()
for crossover in time_crossovers(times):
    print(crossover.describe("seconds"))

# %%
# NBVAL_IGNORE_OUTPUT
cost_figure(times, time_crossovers(times), "seconds", f"Measured time on {device.type}, C = {C}").show()

# %% [markdown]
# ## What this showed

# %%
by_pair = {frozenset((c.cheaper_below, c.cheaper_above)): c for c in crossovers}
print(f"Section 3.2 at 7x7, C = CT = {C32}, L = {L32}:")
print(f"  transformer on tokens: paper {s32['transformer_macs_m']} M MACs, vtlab {transformer_macs / 1e6:.2f} M")
print(f"  non-local on pixels:   paper {s32['nonlocal_macs_m']} M MACs, vtlab {nonlocal_7 / 1e6:.2f} M")
print(f"  ratio:                 paper {s32['nonlocal_macs_m'] / s32['transformer_macs_m']:.2f}x, "
      f"vtlab {nonlocal_7 / transformer_macs:.2f}x")
print(f"Whole blocks at C = {C}, CT = {CT}, L = {L} (not in the paper), MAC crossovers:")
for pair in (("conv", "vt"), ("nonlocal", "vt"), ("nonlocal", "conv")):
    print(f"  {by_pair[frozenset(pair)].describe()}")
n_star = by_pair[frozenset(("nonlocal", "conv"))].n
print(f"  non-local overtakes the convolution at n = {n_star:.0f} pixels = {n_star / C:.2f} C")
