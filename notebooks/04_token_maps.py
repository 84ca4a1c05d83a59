# %% [markdown]
# # 4. Probing token maps: what does each visual token look at?
#
# A token is a weighted average of the feature map's pixels, with weights $A[:, l]$ from equation (1):
#
# $$A = \mathrm{softmax}_{HW}\left(X W_A\right), \qquad T = A^{\mathsf T} X W_V .$$
#
# The paper's Figures 5 and 6 show such maps over images, where tokens pick out semantic regions. Here we
# draw them for a VT-ResNet that vtlab trained on its generated `shapes` scenes, and, because those scenes come
# with masks, we also *measure* how much of each token's weight falls on each region. The weights are shipped
# with vtlab (`vtlab/assets/vt_resnet_mini_shapes.safetensors`, 3 MB); `python scripts/make_probe_checkpoint.py`
# regenerates them with the `quick` recipe.

# %%
import torch
from IPython.display import display

from vtlab.data import SHAPES, ShapesDataset, classification_transform, parse_data
from vtlab.data.photos import sample_photos
from vtlab.models import create_model
from vtlab.probe import coefficient_maps, concentration, load_probe_model, region_mass, region_share, upsample_maps
from vtlab.viz import setup_notebook
from vtlab.viz.probe import concentration_figure
from vtlab.viz.tokens import token_explorer, token_grid_figure

device = setup_notebook(seed=0)
FULL = torch.cuda.is_available()  # the switch: True scores 2000 scenes instead of 300
SCENES = 2000 if FULL else 300

model, record = load_probe_model()
print(f"{record['model']} trained on {record['data']} with the {record['recipe']!r} recipe, seed {record['seed']}, "
      f"{record['epochs']} epochs: validation accuracy {record['val_acc']}")

# %% [markdown]
# ## The model, checked
#
# Its accuracy on the validation scenes, recomputed here from the shipped weights:

# %%
normalise = classification_transform(parse_data("shapes"), train=False)
scenes = ShapesDataset("val", size=64, length=SCENES, target="mask")
images, masks = scenes.images, scenes.masks  # uint8 (N, 3, 64, 64); region ids (N, 64, 64): 0 = background
x = torch.stack([normalise(image) for image in images])
with torch.no_grad():
    accuracy = (model(x).argmax(1) == scenes.labels).float().mean().item()
print(f"accuracy on {SCENES} validation scenes: {accuracy:.3f} (6 classes)")

# %% [markdown]
# ## Token maps
#
# `coefficient_maps` returns, for each of the two VT blocks, $A$ reshaped onto the 16×16 feature grid:
# (scenes, heads, tokens, 16, 16). Block 0 is the static tokenizer (equation 1): 8 tokens from learned filters.
# Block 1 is the dynamic one (equation 5): it keeps half of block 0's output tokens and renews the other half, so
# its $A$ has 4 columns, whose filters are computed from block 0's tokens. Each map is brought to 64×64 and drawn
# over its scene, scaled to its own maximum. For measuring, the maps are also brought to the scenes' 64×64
# pixels (`upsample_maps`, which keeps each map's sum at 1).

# %%
maps = coefficient_maps(model, x)
print("block shapes:", [tuple(A.shape) for A in maps])
maps_up = [upsample_maps(A, (64, 64)) for A in maps]  # each map still sums to 1
names = ["background", *SHAPES]
for block in (0, 1):
    title = f"scene 0 ({SHAPES[scenes.labels[0]]}), block {block}, mean over heads"
    token_grid_figure(images[0], maps[block][0].mean(0), title=title).show()

# %% [markdown]
# Choose a scene, a block, a head (or their mean) and a token (or all of them). The titles say where each token
# puts most of its weight. (Without a running kernel, the figure below the widget shows its first setting.)

# %%
mass = [region_mass(A, masks, len(names)) for A in maps_up]  # (N, heads, L, regions) per block
explorer = token_explorer(images[:24], [A[:24] for A in maps], [m[:24] for m in mass], names)
display(explorer)

# %%
explorer.controls["block"].value = 1
explorer.figure.show()

# %% [markdown]
# ## Measured: how concentrated is each token on one region?
#
# For every token we take the region that holds most of its weight and divide that weight by the region's share
# of the image: a *lift* of 1 means no preference (what a uniform map gives), and $1/\text{share}$ means all
# the weight lies in the region. The same measurement on the same architecture *before training* (its
# initial weights, seed 0) is the baseline.

# %%
torch.manual_seed(0)
untrained = create_model("vt_resnet_mini", num_classes=6).eval()
share = region_share(masks, len(names))
summary = {}
for label, net in (("trained", model), ("untrained", untrained)):
    blocks = [upsample_maps(A, (64, 64)) for A in coefficient_maps(net, x)]
    per_block = []
    for A in blocks:
        m = region_mass(A, masks, len(names))
        lift = concentration(m, share)  # (N, heads, L)
        on_shape = m[..., 1:].sum(-1)  # weight on any shape, rather than the background
        label_region = scenes.labels + 1  # the mask id of the scene's labelled (largest) shape
        on_label = m.gather(-1, label_region[:, None, None, None].expand(*m.shape[:3], 1)).squeeze(-1)
        per_block.append({"lift": lift.mean().item(), "on_shape": on_shape.mean().item(),
                          "on_label": on_label.mean().item()})
    summary[label] = per_block
shape_share = share[:, 1:].sum(-1).mean().item()
label_share = share.gather(1, (scenes.labels + 1)[:, None]).mean().item()
print(f"pixels on shapes: {shape_share:.3f} of each scene; on the labelled shape: {label_share:.3f}")
for label, per_block in summary.items():
    for block, s in enumerate(per_block):
        print(f"{label:9s} block {block}: mean lift {s['lift']:.2f}, weight on shapes {s['on_shape']:.3f}, "
              f"on the labelled shape {s['on_label']:.3f}")

# %%
concentration_figure(summary, {"shapes": shape_share, "labelled shape": label_share}).show()

# %% [markdown]
# ## Real photographs
#
# scikit-image ships a few photographs; the model has only ever seen generated shapes, so what its tokens pick
# out in a photo are colour and texture regions rather than object classes. (The paper's Figure 6 uses models
# trained on ImageNet and LIP, which cannot be bundled.)

# %%
photos = sample_photos(size=64)
photo_x = torch.stack([normalise(photo) for photo in photos])
photo_maps = coefficient_maps(model, photo_x)
for index in (0, 1):
    token_grid_figure(photos[index], photo_maps[1][index].mean(0),
                      title=f"photo {index}, block 1, mean over heads").show()
spread = [(A.flatten(-2).amax(-1) * A.shape[-1] * A.shape[-2]).mean().item() for A in photo_maps]
print("peak weight of a photo token map, relative to a uniform map:", [round(s, 1) for s in spread])

# %% [markdown]
# ## What this showed

# %%
t, u = summary["trained"], summary["untrained"]
print(f"- the shipped model classifies {accuracy:.1%} of {SCENES} validation scenes correctly")
for block in (0, 1):
    print(f"- block {block}: a trained token's best region holds {t[block]['lift']:.2f}x its share of the image "
          f"(untrained: {u[block]['lift']:.2f}x); {t[block]['on_shape']:.1%} of token weight lies on shapes, "
          f"which cover {shape_share:.1%} of the pixels (untrained: {u[block]['on_shape']:.1%})")
print(f"- weight on the labelled shape: {t[1]['on_label']:.1%} in block 1 vs its {label_share:.1%} of the pixels")
print("- the paper shows (Figures 5-6, qualitatively) that tokens attend to semantic regions; on scenes with "
      "known regions this is measured above, at 64 px and 6 classes rather than ImageNet scale")
