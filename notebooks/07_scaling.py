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
# **You will learn** why a block's cost is a polynomial in the number of pixels and how to read its three terms
# off the code; at which map sizes a VT block, a convolution and a non-local block trade places; and how to time
# code so that the number means something (warm-up, fixed threads, median of repeats, the spread shown), and why
# the crossovers are taken from MACs, not from time. **You need** notebook 1 (equations 1–4 and Section 3.2's
# count). About a minute on a laptop CPU.
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
# output changes from run to run. The MAC counts live in `vtlab.cost.scaling`, the timing in `vtlab.timing`, the
# figures in `vtlab.viz.scaling`.

# %%
import torch
from IPython.display import Markdown, display

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
    scaling_blocks,
)
from vtlab.timing import measure_time_spread
from vtlab.viz.notebook import check_answers
from vtlab.viz.scaling import mac_figure, scaling_explorer, time_figure
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
#
# *Predict before you run:* on VT-ResNet-18's 14×14 map, which of the three blocks is the cheapest? And on a
# 112×112 map, as a segmentation network's early stages see?

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
# The widget redraws the figure for another $C$, $C_T$ or $L$ (each new setting is counted once, about a second).
# Its default view is the figure above ($C = 512$, $C_T = 1024$, $L = 8$), so below it the notebook shows it at
# $L = 32$. *Move the slider before you read on:* with four times the tokens, does the VT block's crossover with the
# convolution move to smaller or larger maps? The next cell prints the crossovers for a few channel widths at
# $C_T = 2C$.

# %%
explorer = scaling_explorer(sides, config)
display(explorer)

# %%
explorer.controls["L"].value = 32
explorer.show()

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
# hardware less well than large ones. A time means something only if it is measured with care: torch's thread
# count fixed (here one thread: with two, a machine whose other core is busy makes each parallel region wait for
# its slowest thread, and single runs jump tenfold), two untimed warm-up runs (memory allocation and the choice of
# kernels happen there), then several timed runs, the three blocks taking turns so that a busy spell on the
# machine hits all of them; the median is quoted, and the fastest and slowest runs are shown beside it. On a
# shared machine the spread can be wide: where two blocks' ranges overlap, the measurement does not say which is
# faster. This notebook therefore takes its crossovers from the MACs only. The timing cells' output changes from
# run to run and machine to machine, so it is not compared when the notebook is tested; the cell after them
# checks only what holds on any CPU. With `FULL` (a GPU), larger maps and more repeats.

# %%
time_sides = [7, 14, 28, 56, 80, 96] if FULL else [7, 14, 28, 56]
repeats = 15 if FULL else 7

# %%
# NBVAL_IGNORE_OUTPUT
timed = measure_time_spread(time_sides, config, repeats=repeats, warmup=2, threads=1, device=device)
print(f"median ms per image over {repeats} runs, [fastest, slowest]")
print(f"{'side':>6}" + "".join(f"{LABELS[name]:>30}" for name in BLOCKS))
for point in timed:
    print(f"{f'{point.H}x{point.W}':>6}" + "".join(
        f"{f'{point.median(n) * 1e3:.2f} [{point.spread(n)[0] * 1e3:.2f}, {point.spread(n)[1] * 1e3:.2f}]':>30}"
        for n in BLOCKS))
widest = max((p.relative_spread(n), p.H, n) for p in timed for n in BLOCKS)
print(f"widest spread: {LABELS[widest[2]]} at {widest[1]}x{widest[1]}, slowest - fastest = {widest[0]:.0%} of "
      "the median")
time_figure(timed, f"Measured time on {device.type}: median and range of {repeats} runs").show()

# %%
largest = timed[-1]
print(f"{repeats} timed runs per block and size, after the warm-up: "
      f"{all(len(p.runs[n]) == repeats for p in timed for n in BLOCKS)}")
print("every run took a positive, finite time: "
      f"{all(0 < t < float('inf') for p in timed for n in BLOCKS for t in p.runs[n])}")
print(f"the non-local block is slower at {largest.H}x{largest.W} than at {timed[0].H}x{timed[0].W} "
      f"(its MACs grow {polynomials['nonlocal'].at(largest.H) / polynomials['nonlocal'].at(timed[0].H):,.0f}x): "
      f"{largest.spread('nonlocal')[0] > timed[0].spread('nonlocal')[1]}")
print(f"at {largest.H}x{largest.W}, even its fastest non-local run is slower than the slowest VT block run "
      f"({polynomials['nonlocal'].at(largest.H) / polynomials['vt'].at(largest.H):.0f}x the MACs): "
      f"{largest.spread('nonlocal')[0] > largest.spread('vt')[1]}")

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

# %% [markdown]
# ## Takeaways
#
# Written by the next cell from the counts above (MACs only: they are the same on every machine).

# %%
vt_conv, nl_vt = by_pair[frozenset(("conv", "vt"))], by_pair[frozenset(("nonlocal", "vt"))]
at14 = {name: p.at(14) for name, p in polynomials.items()}
at112 = {name: p.at(112) for name, p in polynomials.items()}
wide_L = mac_crossovers(mac_polynomials(config.replace(L=32)))
vt_conv_32 = next(c for c in wide_L if {c.cheaper_below, c.cheaper_above} == {"conv", "vt"})
assert vt_conv.cheaper_above == nl_vt.cheaper_above == vt_conv_32.cheaper_above == "vt"
cheapest_from = max(vt_conv.side, nl_vt.side)
display(Markdown(
    f"- **Cost is a polynomial in the pixel count n.** A convolution costs {polynomials['conv'].linear:,} MACs per "
    f"pixel and nothing else; the non-local block adds {polynomials['nonlocal'].quadratic:,} MACs per *pair* of "
    f"pixels; the VT block pays a constant {polynomials['vt'].constant / 1e6:.1f} M (mostly the transformer on {L} "
    "tokens) "
    f"and then only {polynomials['vt'].linear:,} per pixel, {polynomials['conv'].linear / polynomials['vt'].linear:.1f}"
    " times less than the convolution.\n"
    f"- **The VT block is the cheapest from {cheapest_from:.1f}x{cheapest_from:.1f} on.** At 14x14 (VT-ResNet-18's "
    f"stage 5) it costs {at14['vt'] / 1e6:.0f} M MACs against {at14['conv'] / 1e6:.0f} M for the convolution and "
    f"{at14['nonlocal'] / 1e6:.0f} M for the non-local block; at 112x112 the non-local block needs "
    f"{at112['nonlocal'] / at112['vt']:,.0f} times the VT block's MACs.\n"
    f"- **More tokens move the crossover.** With L = 32 instead of {L}, the map on which the VT block starts to beat "
    f"the convolution grows from {vt_conv.side:.1f}x{vt_conv.side:.1f} to {vt_conv_32.side:.1f}x"
    f"{vt_conv_32.side:.1f}: the constant cost on tokens grows, the per-pixel cost barely.\n"
    "- **Time is not MACs, and a time needs its spread.** Measured times depend on the machine and on what else it "
    "runs; the table above quotes medians with their range, and its crossovers are not used: the MAC crossovers "
    "are exact and the same everywhere."))

# %% [markdown]
# ## Exercises
#
# Store each answer in the variable named, then run the check cell below.
#
# 1. At which square map side does the non-local block start to cost more than the convolution, for $C = 256$?
#    Use `mac_polynomials` and `mac_crossovers`; store the side (a float) in `answer_1`. (The text above gives a
#    formula to check against.)
#
#    <details><summary>Solution</summary>
#
#    ```python
#    found = mac_crossovers(mac_polynomials(config.replace(C=256, CT=512)))
#    answer_1 = next(c.side for c in found if {c.cheaper_below, c.cheaper_above} == {"conv", "nonlocal"})
#    print(answer_1, (10 * 256) ** 0.5)  # n = 10 C
#    ```
#    </details>
#
# 2. How many MACs (in M) does the VT block's transformer cost on a 56x56 map? Store it in `answer_2`; compare
#    with its cost at 7x7 printed above.
#
#    <details><summary>Solution</summary>
#
#    ```python
#    answer_2 = macs_by_module(vt_block, inputs=block_inputs("vt", config, 56, 56))["transformer"] / 1e6
#    ```
#    </details>
#
# 3. Time the convolution alone at 28x28 with one thread and with two (`measure_time_spread(..., threads=1)`).
#    Is the median with two threads at most 0.75 of the median with one? Store `True` or `False` in `answer_3`.
#    (The check accepts what your machine measured: there is no single right answer to a timing question,
#    which is the point.)
#
#    <details><summary>Solution</summary>
#
#    ```python
#    one = measure_time_spread([28], config, threads=1)[0]
#    two = measure_time_spread([28], config, threads=2)[0]
#    answer_3 = two.median("conv") <= 0.75 * one.median("conv")
#    print(one.runs["conv"], two.runs["conv"], answer_3)
#    ```
#    </details>

# %%
check_answers(globals(), {
    "answer_1": next(c.side for c in mac_crossovers(mac_polynomials(config.replace(C=256, CT=512)))
                     if {c.cheaper_below, c.cheaper_above} == {"conv", "nonlocal"}),
    "answer_2": macs_by_module(vt_block, inputs=block_inputs("vt", config, 56, 56))["transformer"] / 1e6,
    "answer_3": bool(globals().get("answer_3", False)),  # any measured answer is accepted
}, rtol=1e-4)
