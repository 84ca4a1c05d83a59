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
# # 2. VT-ResNet: one stage of convolutions replaced by visual-transformer blocks
#
# **You will learn** how a VT-ResNet is put together from a ResNet (which stages it keeps, what replaces the
# last one, with which shapes), how to count a model's cost stage by stage, and how far vtlab's counts agree
# with the paper's Tables 1 and 2, and where the paper's own tables disagree with each other. **You need**
# notebook 1 (the five equations) and a rough idea of a ResNet's stages. Nothing is trained; counting the
# eight models takes about half a minute on a laptop CPU.
#
# Section 4.1 of the paper builds a classifier from a ResNet by keeping its stem and its first stages and
# replacing the last stage with a few visual-transformer blocks (tokenizer → transformer → projector) that work
# on $L$ tokens of $C_T$ channels instead of on pixels. This notebook builds the four VT-ResNets vtlab registers
# (`vt_resnet18`, `vt_resnet34`, `vt_resnet50`, `vt_resnet101`) and their ResNet baselines, looks at what stage 5
# became, and counts both against the paper's Table 1 (whole models) and Table 2 (stage 5).
#
# Everything is counted by vtlab on the real modules at 224×224: `vtlab.cost.count_macs` (one multiply-add of a
# convolution, linear layer or matrix product is one MAC) and `count_params` (normalization layers excluded),
# the convention that gives the paper's baseline figures (see `docs/paper-fidelity.md`). The figures come from
# `vtlab.viz.costs`.

# %%
import time

import torch
from IPython.display import Markdown, display

import vtlab.viz
from vtlab.cost import paper
from vtlab.cost.report import (
    DEPTHS,
    STAGES,
    model_cost,
    stage_costs,
    table1_comparison,
    table2_comparison,
    table2_ratios,
)
from vtlab.models import VT_CONFIGS, create_model, list_models
from vtlab.viz.architecture import architecture_figure, model_layout
from vtlab.viz.costs import (
    paper_stage5,
    short_name,
    stage_explorer,
    table1_figure,
    table2_figure,
)
from vtlab.viz.notebook import check_answers

device = vtlab.viz.setup_notebook()
FULL = torch.cuda.is_available()  # True: also time a forward pass of every model on the GPU (batch 64)

NAMES = [name for depth in DEPTHS for name in (f"resnet{depth}", f"vt_resnet{depth}")]
print("registered classifiers:", ", ".join(n for n in list_models("*resnet*") if "fpn" not in n))

# %% [markdown]
# ## What stage 5 becomes
#
# A VT-ResNet keeps stages 1–4 of its ResNet, the stem and `layer1`–`layer3`, which bring a 224×224 image to a
# 14×14 map. The ResNet's stage 5 (`layer4`) would halve that map to 7×7 and double its channels; the VT-ResNet
# instead adapts the channels to $C$ with a point-wise convolution and runs its VT blocks on the 14×14 map. The
# first block tokenizes statically, later ones dynamically, from the previous block's tokens. The head averages
# the $L$ output tokens and classifies them.
#
# The diagram below is drawn from `vt_resnet18` itself (`vtlab.viz.architecture`): one bar per stage in the order
# data flows, its length the MACs counted on the module, its text the tensor the stage outputs, recorded by running
# one 224×224 image through the model. *Predict before you run:* ResNet-18's stage 5 costs as much as each of its
# stages 2–4 (about 0.4 G MACs). Which VT block will be the dearer, the first or the second, and why?

# %%
layout = model_layout("vt_resnet18")
architecture_figure("vt_resnet18").show()

# %% [markdown]
# The first block is the dearer: it is the only one with a projector, which writes the tokens back into every
# pixel of the 14×14 map; the last block has none (the head reads tokens only), and its dynamic tokenizer pools
# only $L/2$ new tokens. The cell below builds each pair, runs one zero image through the ResNet's stages 1–4,
# hands their output to both stage 5s, and prints what each returns.

# %%
models = {name: create_model(name).eval() for name in NAMES}
x = torch.zeros(1, 3, 224, 224)
print(f"{'pair':>14} {'stage-4 output':>16} {'ResNet stage 5':>22} {'VT stage 5: map':>18} {'tokens':>12}")
with torch.no_grad():
    for depth in DEPTHS:
        resnet, vt = models[f"resnet{depth}"], models[f"vt_resnet{depth}"]
        stage4 = resnet.layer3(resnet.layer2(resnet.layer1(resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(x)))))))
        layer4 = resnet.layer4(stage4)
        X, T = vt.vt(stage4)  # the VT stage (vt.forward_features(x) runs vt's own stages 1-4 first)
        print(f"{f'R-{depth} / VT-R-{depth}':>14} {str(tuple(stage4.shape[1:])):>16} "
              f"{f'{len(resnet.layer4)} blocks -> ' + str(tuple(layer4.shape[1:])):>22} "
              f"{str(tuple(X.shape[1:])):>18} {str(tuple(T.shape[1:])):>12}")

# %% [markdown]
# The paper's Table 5 gives each VT stage's $C$, $L$, $C_T$ and number of blocks; heads and group counts are not
# given per model, and vtlab's choices (derived from the paper's own cost figures) are explained in
# `docs/paper-fidelity.md`. The configuration each model was built with, beside Table 5:

# %%
print(f"{'model':>9} {'in':>5} {'C':>5} {'L':>3} {'CT':>5} {'blocks':>6} {'heads':>5} {'KQV groups':>10} "
      f"{'query groups':>12} {'KV groups':>9}   Table 5 (C, L, CT, blocks)   same")
for depth in DEPTHS:
    name = f"vt_resnet{depth}"
    config, stage = VT_CONFIGS[name], models[name].vt
    table5 = paper.TABLE5[name]
    built = (config.C, config.L, config.CT, len(stage.blocks))
    print(f"{short_name(name):>9} {stage.in_channels:>5} {config.C:>5} {config.L:>3} {config.CT:>5} "
          f"{len(stage.blocks):>6} {config.heads:>5} {config.kqv_groups:>10} {config.query_groups:>12} "
          f"{config.kv_groups:>9}   {str(tuple(table5.values())):>26}   {built == tuple(table5.values())}")
print("dynamic tokenizer per block:",
      {short_name(f"vt_resnet{d}"): [type(b.tokenizer).__name__ for b in models[f"vt_resnet{d}"].vt.blocks]
       for d in ("18", "34")})

# %% [markdown]
# ## Counting every stage
#
# `stage_costs` counts a model once per stage of Table 5's layout (stage 1 is the stem, the head is the
# classifier); the stages add up to the model's total. Stages 1–4 are the same modules in a ResNet and its
# VT-ResNet, so only stage 5 and the head differ.

# %%
costs = {name: stage_costs(name) for name in NAMES}
for metric, scale, unit in (("macs", 1e6, "MACs (M)"), ("params", 1e6, "parameters (M)")):
    print(f"{unit:>15}" + "".join(f"{stage:>10}" for stage in STAGES) + f"{'total':>10}   stages add up")
    for name in NAMES:
        values = costs[name].metric(metric)
        print(f"{short_name(name):>15}" + "".join(f"{values[s] / scale:>10.2f}" for s in STAGES)
              + f"{values['total'] / scale:>10.2f}   {sum(values[s] for s in STAGES) == values['total']}")
    print()

# %% [markdown]
# Inside a VT stage: the channel adapter (absent when the input already has $C$ channels), then per block the
# tokenizer, the transformer and the projector. The last block has no projector, since the classifier reads the
# tokens only.

# %%
for depth in DEPTHS:
    parts = costs[f"vt_resnet{depth}"]
    print(f"{short_name(f'vt_resnet{depth}')}: " + ", ".join(
        f"{part} {parts.stage5_macs[part] / 1e6:.1f} M MACs / {parts.stage5_params[part] / 1e6:.2f} M params"
        for part in parts.stage5_macs))

# %% [markdown]
# ## Table 1: whole models
#
# The table is what `vtlab cost --table 1` prints; the figure shows the same numbers, the paper's bar beside
# vtlab's (hover for the relative difference).

# %%
model_costs = {name: model_cost(name) for name in NAMES}
print(table1_comparison().format())
table1_figure(model_costs).show()

# %% [markdown]
# ## Table 2: what replacing stage 5 saves
#
# Table 2 divides the baseline's cost by the VT-ResNet's, for the whole model and for stage 5 alone (ResNet
# `layer4` against the VT stage; the classifier is in neither).

# %%
print(table2_comparison().format())
table2_figure(model_costs).show()

# %% [markdown]
# ## Stage by stage, and what the paper implies for stage 5
#
# The paper reports no per-stage costs, only Table 2's stage-5 ratio. Two ways lead from its tables to a MAC or
# parameter count for the VT stage 5 (`paper_stage5`):
#
# - *via Table 2*: the ResNet's stage 5 (vtlab's count; vtlab's ResNet totals match Table 1's) divided by the
#   stage-5 ratio;
# - *via Table 1*: the VT-ResNet's total minus the stages it shares with the ResNet and minus its classifier.
#
# If the tables were consistent with each other, both would give the same number. The widget shows one pair of
# models at a time, MACs or parameters; below it, its default view, then the pair of 34-layer models.

# %%
explorer = stage_explorer(costs)
display(explorer)

# %%
explorer.show()

# %%
explorer.controls["depth"].value = "34"
explorer.show()

# %%
print(f"{'stage 5 of':>10} {'':>8} {'vtlab':>8} {'paper via Table 2':>18} {'paper via Table 1':>18}"
      f" {'vtlab vs via Table 2':>21}")
implied = {}
for depth in DEPTHS:
    resnet, vt = costs[f"resnet{depth}"], costs[f"vt_resnet{depth}"]
    for metric, unit in (("macs", "MACs (M)"), ("params", "params (M)")):
        ways = implied[depth, metric] = paper_stage5(depth, resnet, metric)
        ours = vt.metric(metric)["stage 5"]
        print(f"{short_name(vt.model):>10} {unit:>8} {ours / 1e6:>8.2f} {ways['via Table 2'] / 1e6:>18.2f} "
              f"{ways['via Table 1'] / 1e6:>18.2f} {100 * (ours / ways['via Table 2'] - 1):>+20.1f}%")
same_stage = costs["vt_resnet50"].macs["stage 5"] == costs["vt_resnet101"].macs["stage 5"]
print(f"\nVT-R-50 and VT-R-101 have the same stage 5 (Table 5): vtlab counts the same MACs for both: {same_stage};"
      f" Table 2's ratios {paper.TABLE2['resnet50']['macs_stage5']}x and {paper.TABLE2['resnet101']['macs_stage5']}x"
      f" imply {implied['50', 'macs']['via Table 2'] / 1e6:.1f} M and "
      f"{implied['101', 'macs']['via Table 2'] / 1e6:.1f} M for it")

# %% [markdown]
# ## Time (with `FULL`, on a GPU)
#
# MACs are not time. With `FULL` (a CUDA device), the next cell times a forward pass of each model at batch 64:
# three warm-up passes, then ten timed ones, each synchronised; it prints the median and the range, so that the
# spread is visible. Without a GPU it only says so. Its output changes from run to run and is not compared when
# the notebook is tested.

# %%
# NBVAL_IGNORE_OUTPUT
if FULL:
    batch = torch.randn(64, 3, 224, 224, device=device)
    for name in NAMES:
        model = models[name].to(device)
        runs = []
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            for _ in range(3):
                model(batch)
            for _ in range(10):
                torch.cuda.synchronize()
                started = time.perf_counter()
                model(batch)
                torch.cuda.synchronize()
                runs.append(time.perf_counter() - started)
        runs = sorted(runs)
        print(f"{short_name(name):>8}: median {runs[5] * 1e3:.1f} ms per batch of 64 "
              f"(10 runs, {runs[0] * 1e3:.1f} to {runs[-1] * 1e3:.1f} ms)")
else:
    print("FULL is False: no timing (set FULL = True on a machine with a CUDA device)")

# %% [markdown]
# ## What this showed

# %%
print("Table 1, vtlab against the paper (relative difference):")
for depth in DEPTHS:
    name = f"vt_resnet{depth}"
    ref, ours = paper.table1(name), model_costs[name]
    print(f"  {short_name(name):>9}: MACs {ours.macs / 1e9:.3f} G vs {ref.macs_g} G "
          f"({100 * (ours.macs / 1e9 / ref.macs_g - 1):+.1f}%), params {ours.params / 1e6:.2f} M vs {ref.params_m} M "
          f"({100 * (ours.params / 1e6 / ref.params_m - 1):+.1f}%)")
baselines = [100 * abs(model_costs[f"resnet{d}"].macs / 1e9 / paper.table1(f"resnet{d}").macs_g - 1) for d in DEPTHS]
print(f"  ResNet baselines: MACs within {max(baselines):.2f}% of Table 1")
print("Table 2, stage-5 MAC reduction (baseline / VT):")
for depth in DEPTHS:
    ratios = table2_ratios(model_costs[f"resnet{depth}"], model_costs[f"vt_resnet{depth}"])
    print(f"  R-{depth:<3}: paper {paper.TABLE2[f'resnet{depth}']['macs_stage5']}x, vtlab {ratios['macs_stage5']:.2f}x;"
          f" whole model: paper {paper.TABLE2[f'resnet{depth}']['macs_total']}x, vtlab {ratios['macs_total']:.2f}x")
print("The paper's VT stage 5 (MACs), inferred two ways, against vtlab's count:")
for depth in DEPTHS:
    ways, ours = implied[depth, "macs"], costs[f"vt_resnet{depth}"].macs["stage 5"]
    print(f"  VT-R-{depth:<3}: via Table 2 {ways['via Table 2'] / 1e6:.1f} M, "
          f"via Table 1 {ways['via Table 1'] / 1e6:.1f} M, vtlab {ours / 1e6:.1f} M")

# %% [markdown]
# ## Takeaways
#
# Written by the next cell from the counts above.

# %%
r18, vt18 = costs["resnet18"], costs["vt_resnet18"]
blocks = [row for row in layout if "VT block" in row.label]
r18_stage5_shape = model_layout("resnet18")[-2].output  # what R-18's layer4 hands to its head
gaps = {d: 100 * (1 - costs[f"vt_resnet{d}"].macs["stage 5"] / implied[d, "macs"]["via Table 2"]) for d in DEPTHS}
split = [d for d in DEPTHS if abs(implied[d, "macs"]["via Table 1"] / implied[d, "macs"]["via Table 2"] - 1) > 0.05]
worst = max(abs(100 * (model_costs[f"vt_resnet{d}"].macs / 1e9 / paper.table1(f"vt_resnet{d}").macs_g - 1))
            for d in DEPTHS)
ratio18 = table2_ratios(model_costs["resnet18"], model_costs["vt_resnet18"])
display(Markdown(
    f"- **A VT-ResNet is a ResNet with its last stage swapped.** VT-R-18 keeps stages 1–4 of R-18 "
    f"({sum(r18.macs[s] for s in ('stage 1', 'stage 2', 'stage 3', 'stage 4')) / 1e9:.2f} G MACs, the same in both) "
    f"and replaces `layer4` ({r18.macs['stage 5'] / 1e6:.0f} M MACs on a 7×7 map) by {len(blocks)} VT blocks on "
    f"the 14×14 map, which cost {vt18.macs['stage 5'] / 1e6:.0f} M MACs with the channel adapter: "
    f"{ratio18['macs_stage5']:.1f} times less (the paper: {paper.TABLE2['resnet18']['macs_stage5']}x).\n"
    f"- **The tokens are few and wide.** Each block hands on {blocks[0].tokens[0]} tokens of "
    f"{blocks[0].tokens[1]} channels, instead of a {'×'.join(map(str, r18_stage5_shape))} map.\n"
    f"- **Where the MACs go.** The first VT block ({blocks[0].macs / 1e6:.0f} M) costs "
    f"{blocks[0].macs / blocks[1].macs:.1f} times the second ({blocks[1].macs / 1e6:.0f} M): only the first "
    "projects its tokens back onto the pixels.\n"
    f"- **vtlab's counts agree with Table 1** within {worst:.1f}% for the four VT-ResNets, and its ResNets within "
    f"{max(baselines):.2f}%. Stage 5 alone is where they part: vtlab counts "
    f"{min(gaps.values()):.0f}% to {max(gaps.values()):.0f}% fewer MACs than the paper implies via Table 2, and "
    f"for {' and '.join(short_name(f'vt_resnet{d}') for d in split)} the paper's two routes differ by more than "
    "5% from each other, so no count can match both of its tables there."))

# %% [markdown]
# ## Exercises
#
# Store each answer in the variable named, then run the check cell below.
#
# 1. How many MACs (in M) does VT-R-34's stage 5 cost at 224×224? Read it from `costs`, and store it in
#    `answer_1`.
#
#    <details><summary>Solution</summary>
#
#    ```python
#    answer_1 = costs["vt_resnet34"].macs["stage 5"] / 1e6
#    ```
#    </details>
#
# 2. *Predict, then count:* a VT-ResNet-18 fed 448×448 images has a 28×28 map in stage 5. By what factor do its
#    stage-5 MACs grow against 224×224? (Four times the pixels; is it four times the MACs?) Store the factor in
#    `answer_2`.
#
#    <details><summary>Solution</summary>
#
#    ```python
#    answer_2 = stage_costs("vt_resnet18", 448).macs["stage 5"] / costs["vt_resnet18"].macs["stage 5"]
#    print(answer_2)  # a little under 4: the transformer on 8 tokens does not grow with the map
#    ```
#    </details>
#
# 3. Without dynamic tokenization (`dynamic=False`, the -DT ablation of Table 3), every block tokenizes statically.
#    Does VT-R-18's total MAC count go up or down, and by how many M? Store the change (new minus old, in M) in
#    `answer_3`.
#
#    <details><summary>Solution</summary>
#
#    ```python
#    answer_3 = (stage_costs("vt_resnet18", dynamic=False).macs["total"] - costs["vt_resnet18"].macs["total"]) / 1e6
#    ```
#    </details>

# %%
check_answers(globals(), {
    "answer_1": costs["vt_resnet34"].macs["stage 5"] / 1e6,
    "answer_2": stage_costs("vt_resnet18", 448).macs["stage 5"] / costs["vt_resnet18"].macs["stage 5"],
    "answer_3": (stage_costs("vt_resnet18", dynamic=False).macs["total"] - costs["vt_resnet18"].macs["total"]) / 1e6,
}, rtol=1e-3)
