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
# # 5. Ablations: what the transformer, the position encoding and dynamic tokens cost and bring
#
# Section 5.2 of the paper removes one component of the visual-transformer blocks at a time from VT-ResNet-18
# and VT-ResNet-34 and trains each variant on ImageNet for 90 epochs (Table 3):
#
# - **-TF**: the transformer (equation 3) is replaced by a point-wise 1D convolution on the tokens;
# - **-PE**: the tokenizers get no position encoding (equation 2);
# - **-DT**: every tokenizer is static (equation 1), none dynamic (equation 5).
#
# vtlab builds each variant with a switch of its model builders (`transformer=False`, `position_encoding=False`,
# `dynamic=False`). This notebook counts the variants' MACs and parameters against Table 3, and compares the
# accuracy deltas with short training runs of the compact `vt_resnet_mini` on the generated `shapes` scenes,
# several seeds per variant. ImageNet runs are far out of reach here, so the accuracy part asks a smaller
# question: at this scale, can the runs tell the variants apart at all?

# %%
from pathlib import Path

import torch
from IPython.display import display

import vtlab.viz
from vtlab.cost import paper
from vtlab.cost.report import paper_deltas, stage_costs, table3_comparison
from vtlab.models import create_model
from vtlab.train.ablation import (
    AblationSettings,
    binomial_stderr,
    load_ablations,
    run_ablations,
    summarize_ablations,
    variant_cost,
)
from vtlab.viz.ablation import ablation_explorer, table3_figure
from vtlab.viz.costs import short_name
from vtlab.viz.training import curves_figure

device = vtlab.viz.setup_notebook()
FULL = torch.cuda.is_available()  # True: retrain every variant on the GPU (full quick recipe, 5 seeds)
REGENERATE = FULL  # False: read the results of the CPU runs cached in data/ablations.json
CACHE = Path("data") / "ablations.json"  # written by `python scripts/make_ablations.py` (12 CPU runs)

ABLATIONS = paper.ABLATIONS  # "-TF" -> {"transformer": False}, ...
print({label: options for label, options in ABLATIONS.items()})

# %% [markdown]
# ## What each switch changes in VT-ResNet-34
#
# The stage has three blocks; the first tokenizes statically, the next two dynamically, and the last has no
# projector (the classifier reads its tokens). Per block, the modules each variant is built with:

# %%
for label, options in {"base": {}, **ABLATIONS}.items():
    blocks = create_model("vt_resnet34", **options).vt.blocks
    print(f"{label:>5}: " + " | ".join(
        f"{type(b.tokenizer).__name__}{'' if b.tokenizer.position_encoder is not None else ' (no PE)'}"
        f" + {type(b.transformer).__name__}{' + Projector' if b.projector is not None else ''}" for b in blocks))

# %% [markdown]
# ## Cost: Table 3's deltas against vtlab's counts
#
# The table is what `vtlab cost --table 3` prints: each variant's MACs and parameters minus its base model's,
# at 224×224, the paper's and vtlab's.

# %%
print(table3_comparison().format())

# %% [markdown]
# Where do vtlab's deltas come from? The cell below counts VT-ResNet-34's stage 5 part by part for each
# variant and prints every part that changes.

# %%
base = stage_costs("vt_resnet34")
for label, options in ABLATIONS.items():
    variant = stage_costs("vt_resnet34", **options)
    changed = [part for part in base.stage5_macs if variant.stage5_macs[part] != base.stage5_macs[part]
               or variant.stage5_params[part] != base.stage5_params[part]]
    print(f"{label}: " + "; ".join(
        f"{part} {(variant.stage5_macs[part] - base.stage5_macs[part]) / 1e6:+.2f} M MACs, "
        f"{(variant.stage5_params[part] - base.stage5_params[part]) / 1e6:+.3f} M params" for part in changed))
    print(f"      whole model: {(variant.macs['total'] - base.macs['total']) / 1e6:+.2f} M MACs, "
          f"{(variant.params['total'] - base.params['total']) / 1e6:+.3f} M params")

# %% [markdown]
# ## Accuracy: short same-seed runs at CPU scale
#
# Each variant of `vt_resnet_mini` is trained with vtlab's engine (`vtlab.train.train`) and its `quick` recipe,
# once per seed; runs of the same seed share their data, their data order and the initial weights of stages
# 1–4, so each variant's difference to the base run of the same seed is a paired comparison. On the CPU with two
# threads the runs are deterministic; their results are cached in `data/ablations.json`, which
# `run_ablations` (or `scripts/make_ablations.py`) writes. With `FULL`, the notebook retrains every variant on
# the GPU instead, on the full `quick` recipe with more seeds (its numbers then differ from those below).

# %%
if REGENERATE:
    settings = AblationSettings(epochs=10, train_size=2000, seeds=(0, 1, 2, 3, 4), device="cuda")
    results = run_ablations(settings, log=print)
else:
    results = load_ablations(CACHE)
settings = AblationSettings.from_dict(results["settings"])
print(f"{settings.model} on {settings.data}, recipe {settings.recipe!r}: {settings.epochs} epochs on "
      f"{settings.train_size} training scenes, seeds {list(settings.seeds)}, scored on "
      f"{results['validation']['images']} validation scenes ({results['validation']['classes']} classes); "
      f"{results['environment']}")
base_cost = results["variants"]["base"]
for label, cost in results["variants"].items():
    recount = variant_cost(settings, label, results["validation"]["classes"])
    print(f"{label:>5}: {cost['macs'] / 1e6:.2f} M MACs, {cost['params'] / 1e6:.4f} M params "
          f"({100 * (cost['params'] / base_cost['params'] - 1):+.1f}% vs base) at the training size"
          f" (recounted now: {'same' if recount == cost else 'DIFFERENT'})")

# %% [markdown]
# The engine seeds torch just before it builds the model, and the VT stage is built after stages 1–4, so runs of
# one seed start from the same stages 1–4 whatever their VT stage. Checked for the first seed:

# %%
def initial_state(options: dict) -> dict:
    torch.manual_seed(settings.seeds[0])  # as vtlab.train.train does before create_model
    model = create_model(settings.model, num_classes=results["validation"]["classes"], **options)
    return {k: v for k, v in model.state_dict().items() if k.startswith(("conv1.", "bn1.", "layer"))}


start = initial_state({})
for label, options in ABLATIONS.items():
    same = all(torch.equal(start[k], v) for k, v in initial_state(options).items())
    print(f"{label}: stages 1-4 start from the base's weights: {same}")

# %% [markdown]
# Validation accuracy per epoch, one line per variant, for the first seed:

# %%
first = settings.seeds[0]
curves_figure({run["variant"]: [{"epoch": epoch + 1, **{key: run[key][epoch] for key in
                                                         ("train_loss", "val_loss", "val_acc")}}
                                for epoch in range(settings.epochs)]
               for run in results["runs"] if run["seed"] == first}).show()

# %% [markdown]
# Final validation accuracy per seed, each variant's difference to the base of the same seed, and Table 3's
# differences (ImageNet, 90 epochs), all in points:

# %%
summaries = summarize_ablations(results)
seeds = "".join(f"{f'seed {s}':>9}" for s in settings.seeds)
deltas = "".join(f"{f'd{s}':>8}" for s in settings.seeds)
print(f"{'variant':>8}{seeds}{'mean':>8}{deltas}{'mean d':>8}   paper d: VT-R-18  VT-R-34")
for label, s in summaries.items():
    paper_d = "" if label == "base" else "".join(
        f"{paper_deltas(model, label)['top1']:>+9.2f}" for model in ("vt_resnet18", "vt_resnet34"))
    print(f"{label:>8}" + "".join(f"{a:>9.1f}" for a in s.accuracy) + f"{s.mean_accuracy:>8.1f}"
          + "".join(f"{d:>+8.1f}" for d in s.delta) + f"{s.mean_delta:>+8.1f}          {paper_d}")

# %% [markdown]
# ## How much of that is noise?
#
# Three yardsticks, all computed from the runs: how far the base model's own accuracy moves from seed to seed;
# the standard error of one accuracy measured on the validation scenes (a binomial count); and whether each
# ablation's paired differences at least agree in sign over the seeds.

# %%
images = results["validation"]["images"]
base_runs = summaries["base"]
stderr = binomial_stderr(base_runs.mean_accuracy, images)
print(f"base accuracy over seeds: {min(base_runs.accuracy):.1f} to {max(base_runs.accuracy):.1f} "
      f"(spread {base_runs.spread:.1f} points)")
print(f"standard error of one accuracy on {images} scenes at {base_runs.mean_accuracy:.1f}%: {stderr:.1f} points; "
      f"of a difference of two independent ones: {2**0.5 * stderr:.1f} points")
for label in ABLATIONS:
    s = summaries[label]
    low, high = s.delta_range
    consistent = low > 0 or high < 0
    paper_34 = paper_deltas("vt_resnet34", label)["top1"]
    print(f"{label}: paired differences {low:+.1f} to {high:+.1f} points, "
          f"{'the same sign for every seed' if consistent else 'of both signs'}; "
          f"larger than the base's seed spread: {abs(s.mean_delta) > base_runs.spread}; "
          f"Table 3 (VT-R-34): {paper_34:+.2f}, the same direction: {(s.mean_delta > 0) == (paper_34 > 0)}")

# %% [markdown]
# Read the accuracy deltas against these yardsticks: a difference within the base's own seed-to-seed spread, or of
# both signs over the seeds, is not evidence either way. Nor do a few epochs on a thousand generated scenes say
# what 90 epochs on ImageNet would: with so little training, a variant with fewer parameters (the percentages
# printed with the costs above) may simply fit faster.
#
# The figure puts the three together: Table 3's deltas, vtlab's counted cost deltas for VT-ResNet-34, and the
# short runs' accuracy deltas (mean over seeds; the error bar spans the lowest to the highest per-seed
# difference).

# %%
table3_figure("vt_resnet34", summaries).show()

# %% [markdown]
# ## Switch components off yourself
#
# Tick which components to keep; combinations that Table 3 does not have are counted too, and have no accuracy
# unless they were trained. Below the widget, its figure with the transformer switched off.

# %%
explorer = ablation_explorer(summaries)
display(explorer)

# %%
explorer.controls["TF"].value = False
explorer.figure.show()

# %% [markdown]
# ## What this showed

# %%
rows = {(row[0], row[1]): row for row in table3_comparison().rows}
print("Cost deltas vs the base, Table 3 against vtlab's counts (MACs in M, params in M):")
for (model, label), row in rows.items():
    print(f"  {short_name(model):>7} {label}: MACs paper {row[2]:+d}, vtlab {row[3]:+.1f}; "
          f"params paper {row[5]:+.2f}, vtlab {row[6]:+.3f}; same signs: {row[8]}")
print(f"Accuracy deltas of {settings.model} on {settings.data} ({settings.epochs} epochs, {settings.train_size} "
      f"scenes, {len(settings.seeds)} seeds) vs Table 3 (VT-R-34, ImageNet, 90 epochs), points:")
for label in ABLATIONS:
    s = summaries[label]
    low, high = s.delta_range
    paper_34 = paper_deltas("vt_resnet34", label)["top1"]
    print(f"  {label}: mean {s.mean_delta:+.1f} (per seed {low:+.1f} to {high:+.1f}); paper {paper_34:+.2f}; "
          f"same direction: {(s.mean_delta > 0) == (paper_34 > 0)}")
print(f"Noise: the base's accuracy spans {base_runs.spread:.1f} points over {len(settings.seeds)} seeds; one "
      f"accuracy on {images} scenes has a standard error of {stderr:.1f} points")
one_sign = [label for label in ABLATIONS if min(summaries[label].delta) > 0 or max(summaries[label].delta) < 0]
beyond = [label for label in ABLATIONS if abs(summaries[label].mean_delta) > base_runs.spread]
print(f"  ablations whose paired differences keep one sign over all seeds: {len(one_sign)} of {len(ABLATIONS)} "
      f"{one_sign}; whose mean difference exceeds the base's seed spread: {len(beyond)} of {len(ABLATIONS)} {beyond}")
