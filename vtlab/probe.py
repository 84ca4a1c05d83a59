r"""Probing visual tokens: where does each token look? (the paper's Figures 5 and 6, measured)

A token's coefficient map is a column A[:, l] of equation (1): a softmax over the HW pixels of the feature map,
so the token is that weighted average of the pixels. :func:`coefficient_maps` returns every block's maps,
reshaped to the feature map's grid (:func:`level_coefficient_maps`: VT-FPN's, per pyramid level);
:func:`upsample_maps` brings them to the image's resolution (each map still sums to 1); :func:`region_mass`
measures, on scenes whose regions are known (the ``shapes`` masks), how much of each token's mass falls on each
region, and :func:`concentration` compares that mass with the region's share of the image (1 = no preference, as
a uniform map would give).

Whether the tokens of a block are *different* is measured by :func:`token_diversity`: the mean pairwise cosine
similarity of a block's mean-centred maps (1 = identical maps, 0 = unrelated), the effective number of distinct
maps (the participation ratio of their Gram matrix: 1 when all are alike, L when all are orthogonal), and each
map's peak over uniform, max(A[:, l])·HW (1 = a flat map, HW = all weight on one pixel).
:func:`token_report` gathers these per block, with the median best-region lift, on scenes with masks; the
training engine records it every epoch for VT models trained on ``shapes`` (``tokens.csv``, the measure
:class:`vtlab.train.measures.TokenMeasure` that ``vtlab train`` attaches).

Shapes: images (N, 3, H, W) → maps per block (N, heads, L, h, w); masks (N, H, W) with region ids 0..R-1.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from safetensors import safe_open

from ._checks import check_positive
from .models import create_model

PROBE_CHECKPOINT = Path(__file__).parent / "assets" / "vt_resnet_mini_shapes.safetensors"


def load_probe_model(path: str | Path = PROBE_CHECKPOINT) -> tuple[torch.nn.Module, dict]:
    """The shipped ``vt_resnet_mini`` trained on ``shapes`` (regenerate with ``scripts/make_probe_checkpoint.py``),
    in eval mode, and its training record (recipe, epochs, validation accuracy, per-epoch history, and the VT
    options it was built with where they are not the defaults, ``model_options``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no probing checkpoint at {path}: run `python scripts/make_probe_checkpoint.py`")
    with safe_open(str(path), framework="pt") as f:
        record = dict(f.metadata() or {})
        weights = {name: f.get_tensor(name) for name in f.keys()}
    options = json.loads(record.get("model_options", "{}"))  # the VT options it was trained with, if not the defaults
    model = create_model(record.get("model", "vt_resnet_mini"), num_classes=int(record.get("num_classes", 6)),
                         **options)
    model.load_state_dict(weights)
    for key in ("history", "tokens", "model_options"):  # per epoch: metrics, and token measurements per block
        if key in record:
            record[key] = json.loads(record[key])
    return model.eval(), record


@torch.no_grad()
def coefficient_maps(model: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Each block's token coefficients A (N, heads, HW, L) as maps (N, heads, L, h, w) on the feature grid.

    ``model`` is a VT-ResNet (anything whose ``forward_features(x, return_coefficients=True)`` returns
    (X, T, [A per block])); ``images`` are already normalised as the model expects."""
    if images.ndim != 4:
        raise ValueError(f"expected images (N, 3, H, W), got shape {tuple(images.shape)}")
    X, _, coefficients = model.forward_features(images, return_coefficients=True)
    h, w = X.shape[-2:]
    return [rearrange(A, "n heads (y x) l -> n heads l y x", y=h, x=w) for A in coefficients]


@torch.no_grad()
def level_coefficient_maps(model: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """VT-FPN's token coefficients per pyramid level, as maps (N, heads, L, h_i, w_i) on level i's grid
    (finest first). Each map sums to 1 over its level's pixels (equation 1's softmax).

    ``model`` is a VT-FPN segmentation model (:class:`~vtlab.models.fpn.SegmentationFPN` whose ``.fpn`` is a
    :class:`~vtlab.vt.fpn.VTFPN`), run in eval mode (its mode is restored after); ``images`` (N, 3, H, W) are
    already normalised as the model expects."""
    if images.ndim != 4:
        raise ValueError(f"expected images (N, 3, H, W), got shape {tuple(images.shape)}")
    was_training = model.training
    model.eval()
    try:
        X, A = model.forward_features(images, return_coefficients=True)
    finally:
        model.train(was_training)
    return [rearrange(A_i, "n heads (y x) l -> n heads l y x", y=X_i.shape[-2], x=X_i.shape[-1])
            for X_i, A_i in zip(X, A, strict=True)]


def upsample_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Coefficient maps (..., h, w) resized to ``size`` (bilinear) and renormalised so each still sums to 1."""
    lead = maps.shape[:-2]
    maps = maps if maps.is_floating_point() else maps.float()  # float64 maps stay float64
    flat = F.interpolate(maps.reshape(-1, 1, *maps.shape[-2:]), size=size, mode="bilinear",
                         align_corners=False).clamp_min(0)
    flat = flat / flat.sum(dim=(-2, -1), keepdim=True)
    return flat.reshape(*lead, *size)


def region_mass(maps: torch.Tensor, masks: torch.Tensor, num_regions: int) -> torch.Tensor:
    """The share of each token's coefficient mass on each region.

    maps (N, heads, L, H, W), each summing to 1 over the pixels, at the masks' resolution; masks (N, H, W)
    with ids in [0, num_regions). Returns (N, heads, L, num_regions); each row sums to 1."""
    check_positive(num_regions=num_regions)
    if maps.ndim != 5 or masks.ndim != 3 or maps.shape[-2:] != masks.shape[-2:] or maps.shape[0] != masks.shape[0]:
        raise ValueError(f"expected maps (N, heads, L, H, W) and masks (N, H, W) of the same N, H, W; "
                         f"got {tuple(maps.shape)} and {tuple(masks.shape)}")
    if masks.min() < 0 or masks.max() >= num_regions:
        raise ValueError(f"expected mask ids in [0, {num_regions}), got [{int(masks.min())}, {int(masks.max())}]")
    one_hot = F.one_hot(masks.long(), num_regions).to(maps.dtype)  # (N, H, W, R)
    return torch.einsum("nhlyx,nyxr->nhlr", maps, one_hot)


def region_share(masks: torch.Tensor, num_regions: int) -> torch.Tensor:
    """Each region's share of the image's pixels: (N, num_regions), what a uniform map would put on it."""
    one_hot = F.one_hot(masks.long(), num_regions).float()
    return reduce(one_hot, "n y x r -> n r", "mean")


def concentration(mass: torch.Tensor, share: torch.Tensor) -> torch.Tensor:
    """Lift of each token's best region: max over regions of mass / share, over regions present in the image
    (mass (N, heads, L, R), share (N, R) → (N, heads, L)). 1 means the token looks no more at any region
    than a uniform map would; 1/share means all its mass is on that region."""
    present = share > 0
    lift = mass / share.clamp_min(1e-12)[:, None, None, :]
    return lift.masked_fill(~present[:, None, None, :], 0).amax(dim=-1)


def token_diversity(maps: torch.Tensor) -> dict[str, float]:
    """How different a block's token maps are from each other, averaged over the images.

    maps (N, heads, L, h, w) (or (N, heads, HW, L)-shaped coefficients already reshaped), each summing to 1;
    the heads of a token are averaged into one map first (with one map per token there is nothing to average).
    Returns ``cosine``: mean over images and token pairs of the cosine similarity between mean-centred maps;
    ``effective_tokens``: mean participation ratio (Σλ)²/Σλ² of the Gram matrix of the centred, unit-norm maps;
    ``peak``: mean of max(map)·(h·w)."""
    if maps.ndim != 5:
        raise ValueError(f"expected maps (N, heads, L, h, w), got shape {tuple(maps.shape)}")
    M = reduce(maps.double(), "n heads l y x -> n l (y x)", "mean")
    HW = M.shape[-1]
    gram = _centred_cosines(M)
    eigenvalues = torch.linalg.eigvalsh(gram).clamp_min(0)
    effective = (eigenvalues.sum(-1) ** 2 / (eigenvalues**2).sum(-1).clamp_min(1e-12)).mean().item()
    peak = (M.amax(dim=-1) * HW).mean().item()
    return {"cosine": _mean_off_diagonal(gram), "effective_tokens": effective, "peak": peak}


def _centred_cosines(vectors: torch.Tensor) -> torch.Tensor:
    """(N, L, D) → (N, L, L): cosine similarities of the L vectors, each centred over its own D entries first."""
    centred = vectors.double() - vectors.double().mean(dim=-1, keepdim=True)
    unit = centred / centred.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.transpose(1, 2)


def _mean_off_diagonal(gram: torch.Tensor) -> float:
    """The mean over images and pairs (i ≠ j) of (N, L, L) similarities; 1 for a single vector."""
    L = gram.shape[-1]
    return gram[:, ~torch.eye(L, dtype=torch.bool)].mean().item() if L > 1 else 1.0


def token_report(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor,
                 num_regions: int) -> list[dict[str, float]]:
    """Per block of ``model`` (a VT-ResNet): :func:`token_diversity` of its maps, plus ``lift``, the median over
    images and tokens of the best-region lift (:func:`concentration`, maps upsampled to the masks' size), and
    ``on_objects``, the mean share of token weight on non-background regions (region ids > 0).

    images (N, 3, H, W) normalised as the model expects; masks (N, H, W) with ids in [0, num_regions)."""
    was_training = model.training
    model.eval()
    try:
        maps = coefficient_maps(model, images)
    finally:
        model.train(was_training)
    share = region_share(masks, num_regions)
    report = []
    for block_maps in maps:
        mass = region_mass(upsample_maps(reduce(block_maps, "n heads l y x -> n 1 l y x", "mean"),
                                         tuple(masks.shape[-2:])), masks, num_regions)
        report.append({**token_diversity(block_maps), "lift": concentration(mass, share).median().item(),
                       "on_objects": mass[..., 1:].sum(-1).mean().item()})
    return report


def shapes_probe_batch(image_size: int | None = None, length: int = 200, seed: int = 0,
                       task: str = "largest") -> tuple[torch.Tensor, torch.Tensor, int]:
    """The held-out scenes the token measurements use: the first ``length`` ``shapes`` validation scenes (of the
    ``task``: "largest" or "pair"), normalised as a classifier sees them at ``image_size`` (default 64), with
    their 64×64 masks. Returns (images (N, 3, S, S), masks (N, 64, 64), regions = background + 6 shapes)."""
    from .data import ShapesDataset, classification_transform, parse_data

    normalise = classification_transform(parse_data("shapes"), train=False, image_size=image_size)
    scenes = ShapesDataset("val", size=64, length=length, seed=seed, task=task)
    images = torch.stack([normalise(image) for image in scenes.images])
    return images, scenes.masks, ShapesDataset.num_classes + 1


def mean_pairwise_cosine(vectors: torch.Tensor) -> float:
    """Mean over images and pairs of the cosine similarity of L vectors (N, L, D), each centred over its own D
    entries first: 1 = the same vector (up to scale and offset), 0 = unrelated."""
    return _mean_off_diagonal(_centred_cosines(vectors))


@torch.no_grad()
def collapse_chain(model: torch.nn.Module, images: torch.Tensor) -> list[dict[str, float]]:
    """Follow a VT-ResNet's tokens from block to block, to see where they become alike (the collapse chain of
    docs/paper-fidelity.md): per block, the mean pairwise cosine (:func:`mean_pairwise_cosine`) of its maps
    (:func:`token_diversity`), of the tokens T_in it extracts and of T_out after the transformer; for a dynamic
    block also of the half T_in,a of the previous block's tokens that makes its filters, of the filters
    W_A = T_in,a W_{T→WA} themselves (T_in,a centred first where the config says), and their mean norm.
    ``model`` is run in eval mode on ``images``."""
    vt = getattr(model, "vt", None)
    if vt is None or not hasattr(vt, "blocks"):
        raise ValueError(f"expected a VT-ResNet (a model with a .vt stage of blocks), got {type(model).__name__}")
    captured: list[torch.Tensor] = []
    handle = vt.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    was_training = model.training
    model.eval()
    try:
        model.forward_features(images)
    finally:
        handle.remove()
        model.train(was_training)
    X, T_prev, chain = vt.adapter(captured[0]), None, []
    for b, block in enumerate(vt.blocks):
        T_in, A = block.tokenizer(block.tokenizer_norm(X), T_prev)
        T_out = block.transformer_norm(block.transformer(block.token_norm(T_in)))
        maps = rearrange(A, "n heads (y x) l -> n heads l y x", y=X.shape[-2])
        row = {"block": b, "maps": token_diversity(maps)["cosine"], "T_in": mean_pairwise_cosine(T_in),
               "T_out": mean_pairwise_cosine(T_out)}
        if hasattr(block.tokenizer, "W_T_to_WA") and T_prev is not None:
            T_a = T_prev[:, : T_prev.shape[1] // 2]
            W_A = block.tokenizer.filter(T_a)
            row.update(T_a=mean_pairwise_cosine(T_a), W_A=mean_pairwise_cosine(W_A),
                       W_A_norm=W_A.norm(dim=-1).mean().item())
        chain.append(row)
        if block.projector is not None:
            X = F.relu(block.feature_norm(block.projector(X, T_out)))
        T_prev = T_out
    return chain


def learned_weights(model: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """The weights of ``model`` whose names start with ``prefix`` that an optimizer moves, less the normalization
    layers' affine parameters and the biases (which start at 0 or 1 and so have no scale to be relative to):
    name → a detached copy."""
    norms = {name for name, module in model.named_modules()
             if isinstance(module, torch.nn.modules.batchnorm._BatchNorm | torch.nn.LayerNorm | torch.nn.GroupNorm)}
    return {name: p.detach().clone() for name, p in model.named_parameters()
            if p.requires_grad and name.startswith(prefix) and not name.endswith(".bias")
            and name.rpartition(".")[0] not in norms}


def weight_changes(before: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, float]:
    """How far each weight of ``before`` (:func:`learned_weights` at the start) has moved in ``model``:
    name → ‖θ − θ₀‖ / ‖θ₀‖. A weight that lags its neighbours by a large factor is one its parametrisation keeps
    from learning (docs/paper-fidelity.md, "Every weight learns")."""
    now = dict(model.named_parameters())
    return {name: ((now[name].detach() - start).norm() / start.norm()).item() for name, start in before.items()}


@torch.no_grad()
def fusion_ratios(model: torch.nn.Module, images: torch.Tensor) -> list[float]:
    """Per pyramid level of a VT-FPN model, finest first: the norm of what the token path adds to the level's
    lateral map over the norm of that map, ‖X_out,i − X_i‖ / ‖X_i‖ before the ReLU (the gated term
    γ⊙BN(R_i), or for ``fusion="sum"`` the read-back term R_i itself; 0 for the lateral control). ``model`` is run
    in eval mode on ``images``."""
    neck = getattr(model, "fpn", None)
    if neck is None or not hasattr(neck, "laterals"):
        raise ValueError(f"expected a VT-FPN model (a model with a VTFPN .fpn), got {type(model).__name__}")
    was_training = model.training
    model.eval()
    try:
        X = neck.laterals(model.backbone(images))
        if neck.config.fusion == "none":
            return [0.0 for _ in X]
        T_out, _ = neck.relate(X)
        return [(neck.added(i, X_i, T_i).norm() / X_i.norm()).item()
                for i, (X_i, T_i) in enumerate(zip(X, T_out, strict=True))]
    finally:
        model.train(was_training)
