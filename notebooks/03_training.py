# %% [markdown]
# # 3. Training a VT-ResNet: device, recipe, a real run, resume
#
# This notebook trains with vtlab's engine (`vtlab.train.train`, the same code as `vtlab train` and
# `torchrun -m vtlab train`). By default it runs the CPU-sized `quick` recipe on the generated `shapes` scenes
# in well under two minutes; set `FULL = True` (the default when a GPU is present) for the recipe's full
# length on the GPU, and point `IMAGENET` at an ImageNet folder to run the paper's recipe itself.

# %%
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

import vtlab
from vtlab.train import TrainConfig, get_recipe, train
from vtlab.train.evaluation import evaluate_run
from vtlab.viz import setup_notebook
from vtlab.viz.training import curves_figure, lr_schedule_figure

device = setup_notebook(seed=0)
FULL = torch.cuda.is_available()  # the switch: True = full-size configuration (GPU), False = 2-minute CPU run
IMAGENET = None  # e.g. "/data/imagenet" (ROOT/train/<class>/*, ROOT/val/<class>/*): the paper's recipe
print("device:", device.type, "| full-size configuration:", FULL)

# %% [markdown]
# ## Where it runs
#
# `setup_notebook()` picked the device: CUDA when torch sees a GPU, else the CPU. The engine does the rest by
# itself: on CUDA it trains in bf16 autocast (fp16 with loss scaling on GPUs without bf16) with channels-last
# tensors, and `compile=True` adds `torch.compile`; on the CPU it trains in float32. Under `torchrun` the same
# call runs data-parallel (DDP) with a distributed sampler and, on GPUs, synchronized batch norm.
#
# ## The paper's recipe (Section 5.1), as vtlab names it

# %%
paper = get_recipe("imagenet")
for field in ("optimizer", "batch_size", "warmup_lr", "lr", "warmup_epochs", "schedule", "decay", "epochs",
              "label_smoothing", "augment", "survival", "dropout", "ema_decay", "sync_bn", "weight_decay"):
    print(f"{field:16s} {getattr(paper, field)}")
print("\nlearning rates are given at batch", paper.batch_size, "and scale linearly with the batch actually used:")
for batch in (2048, 1024, 256):
    start, peak = paper.scaled_lr(batch)
    print(f"  batch {batch:5d}: warm-up from {start:.5f} to {peak:.4f}")

# %% [markdown]
# The warm-up is linear over five epochs; afterwards the rate is multiplied by 0.9875 once per epoch. Weight
# decay and RMSProp's constants are not given by the paper; vtlab's choices are listed in the paper-fidelity page.

# %%
lr_schedule_figure(paper, batch_sizes=(2048, 256)).show()

# %% [markdown]
# ## A real run
#
# The `quick` recipe keeps the structure of the paper's (warm-up, then decay; flips) but is sized for a
# laptop: AdamW, cosine decay, `vt_resnet_mini` (ResNet-18's layout at width 16 with its last stage replaced
# by two VT blocks) on 64×64 `shapes` scenes. Here it is shortened further so that the notebook stays fast.

# %%
quick = get_recipe("quick")
print(quick.description)
runs = Path(tempfile.mkdtemp(prefix="vtlab-nb03-"))
if IMAGENET is not None:
    config = TrainConfig(recipe="imagenet", model="vt_resnet18", data=IMAGENET, out=str(runs / "imagenet"),
                         workers=8, compile=True, progress=False)
elif FULL:
    config = TrainConfig(recipe="quick", out=str(runs / "quick"), progress=False)  # 10 epochs of 2000 scenes
else:
    config = TrainConfig(recipe="quick", epochs=4, train_size=640, val_size=200, out=str(runs / "quick"),
                         progress=False)
history = train(config)
for row in history:
    print(f"epoch {row['epoch']}: train loss {row['train_loss']:.3f}, val loss {row['val_loss']:.3f}, "
          f"val acc {row['val_acc']:.3f}, lr {row['lr']:.2e}")

# %%
curves_figure({config.model or quick.model: history}).show()

# %% [markdown]
# Everything the run produced is in its folder: `run.json` (the full configuration and recipe),
# `metrics.csv` (one row per epoch), `model.safetensors` (weights that load without unpickling code) and
# `checkpoint.pt` (optimizer, schedule, EMA and RNG state), each written to a temporary file and renamed, so an
# interruption never leaves a half-written file.

# %%
print(sorted(path.name for path in Path(config.out).iterdir()))
print(Path(config.out, "metrics.csv").read_text().splitlines()[0])
result = evaluate_run(config.out, device=device.type)
print(f"evaluated from disk: val acc {result['acc']:.3f} on {result['images']} images "
      f"(the run's last epoch reported {history[-1]['val_acc']:.3f})")

# %% [markdown]
# ## Interrupt and resume
#
# A small run (2 epochs of 128 scenes, validated on 64) twice: once straight through, once stopped after its first epoch
# (`stop_after=1`, or `vtlab train --stop-after 1`, as a job's time limit would stop it; Ctrl-C stops at an epoch
# boundary the same way) and continued with `resume=True`. The data order depends only on (seed, epoch) and the
# checkpoint restores the RNG state, so on the CPU the resumed run ends with exactly the uninterrupted run's
# metrics.

# %%
small = replace(config, epochs=2, train_size=128, val_size=64)
straight = train(replace(small, out=str(runs / "straight")))
first = train(replace(small, out=str(runs / "resumed"), stop_after=1))
print("after the interruption:", len(first), "epoch saved")
resumed = train(replace(small, out=str(runs / "resumed"), resume=True))
timing_free = ("epoch_time_s", "images_per_s")
same = all({k: v for k, v in a.items() if k not in timing_free} == {k: v for k, v in b.items() if k not in timing_free}
           for a, b in zip(resumed, straight, strict=True))
print("resumed run identical to the uninterrupted one (all metrics but timings):", same)

# %% [markdown]
# ## What this showed

# %%
print(f"- {config.model or quick.model} trained for {len(history)} epochs on {device.type}: validation accuracy "
      f"{history[0]['val_acc']:.3f} after epoch 1, {history[-1]['val_acc']:.3f} at the end "
      f"(6 classes: chance is {1 / 6:.3f})")
print(f"- parameters {vtlab.count_params(vtlab.create_model('vt_resnet_mini', num_classes=6)):,}, "
      f"MACs per 64x64 image {vtlab.count_macs(vtlab.create_model('vt_resnet_mini', num_classes=6), 64) / 1e6:.1f} M")
print(f"- interrupted after {len(first)} epoch and resumed: identical metrics = {same}")
print(f"- the paper's recipe: batch {paper.batch_size}, lr {paper.warmup_lr} -> {paper.lr} over "
      f"{paper.warmup_epochs} epochs, x{paper.decay}/epoch, {paper.epochs} epochs; "
      "not run here (it needs ImageNet and GPUs)")
