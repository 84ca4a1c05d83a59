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
# # 1. Visual tokens from the equations
#
# **You will learn** what each of the paper's five equations computes, with which shapes; how each line of an
# equation becomes a line of vtlab's code, shown beside the equation and beside a literal transcription; why
# a softmax over pixels (equation 1) and one over tokens (equation 4) behave so differently; and why a
# transformer on 8 tokens is far cheaper than the same attention on every pixel (Section 3.2). **You need**
# matrix products and the softmax; knowing what a ResNet feature map is helps. Nothing is trained here; the
# notebook runs in well under a minute on a laptop CPU.
#
# A visual transformer turns a feature map into a handful of visual tokens, lets the tokens interact, and writes
# the result back into the map. This notebook follows one feature map through equations (1) to (5) of the paper
# (Section 3), one vtlab module per equation, and checks each step against `vtlab.vt.literal`, where every equation
# is transcribed as plain matrix algebra on one image. It ends with the cost comparison of Section 3.2.
#
# The modules are used single-head and unscaled (`heads=1, scaled=False`), which is the equations as printed; the
# models use scaled logits and several heads in the transformer and the projector, while their tokenizers keep one
# coefficient map per token, as equation (1) (Appendix A; see `docs/paper-fidelity.md`). Everything runs in float64,
# so that the module and the literal formula agree to rounding error.

# %%
import unicodedata

import plotly.graph_objects as go
import torch
from einops import rearrange
from IPython.display import Markdown, display
from plotly.subplots import make_subplots

import vtlab.viz
from vtlab.cost import count_macs, paper
from vtlab.cost.report import section32_comparison
from vtlab.cost.scaling import DEFAULT_CONFIG, count_block_macs
from vtlab.data import ShapesDataset
from vtlab.data.shapes import SHAPES
from vtlab.models import create_model
from vtlab.viz import equation_beside_code
from vtlab.viz.notebook import check_answers
from vtlab.vt import DynamicTokenizer, NonLocalBlock, PositionEncoder, Projector, StaticTokenizer, Transformer, literal

device = vtlab.viz.setup_notebook()
FULL = torch.cuda.is_available()  # one small feature map: the notebook is the same with FULL
torch.set_grad_enabled(False)  # nothing is trained here
TOLERANCE = 1e-10  # float64: module and literal formula agree far below this


def shape(symbol: str, tensor: torch.Tensor, meaning: str) -> None:
    """Print a tensor's shape beside the paper's symbol."""
    width = 22 + sum(unicodedata.combining(ch) > 0 for ch in symbol)  # a combining bar takes no column
    print(f"{symbol:<{width}}{str(tuple(tensor.shape)):<18}{meaning}")


def check(what: str, ours: torch.Tensor, reference: torch.Tensor) -> bool:
    """Print whether a module's output equals the literal formula's (max abs difference below TOLERANCE)."""
    close = bool((ours - reference).abs().max() < TOLERANCE)
    print(f"{what}: max |module - literal| < {TOLERANCE:.0e}: {close}")
    return close


# %% [markdown]
# ## A feature map
#
# The input is a real feature map: a generated `shapes` scene (64×64 pixels) through stages 1–4 of
# `vt_resnet_mini` (vtlab's compact VT-ResNet, here with its initial, untrained weights) and the stage's channel
# adapter, i.e. exactly what its first VT block receives. $X \in \mathbb{R}^{H\times W\times C}$ is stored
# channels-first, (N, C, H, W); $\bar X \in \mathbb{R}^{HW\times C}$ merges the two spatial axes.

# %%
scenes = ShapesDataset("val", size=64, length=1)
image, label = scenes[0]
# float64 throughout, so that every printed digit is the same on any CPU (float32 sums differ with the
# instruction set in their last bits, which rounding can turn into a different printed digit)
model = create_model("vt_resnet_mini", num_classes=len(SHAPES)).double().eval()
captured = []
hook = model.vt.blocks[0].register_forward_pre_hook(lambda module, args: captured.append(args[0]))
model((image[None].double() / 255 - 0.5) / 0.25)
hook.remove()
X = captured[0]
N, C, H, W = X.shape
X_bar = rearrange(X[0], "c y x -> (y x) c")
print(f"scene 0 of the validation split: a {SHAPES[label]}, image {tuple(image.shape)}")
shape("X", X, f"(N, C, H, W): C = {C} channels on a {H}x{W} grid")
shape("X̄", X_bar, "(HW, C): one row per pixel")

# %% [markdown]
# ## Equation (1): static tokenization
#
# $$A = \mathrm{softmax}_{HW}\!\left(\bar X W_A^T\right) \in \mathbb{R}^{HW\times L}, \qquad
#   T = A^T (\bar X W_V) \in \mathbb{R}^{L\times C_T}$$
#
# $W_A \in \mathbb{R}^{L\times C}$ is a bank of $L$ point-wise filters: $\bar X W_A^T$ scores every pixel for every
# token, and the softmax runs over the $HW$ pixels, so column $A[:, l]$ sums to 1 and token $l$ is a weighted
# average of the pixels' values $\bar X W_V$. Since $A^T(\bar X W_V) = (A^T\bar X)W_V$, vtlab pools first and applies
# $W_V \in \mathbb{R}^{C\times C_T}$ to $L$ rows instead of $HW$ (the second cell below prints both costs).
#
# The code, read from vtlab's files as this cell runs: on the left what the models run (batched, with heads and
# an optional scale; `_coefficients` is where the softmax over the pixels is), on the right the equation
# transcribed for one image. The left side keeps $X$ channels-first, so it computes $A^T$, i.e.
# $W_A \bar X^T$, of shape $(L, HW)$, and normalises its last axis: the same softmax over pixels.

# %%
equation_beside_code(
    r"A = \mathrm{softmax}_{HW}\!\left(\bar X W_A^T\right), \qquad T = A^T (\bar X W_V)",
    [StaticTokenizer.forward, StaticTokenizer.tokens, StaticTokenizer._coefficients], literal.eq1_static_tokens,
    title="Equation (1): static tokenization")

# %%
CT, L = 2 * C, 8
tokenizer = StaticTokenizer(C, CT, L, heads=1, position_encoding=False, scaled=False).double()
T, A_heads = tokenizer(X)
A = A_heads[0, 0]  # one image, one head: (HW, L)
W_A, W_V = tokenizer.W_A, tokenizer.W_V.matrix()
shape("W_A", W_A, "(L, C): one filter per token")
shape("A", A, "(HW, L): token coefficients")
shape("W_V", W_V, "(C, CT)")
shape("T", T[0], "(L, CT): the visual tokens")
T_literal, A_literal = literal.eq1_static_tokens(X_bar, W_A, W_V)
check("A", A, A_literal)
check("T", T[0], T_literal)
print(f"every column of A sums to 1: {bool(torch.allclose(A.sum(0), torch.ones(L, dtype=A.dtype)))}")
check("(A^T X̄) W_V against A^T (X̄ W_V)", (A.T @ X_bar) @ W_V, A.T @ (X_bar @ W_V))
print(f"MACs of W_V: pooled first L*C*CT = {L * C * CT:,}, per pixel HW*C*CT = {H * W * C * CT:,}")

# %% [markdown]
# Each column of $A$ is a map over the $H\times W$ grid: where token $l$ takes its average. The figure shows the
# scene and the $L$ maps on the feature grid, as $HW \cdot A[i, l]$, so that 1 is the weight of a plain average
# and all maps share one colour scale. Here the weights are untrained: the filters $W_A$ are random and the maps
# nearly flat (the cell prints the range of $HW \cdot A$; the effective pixel counts printed two cells below are
# close to $HW$). Whether a trained model's maps single out objects, as the paper's Figure 5 shows, is not
# assumed here: notebook 4 measures it on scenes whose regions are known.

# %%
relative = rearrange(A * H * W, "(y x) l -> l y x", y=H).numpy().round(3)
print(f"HW * A ranges from {relative.min():.2f} to {relative.max():.2f} (1 = uniform average)")
fig = make_subplots(rows=3, cols=3, subplot_titles=["scene"] + [f"token {token}" for token in range(L)],
                    horizontal_spacing=0.03, vertical_spacing=0.06)
fig.add_trace(go.Image(z=image.permute(1, 2, 0).numpy(), hoverinfo="skip"), row=1, col=1)
for token in range(L):
    fig.add_trace(go.Heatmap(z=relative[token], coloraxis="coloraxis",
                             hovertemplate="x %{x}, y %{y}: %{z} x uniform<extra></extra>"),
                  row=(token + 1) // 3 + 1, col=(token + 1) % 3 + 1)
fig.update_xaxes(visible=False)
for panel in range(1, L + 2):  # square panels, rows from the top as in the image
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{panel if panel > 1 else ''}",
                     row=(panel - 1) // 3 + 1, col=(panel - 1) % 3 + 1)
fig.update_layout(title="Equation (1): HW * A[:, l], 16x16 grid", height=560, width=530,
                  coloraxis=dict(colorscale="Viridis", cmid=1.0, colorbar=dict(thickness=12)),
                  margin=dict(l=10, r=10, t=70, b=10))
fig.show()

# %% [markdown]
# ### Softmax over pixels, or over tokens?
#
# Equation (1) normalises the same scores $\bar X W_A^T$ over the pixels (each token gets a distribution over
# the $HW$ pixels); the projector, equation (4) below, normalises over the tokens (each pixel gets a distribution
# over the $L$ tokens). The cell measures how spread out each is as an effective count, $\exp(\text{entropy})$:
# out of $HW$ pixels for a token, out of $L$ tokens for a pixel. The figure shows both for token 0.
#
# *Predict before you run:* the scores come from random, untrained filters. Will a token spread its weight over
# most of the 256 pixels, or pick out a few? Will a pixel split its weight evenly over the 8 tokens?

# %%
scores = X_bar @ W_A.T  # (HW, L)
over_pixels, over_tokens = scores.softmax(dim=0), scores.softmax(dim=1)


def effective_count(p: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.exp(-(p * p.clamp_min(1e-300).log()).sum(dim))


print(f"softmax over the {H * W} pixels: sums over pixels = 1; effective pixels per token: "
      + ", ".join(f"{v:.1f}" for v in effective_count(over_pixels, 0).tolist()))
print(f"softmax over the {L} tokens: sums over tokens = 1; mean effective tokens per pixel: "
      f"{effective_count(over_tokens, 1).mean():.2f}")
fig = make_subplots(rows=1, cols=2, subplot_titles=["over pixels (eq. 1)", "over tokens (as eq. 4)"],
                    horizontal_spacing=0.16)
for col, (values, bar_x) in enumerate(((over_pixels, 0.42), (over_tokens, 1.0)), start=1):
    z = rearrange(values[:, 0], "(y x) -> y x", y=H).numpy().round(4)
    fig.add_trace(go.Heatmap(z=z, colorscale="Viridis", colorbar=dict(x=bar_x, len=0.8, thickness=10)),
                  row=1, col=col)
fig.update_yaxes(autorange="reversed", scaleanchor="x")
fig.update_yaxes(autorange="reversed", scaleanchor="x2", row=1, col=2)
fig.update_layout(title="Token 0's scores, normalised two ways", height=320, width=530,
                  margin=dict(l=40, r=10, t=80, b=30))
fig.show()

# %% [markdown]
# ## Equation (2): position encoding
#
# $$P = \mathrm{downsample}(A)^T W_{A\to P} \in \mathbb{R}^{L\times C_p}$$
#
# $A$ says where each token looks, which the weighted average of equation (1) forgets. Each map $A[:, l]$ is
# resized to a fixed $\bar H\times\bar W$ grid (here 12×12, then one stride-2 3×3 convolution: 6×6), and
# $W_{A\to P} \in \mathbb{R}^{\bar H\bar W\times C_p}$ compresses it into $C_p$ numbers, concatenated to the token's
# channels before $W_V$: $T = [A^T\bar X \,\|\, P]\, W_V$ with $W_V \in \mathbb{R}^{(C + C_p)\times C_T}$.
# Below, the tokenizer gets the same $W_A$ as above, so $A$ does not change.

# %%
equation_beside_code(
    r"P = \mathrm{downsample}(A)^T W_{A\to P}", [PositionEncoder.forward, PositionEncoder.downsample],
    literal.eq2_position_encoding, title="Equation (2): position encoding")

# %%
tokenizer_pe = StaticTokenizer(C, CT, L, heads=1, position_encoding=True, scaled=False).double()
tokenizer_pe.W_A.copy_(tokenizer.W_A)
T_in, A_pe = tokenizer_pe(X)
encoder = tokenizer_pe.position_encoder
A_down = encoder.downsample(A_pe, (H, W))[0]
P = encoder(A_pe, (H, W))[0]
shape("downsample(A)", A_down, "(H̄W̄, L)")
shape("W_A→P", encoder.W_A_to_P.matrix(), "(H̄W̄, Cp)")
shape("P", P, "(L, Cp)")
shape("W_V", tokenizer_pe.W_V.matrix(), "(C + Cp, CT)")
shape("T_in", T_in[0], "(L, CT): tokens with their positions")
for what, ours, reference in (
        ("A, with and without position encoding", A_pe[0, 0], A),
        ("P", P, literal.eq2_position_encoding(A_down, encoder.W_A_to_P.matrix())),
        ("T = [A^T X̄ ‖ P] W_V", T_in[0], torch.cat([A.T @ X_bar, P], dim=1) @ tokenizer_pe.W_V.matrix())):
    check(what, ours, reference)

# %% [markdown]
# ## Equation (3): the transformer over tokens
#
# $$T_{out} = T_{in} + \mathrm{softmax}\!\left((T_{in}K)(T_{in}Q)^T\right)(T_{in}V)\,F$$
#
# Keys and queries $K, Q \in \mathbb{R}^{C_T\times C_T/2}$, values $V$ and the output weight $F$ in
# $\mathbb{R}^{C_T\times C_T}$. The softmax normalises each row of the $L\times L$ attention: token $i$'s output
# mixes the values of all $L$ tokens.

# %%
equation_beside_code(
    r"T_{out} = T_{in} + \mathrm{softmax}\!\left((T_{in}K)(T_{in}Q)^T\right)(T_{in}V)\,F",
    [Transformer.forward, Transformer.attention], literal.eq3_transformer,
    title="Equation (3): the transformer over tokens")

# %%
transformer = Transformer(CT, heads=1, scaled=False).double()
T_out = transformer(T_in)
attention = transformer.attention(T_in)[0, 0]
for symbol in "KQVF":
    shape(symbol, getattr(transformer, symbol).matrix(), "")
shape("attention", attention, "(L, L): softmax((T_in K)(T_in Q)^T)")
shape("T_out", T_out[0], "(L, CT)")
check("T_out", T_out[0], literal.eq3_transformer(T_in[0], *(getattr(transformer, s).matrix() for s in "KQVF")))
print(f"every row of the attention sums to 1: {bool(torch.allclose(attention.sum(1), torch.ones(L, dtype=A.dtype)))}")

fig = go.Figure(go.Heatmap(z=attention.numpy().round(3), colorscale="Blues", zmin=0, zmax=1,
                           x=[f"token {j}" for j in range(L)], y=[f"token {i}" for i in range(L)]))
fig.update_yaxes(autorange="reversed")
fig.update_layout(title="Equation (3): row i is how token i<br>mixes the L tokens' values", height=440, width=520,
                  margin=dict(t=80))
fig.show()

# %% [markdown]
# ## Equation (4): the projector
#
# $$\bar X_{out} = \bar X_{in} + \mathrm{softmax}\!\left((\bar X_{in} Q_{T\to X})(T_{out} K_{T\to X})^T\right)
#   (T_{out} V_{T\to X})$$
#
# Every pixel asks a query ($Q_{T\to X} \in \mathbb{R}^{C\times C}$), every token offers a key and a value
# ($K_{T\to X}, V_{T\to X} \in \mathbb{R}^{C_T\times C}$); the softmax runs over the $L$ tokens, so each pixel
# adds a convex mix of the token values to its features.

# %%
equation_beside_code(
    r"\bar X_{out} = \bar X_{in} + \mathrm{softmax}\!\left((\bar X_{in} Q_{T\to X})(T_{out} K_{T\to X})^T\right)"
    r"(T_{out} V_{T\to X})", [Projector.forward, Projector.read_back, Projector._attention], literal.eq4_projector,
    title="Equation (4): the projector")

# %%
projector = Projector(C, CT, heads=1, scaled=False).double()
X_out = projector(X, T_out)
pixel_attention = projector.attention(X, T_out)[0, 0]
shape("Q_T→X", projector.Q_T_to_X.matrix(), "(C, C)")
shape("K_T→X, V_T→X", projector.K_T_to_X.matrix(), "(CT, C)")
shape("attention", pixel_attention, "(HW, L): each pixel's weights over the tokens")
shape("X_out", X_out, "(N, C, H, W): the same shape as X_in")
X_bar_out = rearrange(X_out[0], "c y x -> (y x) c")
check("X̄_out", X_bar_out, literal.eq4_projector(X_bar, T_out[0], projector.Q_T_to_X.matrix(),
                                                  projector.K_T_to_X.matrix(), projector.V_T_to_X.matrix()))
print("every row of the attention sums to 1: "
      f"{bool(torch.allclose(pixel_attention.sum(1), torch.ones(H * W, dtype=A.dtype)))}")

# %% [markdown]
# ## Equation (5): dynamic tokenization in the next block
#
# $$T_{in} = [T_{in,a};\, T_{in,b}], \qquad W_A = T_{in,a} W_{T\to W_A}, \qquad
#   T'_{in} = \mathrm{concat}_L\!\left(T_{in,b},\ \mathrm{tokenizer}(W_A, X_{in})\right)$$
#
# The next block takes the previous tokens and map. Half the tokens, $T_{in,a}$, become the filters $W_A$ of
# equation (1) through $W_{T\to W_A} \in \mathbb{R}^{C_T\times C}$: what the tokens found decides what to look
# for next. The other half, $T_{in,b}$, is carried over, so each block renews $L/2$ tokens.

# %%
equation_beside_code(
    r"W_A = T_{in,a} W_{T\to W_A}, \qquad T'_{in} = \mathrm{concat}_L\!\left(T_{in,b},\ "
    r"\mathrm{tokenizer}(W_A, X_{in})\right)", [DynamicTokenizer.forward, DynamicTokenizer.filter],
    literal.eq5_dynamic_tokens, title="Equation (5): dynamic tokenization")

# %%
dynamic = DynamicTokenizer(C, CT, L, heads=1, position_encoding=False, scaled=False).double()
T_next, A_next = dynamic(X_out, T_out)
T_a, T_b = T_out[0, : L // 2], T_out[0, L // 2:]
W_T_to_WA = dynamic.W_T_to_WA.matrix()
shape("T_in,a, T_in,b", T_a, "(L/2, CT)")
shape("W_T→WA", W_T_to_WA, "(CT, C)")
shape("W_A = T_in,a W_T→WA", T_a @ W_T_to_WA, "(L/2, C): filters computed from tokens")
shape("A (new tokens)", A_next[0, 0], "(HW, L/2)")
shape("T'_in", T_next[0], "(L, CT)")
T_next_literal, A_next_literal = literal.eq5_dynamic_tokens(T_out[0], X_bar_out, W_T_to_WA, dynamic.W_V.matrix())
check("T'_in", T_next[0], T_next_literal)
check("A", A_next[0, 0], A_next_literal)
print(f"T_in,b is carried over unchanged, first: {bool(torch.equal(T_next[0, : L // 2], T_b))}")

# %% [markdown]
# ## The same equation (3) on pixels: a non-local block
#
# Applied to the $HW$ rows of $\bar X$ instead of the $L$ tokens, equation (3) is a non-local block: its attention
# relates every pixel to every other.

# %%
nonlocal_block = NonLocalBlock(C, scaled=False).double()
nl = nonlocal_block.transformer
check("non-local X̄_out", rearrange(nonlocal_block(X)[0], "c y x -> (y x) c"),
      literal.eq3_transformer(X_bar, *(getattr(nl, s).matrix() for s in "KQVF")))
print(f"attention entries: {H * W}x{H * W} = {(H * W) ** 2:,} on pixels, {L}x{L} = {L * L} on tokens")

# %% [markdown]
# ## The cost, Section 3.2
#
# Equation (3) costs $3C_T^2L$ MACs for the four weights and $1.5L^2C_T$ for the two products with the attention;
# on the pixels, $3HWC^2 + 1.5(HW)^2C$. The paper's example: $H = W = 7$, $C = C_T = 512$, $L = 8$. The cell counts
# vtlab's modules at those sizes (`vtlab.cost.count_macs`, not the formula) beside the paper's numbers, and adds what
# the paper does not count: a ResNet BasicBlock (two 3×3 convolutions) and a whole VT block (tokenizer, transformer
# and projector, VT-ResNet-18's setting $C = 512$, $C_T = 1024$) on the same 7×7 map.
#
# *Predict before you run:* the paper's transformer works on 8 tokens, the non-local block on 49 pixels, about
# six times as many rows. Is the non-local block then about six times dearer, or more?

# %%
print(section32_comparison().format())
s32 = paper.SECTION_3_2
C32, L32, H32 = int(s32["C"]), int(s32["L"]), int(s32["H"])
transformer_macs = count_macs(Transformer(C32, heads=1), inputs=torch.zeros(1, L32, C32))
nonlocal_macs = count_macs(NonLocalBlock(C32), inputs=torch.zeros(1, C32, H32, H32))
HW32 = H32 * H32
print()
print(f"formula, tokens: 3*CT^2*L + 1.5*L^2*CT = {3 * C32**2 * L32 + 1.5 * L32**2 * C32:,.0f}, "
      f"counted {transformer_macs:,}")
print(f"formula, pixels: 3*HW*C^2 + 1.5*(HW)^2*C = {3 * HW32 * C32**2 + 1.5 * HW32**2 * C32:,.0f}, "
      f"counted {nonlocal_macs:,}")
conv_macs = count_block_macs("conv", DEFAULT_CONFIG, H32)
vt_macs = count_block_macs("vt", DEFAULT_CONFIG, H32)
print()
print(f"at {H32}x{H32}, C = {C32}:  MACs (M)")
for name, macs in (("transformer on L = 8 tokens", transformer_macs), ("non-local block", nonlocal_macs),
                   ("VT block (C = 512, CT = 1024)", vt_macs), ("BasicBlock (two 3x3 convs)", conv_macs)):
    print(f"  {name:<31}{macs / 1e6:>9.2f}")

# %% [markdown]
# The transformer on tokens is the cheap part, as the paper says; a whole VT block also pays for the tokenizer and
# the projector, which the cell above counts too. How these costs move as the map grows is the subject of
# notebook 7 (`07_scaling`).
#
# ## What this showed

# %%
print("Each vtlab module equals the literal transcription of its equation (max |difference| < 1e-10, float64):")
results = {
    "(1) static tokens T and coefficients A": check("  (1) T", T[0], T_literal) and check("  (1) A", A, A_literal),
    "(2) position encoding P": check("  (2) P", P, literal.eq2_position_encoding(A_down, encoder.W_A_to_P.matrix())),
    "(3) transformer T_out": check("  (3) T_out", T_out[0], literal.eq3_transformer(
        T_in[0], *(getattr(transformer, s).matrix() for s in "KQVF"))),
    "(4) projector X_out": check("  (4) X̄_out", X_bar_out, literal.eq4_projector(
        X_bar, T_out[0], projector.Q_T_to_X.matrix(), projector.K_T_to_X.matrix(), projector.V_T_to_X.matrix())),
    "(5) dynamic tokens T'_in": check("  (5) T'_in", T_next[0], T_next_literal),
}
print(f"all five: {all(results.values())}")
print()
print(f"Section 3.2 at {H32}x{H32}, C = CT = {C32}, L = {L32}:   paper    vtlab")
print(f"  transformer on tokens (M MACs)        {s32['transformer_macs_m']:>5}   {transformer_macs / 1e6:>6.2f}")
print(f"  non-local on pixels (M MACs)          {s32['nonlocal_macs_m']:>5}   {nonlocal_macs / 1e6:>6.2f}")
print(f"  ratio                                 {s32['nonlocal_macs_m'] / s32['transformer_macs_m']:>5.1f}"
      f"   {nonlocal_macs / transformer_macs:>6.2f}")
print(f"  not in the paper: BasicBlock {conv_macs / 1e6:.1f} M, whole VT block {vt_macs / 1e6:.1f} M MACs")

# %% [markdown]
# ## Takeaways
#
# The paragraph below is written by the next cell, from the numbers this notebook computed.

# %%
spread_pixels = effective_count(over_pixels, 0)
display(Markdown(
    f"- **Each equation is a few lines of code, and the code is the equation.** All five vtlab modules agree with "
    f"the literal transcription to within {TOLERANCE:.0e} in float64"
    + (" (every check above passed)." if all(results.values()) else " except where a check above failed.")
    + " The module's code differs from the literal form only in bookkeeping: a batch axis, heads, channels-first "
    "layout and an optional scale.\n"
    f"- **Tokens are weighted averages of pixels.** Equation (1) normalises over the {H * W} pixels, so each of the "
    f"{L} tokens averages the map; with untrained filters the averages are broad (between "
    f"{spread_pixels.min():.0f} and {spread_pixels.max():.0f} effective pixels of {H * W}). Normalised over the "
    f"tokens instead, as the projector does, a pixel spreads over {effective_count(over_tokens, 1).mean():.1f} of "
    f"{L} tokens.\n"
    f"- **Dynamic tokenization renews half the tokens.** A later block keeps {L // 2} tokens and computes the "
    f"filters of {L // 2} new ones from the others.\n"
    f"- **Attention on tokens is cheap.** At {H32}x{H32} with C = {C32}, equation (3) on {L32} tokens costs "
    f"{transformer_macs / 1e6:.1f} M MACs and on the {HW32} pixels {nonlocal_macs / 1e6:.1f} M, "
    f"{nonlocal_macs / transformer_macs:.1f} times more (the paper: {s32['nonlocal_macs_m']} M against "
    f"{s32['transformer_macs_m']} M). The number of rows grows {HW32 / L32:.1f}-fold, but the pixel attention also "
    f"pays (HW)² products. A whole VT block, tokenizer and projector included, costs {vt_macs / 1e6:.1f} M MACs "
    f"against {conv_macs / 1e6:.1f} M for a BasicBlock: the tokenizer and projector, which touch every pixel, are "
    "most of it."))

# %% [markdown]
# ## Exercises
#
# Write your answer into the variable each exercise names, then run the check cell at the end: it says whether
# each answer is right without printing the expected value.
#
# 1. *Sharper or flatter?* Multiply the filters $W_A$ of equation (1) by 4. Predict whether the token maps get
#    sharper or flatter, then compute the mean effective pixel count per token (as `effective_count` does above)
#    and store it in `answer_1`.
#
#    <details><summary>Solution</summary>
#
#    ```python
#    sharper = (X_bar @ (4 * W_A).T).softmax(dim=0)
#    answer_1 = effective_count(sharper, 0).mean().item()
#    print(answer_1, "against", effective_count(over_pixels, 0).mean().item())  # fewer pixels: sharper maps
#    ```
#    </details>
#
# 2. *Where should $W_V$ go?* vtlab applies $W_V$ after pooling. At VT-ResNet-18's stage 5 ($14\times14$ map,
#    $C = 512$, $C_T = 1024$, $L = 8$), how many times fewer MACs does that cost than applying $W_V$ to every pixel?
#    Store the ratio in `answer_2`.
#
#    <details><summary>Solution</summary>
#
#    ```python
#    per_pixel, pooled = 14 * 14 * 512 * 1024, 8 * 512 * 1024
#    answer_2 = per_pixel / pooled  # HW / L = 24.5
#    ```
#    </details>
#
# 3. *Does the transformer know the tokens' order?* Reverse the order of the tokens going into `transformer`.
#    Are its outputs the original outputs in reversed order? Store `True` or `False` in `answer_3` (and think
#    about what this means for equation (2)'s position encoding).
#
#    <details><summary>Solution</summary>
#
#    ```python
#    reversed_out = transformer(T_in.flip(1))
#    answer_3 = bool(torch.allclose(reversed_out, T_out.flip(1), atol=1e-12))
#    # True: equation (3) treats the tokens as a set, so where a token came from must be in its channels (P)
#    ```
#    </details>

# %%
check_answers(globals(), {
    "answer_1": effective_count((X_bar @ (4 * W_A).T).softmax(dim=0), 0).mean().item(),
    "answer_2": (14 * 14) / 8,
    "answer_3": bool(torch.allclose(transformer(T_in.flip(1)), T_out.flip(1), atol=1e-12)),
}, rtol=1e-4)
