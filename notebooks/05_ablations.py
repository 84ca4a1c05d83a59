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
# accuracy deltas with seeded training runs of the compact `vt_resnet_mini` on the generated `shapes` scenes,
# beside its convolutional baseline `resnet_mini` (Table 1's comparison at toy scale). ImageNet runs are far out
# of reach here, so the accuracy part asks a smaller question: at this scale, can the runs tell the variants apart
# at all, and which way do they fall?
#
# **You will learn** where each ablation's cost change comes from, how to read paired, seeded comparisons
# against their noise, and what this scale can and cannot say about the paper's claims. **You need** notebook 2's
# costs and notebook 3's training vocabulary.

# %%
import dataclasses
import math

import torch
from IPython.display import Markdown, display

import vtlab.viz
from vtlab.cost import paper
from vtlab.cost.report import paper_deltas, stage_costs, table3_comparison
from vtlab.models import create_model
from vtlab.reproduce import study_section
from vtlab.studies import STUDIES, binomial_stderr, load_study, run_study, variant_cost
from vtlab.viz.ablation import ablation_explorer, table3_figure
from vtlab.viz.notebook import check_answers
from vtlab.viz.training import accuracy_macs_figure, curves_figure

device = vtlab.viz.setup_notebook()
FULL = torch.cuda.is_available()  # True: retrain every variant on the GPU (the same study settings, on CUDA)
REGENERATE = FULL  # False: read the cached CPU runs that ship with vtlab (vtlab/assets/studies/study-*.json)

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
# ## Accuracy: seeded runs at CPU scale
#
# Each variant of `vt_resnet_mini`, and the baseline `resnet_mini`, is trained with vtlab's engine
# (`vtlab.train.train`) and its `quick` recipe, once per seed; runs of the same seed share their data, their
# data order and the initial weights of stages 1–4, so each variant's difference to the base run of the same
# seed is a paired comparison. The results ship with vtlab (`vtlab/assets/studies/study-shapes.json`, read by
# `load_study`); `scripts/make_studies.py` writes them, resumably, and each run records its device and wall
# time. A study still being made is read with `complete=False`: every comparison below then pairs the seeds that
# every variant has run so far (`study.seeds`), and the first line says how many. Besides Table 3's ablations
# the study trains one control of vtlab's own, `uncentred`: the dynamic filters made from T_in,a as the paper
# writes it, without the centring over its tokens that vtlab adds (docs/paper-fidelity.md). With `FULL`, the
# notebook retrains every variant on the GPU instead (its numbers then differ from those below).

# %%
if REGENERATE:
    study = run_study(dataclasses.replace(STUDIES["shapes"], device="cuda"), log=print)
else:
    study = load_study("shapes", complete=False)
settings = study.settings
print(f"{'complete' if study.complete else 'IN PROGRESS'}: {len(study.seeds)} of {len(settings.seeds)} seeds "
      f"paired so far, {len(study.runs)} of {len(settings.seeds) * len(settings.variants)} runs")
print(f"{settings.model} (and {settings.baseline}) on {settings.data}, recipe {settings.recipe!r}: "
      f"{settings.epochs} epochs on {settings.train_size} training scenes, seeds {list(study.seeds)}, scored on "
      f"{study.validation.images} validation scenes ({study.validation.classes} classes); "
      f"{study.environment.to_dict()}; {study.minutes:.0f} minutes of training in all, on {study.devices}")
base_cost = study.cost("base")
for label in settings.variants:
    cost, recount = study.cost(label), variant_cost(settings, label, study.validation.classes)
    print(f"{label:>8} ({cost.model}): {cost.macs / 1e6:.2f} M MACs, {cost.params / 1e6:.4f} M params "
          f"({100 * (cost.params / base_cost.params - 1):+.1f}% vs base) at the training size"
          f" (recounted now: {'same' if recount == cost else 'DIFFERENT'})")

# %% [markdown]
# The engine seeds torch just before it builds the model, and the VT stage is built after stages 1–4, so runs of
# one seed start from the same stages 1–4 whatever their VT stage. Checked for the first seed:

# %%
def initial_state(options: dict) -> dict:
    torch.manual_seed(settings.seeds[0])  # as vtlab.train.train does before create_model
    model = create_model(settings.model, num_classes=study.validation.classes, **options)
    return {k: v for k, v in model.state_dict().items() if k.startswith(("conv1.", "bn1.", "layer"))}


start = initial_state({})
for label, options in ABLATIONS.items():
    same = all(torch.equal(start[k], v) for k, v in initial_state(options).items())
    print(f"{label}: stages 1-4 start from the base's weights: {same}")

# %% [markdown]
# Validation accuracy per epoch, one line per variant, for the first seed:

# %%
first = settings.seeds[0]
curves_figure({variant: study.run(variant, first).rows() for variant in settings.variants}).show()

# %% [markdown]
# Final validation accuracy per seed with its mean ± standard deviation, each variant's difference to the base
# of the same seed, Table 3's differences (ImageNet, 90 epochs), all in points, and how much the last fifth of
# the epochs still added (near 0: the run had flattened out):

# %%
summaries = study.summaries()
seeds = "".join(f"{f'seed {s}':>9}" for s in study.seeds)
deltas = "".join(f"{f'd{s}':>8}" for s in study.seeds)
print(f"{'variant':>8}{seeds}{'mean ± std':>13}{deltas}{'mean d':>8}{'late':>7}   paper d: VT-R-18  VT-R-34")
for label, s in summaries.items():
    paper_d = "" if label not in ABLATIONS else "".join(
        f"{paper_deltas(model, label)['top1']:>+9.2f}" for model in ("vt_resnet18", "vt_resnet34"))
    print(f"{label:>8}" + "".join(f"{a:>9.1f}" for a in s.accuracy) + f"{s.mean_accuracy:>7.1f} ± {s.std:3.1f}"
          + "".join(f"{d:>+8.1f}" for d in s.delta) + f"{s.mean_delta:>+8.1f}"
          + f"{sum(s.late_gain) / len(s.late_gain):>+7.1f}          {paper_d}")

# %% [markdown]
# ## VT-ResNet against ResNet: Table 1 and Figure 4 at toy scale
#
# The paper's main claim (Table 1, Figure 4) is that VT-ResNets are more accurate than their ResNets for fewer
# MACs. Here: the mean accuracy of each model over the seeds (error bar: ± one standard deviation) against its
# MACs at 64×64. *Predict before you run:* the VT model has fewer MACs; will it also be more accurate here?

# %%
accuracy_macs_figure({"shapes (64 px, 6 classes)": study}).show()
vt, resnet = summaries["base"], summaries["baseline"]
vt_cost, resnet_cost = study.cost("base"), study.cost("baseline")
print(f"{vt_cost.model}: {vt.mean_accuracy:.1f} ± {vt.std:.1f}% at {vt_cost.macs / 1e6:.1f} M MACs; "
      f"{resnet_cost.model}: {resnet.mean_accuracy:.1f} ± {resnet.std:.1f}% at {resnet_cost.macs / 1e6:.1f} M MACs")
vt_lead = study.paired_differences("base", against="baseline")  # VT minus ResNet, per seed
print(f"paired difference VT - ResNet per seed: {[round(d, 1) for d in vt_lead]} points "
      f"(mean {-resnet.mean_delta:+.1f}, std {resnet.delta_std:.1f}); Table 1, VT-R-18 vs R-18 on ImageNet: "
      f"+4.53 points at 1.14x fewer MACs")
wins = sum(d < 0 for d in resnet.delta)
print(f"the VT model wins on {wins} of {len(resnet.delta)} seeds")

# %% [markdown]
# ## Two more tasks: digits, and a relation between two objects
#
# One task can mislead, so two more studies ship with vtlab, made the same way: scikit-learn's handwritten
# `digits` (32 px, 10 classes; 300 training images, so that the models are not all at the ceiling), with the
# ablations; and `relations`, on `shapes-same-colour` scenes: two medium shapes and one or two small ones, all of
# different types, labelled by whether the two medium shapes have one colour. Each object's own distribution is
# the same in both classes, so a linear readout of per-object features summed over the scene is at chance
# (`tests/test_relations_task.py` fits one: 0.5); the label needs the two objects compared, the kind of relation
# the paper's transformer over tokens is meant for. It trains the VT model, its baseline, and -TF, since the
# transformer is what relates the tokens. *Predict before you run:* on which task, if any, should the VT model's
# lead be largest, and should -TF cost most on `relations`? (With `FULL`, these two studies are still read from
# the cache.)

# %%
others = {name: load_study(name, complete=False) for name in ("digits", "relations")}
accuracy_macs_figure({"digits (10 classes)": others["digits"],
                      "shapes-same-colour (2 classes)": others["relations"]}).show()
display(Markdown("\n".join(line for name, other in others.items() for line in study_section(name, other))))

# %% [markdown]
# ## How much of that is noise?
#
# Four yardsticks, all computed from the runs: how far the base model's own accuracy moves from seed to seed;
# the standard error of one accuracy measured on the validation scenes (a binomial count); whether each
# ablation's paired differences at least agree in sign over the seeds; and the one that decides, the paired
# standard error of the mean difference (the per-seed differences' standard deviation over √seeds) with its 95 %
# interval (Student's t). A verdict says "agrees" only where that interval excludes 0 on the paper's side,
# "disagrees" where it excludes 0 on the other, and "unresolved" with the size of effect the interval cannot
# rule out.

# %%
images = study.validation.images
base_runs = summaries["base"]
stderr = binomial_stderr(base_runs.mean_accuracy, images)
print(f"base accuracy over seeds: {min(base_runs.accuracy):.1f} to {max(base_runs.accuracy):.1f} "
      f"(spread {base_runs.spread:.1f} points)")
print(f"standard error of one accuracy on {images} scenes at {base_runs.mean_accuracy:.1f}%: {stderr:.1f} points; "
      f"of a difference of two independent ones: {2**0.5 * stderr:.1f} points")
for label in ABLATIONS:
    s = summaries[label]
    low, high = s.delta_range
    consistent = low > 0 or high < 0  # the same sign on every seed
    paper_34 = paper_deltas("vt_resnet34", label)["top1"]
    print(f"{label}: paired differences {low:+.1f} to {high:+.1f} points, "
          f"{'the same sign for every seed' if consistent else 'of both signs'}; "
          f"larger than the base's seed spread: {abs(s.mean_delta) > base_runs.spread}; "
          f"Table 3 (VT-R-34): {paper_34:+.2f}, the same direction: {(s.mean_delta > 0) == (paper_34 > 0)}")
print()
for name, each in {"shapes": study, **others}.items():
    for label, s in each.summaries().items():
        if label == "base":
            continue
        low, high = s.delta_interval()
        verdict = s.verdict(-1) if label != "uncentred" else "no paper figure"
        print(f"{name:>9} {label:>9} - base: {s.mean_delta:+5.1f} points, paired SE {s.delta_se:.2f} over "
              f"{len(s.delta)} seeds, 95% interval [{low:+.1f}, {high:+.1f}]: {verdict}")
# %% [markdown]
# Read the accuracy deltas against these yardsticks: a difference within the base's own seed-to-seed spread, or of
# both signs over the seeds, is not evidence either way. Nor do a thousand generated scenes say what 90 epochs on
# ImageNet would: a variant with fewer parameters (the percentages printed with the costs above) may simply fit
# a small training set differently.
#
# The figure puts the three together: Table 3's deltas, vtlab's counted cost deltas for VT-ResNet-34, and the
# short runs' accuracy deltas (mean over seeds; the error bar spans the lowest to the highest per-seed
# difference).

# %%
table3_figure("vt_resnet34", summaries).show()

# %% [markdown]
# ## Distinct tokens on every seed
#
# A base model whose last block draws the same map for every token would make the comparisons above say little
# about tokens. Every run records its token measurements at its last epoch (`run.tokens`, one entry per block,
# on 200 held-out scenes): the mean pairwise cosine of a block's mean-centred maps (1: one map for all) and the
# median lift of the region each token looks at most (1: no preference). The target is a last-block cosine of at
# most 0.5 on every base run; the `uncentred` control shows what the centring of T_in,a does to it.

# %%
for variant in ("base", "uncentred", "-DT"):
    runs = study.runs_of(variant)
    cosines = [round(run.tokens[-1].cosine, 2) for run in runs]
    lifts = [round(run.tokens[-1].lift, 2) for run in runs]
    print(f"{variant:>9}: last-block cosine per seed {cosines} (at most 0.5 on {sum(c <= 0.5 for c in cosines)} of "
          f"{len(runs)}); lift {lifts}")

# %% [markdown]
# ## Switch components off yourself
#
# Tick which components to keep; combinations that Table 3 does not have are counted too, and have no accuracy
# unless they were trained. Below the widget, its figure with the transformer switched off.

# %%
explorer = ablation_explorer(summaries)
display(explorer)

# %%
explorer.show(TF=False)

# %% [markdown]
# ## What this showed
#
# The cost half reproduces Table 3 in kind (the same signs for every delta); the accuracy half is a toy-scale
# experiment whose numbers, computed above, fill the paragraph below.

# %%
rows = {(row[0], row[1]): row for row in table3_comparison().rows}
same_signs = all(row[8] for row in rows.values())
verdicts = {label: summaries[label].verdict(-1) for label in ABLATIONS}
agreeing = [label for label, v in verdicts.items() if v == "agrees"]
lead = summaries["baseline"]  # ResNet minus VT, per seed
takeaway = (
    f"Counted at 224x224, every ablation changes MACs and parameters in the direction Table 3 reports: {same_signs}. "
    f"Trained on {settings.train_size} shapes scenes for {settings.epochs} epochs, paired over {len(study.seeds)} "
    f"seeds{'' if study.complete else ' (the study is still being made)'}, {settings.model} reaches "
    f"{vt.mean_accuracy:.1f} ± {vt.std:.1f}% and its baseline {settings.baseline} {resnet.mean_accuracy:.1f} ± "
    f"{resnet.std:.1f}%, with {resnet_cost.macs / vt_cost.macs:.2f}x fewer MACs for the VT model. ResNet minus VT: "
    f"{lead.mean_delta:+.1f} points, paired SE {lead.delta_se:.1f}, 95% interval "
    f"[{lead.delta_interval()[0]:+.1f}, {lead.delta_interval()[1]:+.1f}]; against Table 1's VT lead, the verdict: "
    f"{lead.verdict(-1)}. Table 3's ablations (the paper: each lowers accuracy): "
    + "; ".join(f"{label} {summaries[label].mean_delta:+.1f} ± {summaries[label].delta_se:.1f} (SE), {verdicts[label]}"
                for label in ABLATIONS)
    + f". {len(agreeing)} of 3 agree with the paper at this scale. "
    + (f"The VT runs were still creeping up: over the last fifth of the epochs the base gained "
       f"{sum(vt.late_gain) / len(vt.late_gain):+.1f} points on average and the baseline "
       f"{sum(resnet.late_gain) / len(resnet.late_gain):+.1f}, so these numbers are short of where the runs level "
       f"off." if sum(vt.late_gain) / len(vt.late_gain) > 1 else "The runs had levelled off by their last epochs.")
)
for other in others.values():
    s = other.summaries()
    ablations = [f"{label} {s[label].mean_delta:+.1f} ± {s[label].delta_se:.1f} (SE), {s[label].verdict(-1)}"
                 for label in ABLATIONS if label in s]
    chance_loss = math.log(other.validation.classes)  # the loss of a uniform guess
    stuck = {variant: sum(run.final("train_loss") > 0.9 * chance_loss for run in other.runs_of(variant))
             for variant in ("base", "baseline")}
    takeaway += (f"\n\nOn {other.settings.data} ({other.validation.classes} classes, {len(other.seeds)} seeds paired"
                 f"{'' if other.complete else ' so far'}), {s['base'].mean_accuracy:.1f} ± {s['base'].std:.1f}% "
                 f"against {s['baseline'].mean_accuracy:.1f} ± {s['baseline'].std:.1f}%: ResNet minus VT "
                 f"{s['baseline'].mean_delta:+.1f} ± {s['baseline'].delta_se:.1f} (SE), {s['baseline'].verdict(-1)}"
                 + (f"; the ablations against the base: {'; '.join(ablations)}" if ablations else "")
                 + (f". The VT model did not fit the training set on {stuck['base']} of {len(s['base'].delta)} seeds "
                    f"(its training loss ended above 90% of ln {other.validation.classes} = {chance_loss:.2f}, a "
                    f"uniform guess's), the ResNet on {stuck['baseline']}: there the spread is a training failure, "
                    f"not noise" if stuck["base"] or stuck["baseline"] else "") + ".")
display(Markdown(takeaway))

# %% [markdown]
# ## Exercises
#
# Store each answer in the variable the exercise names, then run the check cell at the end: it says whether each
# answer is right without printing the expected value.
#
# 1. *The noisiest variant.* Which variant's final accuracy varies most from seed to seed? Store its standard
#    deviation over the seeds (in points) in `answer_1`. Is its mean difference to the base larger than that
#    spread?
#
#    <details><summary>Solution</summary>
#
#    ```python
#    noisiest = max(summaries.values(), key=lambda s: s.std)
#    answer_1 = noisiest.std
#    print(noisiest.variant, round(noisiest.std, 1), round(noisiest.mean_delta, 1))
#    # a mean difference smaller than the variant's own spread over the seeds is no evidence either way
#    ```
#    </details>
#
# 2. *Last epoch or best epoch?* The tables above use each run's last epoch, not its best one. How much would
#    picking the best epoch have changed? Store the largest drop from a run's best epoch to its last, in points,
#    over all the runs, in `answer_2`, and compare it with the base's seed-to-seed spread.
#
#    <details><summary>Solution</summary>
#
#    ```python
#    drops = {(run.variant, run.seed): 100 * (max(run.curve("val_acc")) - run.final("val_acc"))
#             for run in study.runs}
#    answer_2 = max(drops.values())
#    print(max(drops, key=drops.get), round(answer_2, 1), "points; the base's seed spread", round(base_runs.spread, 1))
#    # small against the spread: the last epoch (not chosen by looking at the validation scores) changes little
#    ```
#    </details>
#
# 3. *Static tokens, more distinct?* The runs record each model's token measurements at the end (`run.tokens`,
#    one entry per block). Do the -DT runs (both blocks static) have more distinct second-block tokens than the
#    base's dynamic ones? Store the mean second-block cosine of the -DT runs minus that of the base runs in
#    `answer_3` (below 0: the static tokens are the more distinct).
#
#    <details><summary>Solution</summary>
#
#    ```python
#    mean_cosine = {}
#    for variant in ("base", "-DT"):
#        cosines = [run.tokens[1].cosine for run in study.runs_of(variant)]
#        mean_cosine[variant] = sum(cosines) / len(cosines)
#        print(variant, [round(c, 2) for c in cosines])
#    answer_3 = mean_cosine["-DT"] - mean_cosine["base"]
#    ```
#    </details>

# %%
block_1_cosines = {variant: torch.tensor([run.tokens[1].cosine for run in study.runs_of(variant)],
                                         dtype=torch.float64) for variant in ("base", "-DT")}
check_answers(globals(), {
    "answer_1": max(s.std for s in summaries.values()),  # points
    "answer_2": 100 * max(max(run.curve("val_acc")) - run.final("val_acc") for run in study.runs),  # points
    "answer_3": (block_1_cosines["-DT"].mean() - block_1_cosines["base"].mean()).item(),
})
