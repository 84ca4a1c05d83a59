"""Token probing (vtlab.probe: VT-ResNets' blocks and VT-FPN's levels), its figures and widget (vtlab.viz.tokens /
probe), the notebook renderer."""

from __future__ import annotations

import csv
import json

import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch

from vtlab.data.photos import sample_photos
from vtlab.data.shapes import ShapesDataset
from vtlab.models import create_model
from vtlab.probe import (
    PROBE_CHECKPOINT,
    coefficient_maps,
    collapse_chain,
    concentration,
    level_coefficient_maps,
    load_probe_model,
    mean_pairwise_cosine,
    region_mass,
    region_share,
    shapes_probe_batch,
    token_diversity,
    upsample_maps,
)
from vtlab.train import TrainConfig, train
from vtlab.viz import FigureExplorer, use_vtlab_renderer
from vtlab.viz.probe import token_history_figure, token_report_figure
from vtlab.viz.tokens import token_explorer, token_grid_figure, token_map_figure


def test_region_mass_by_hand():
    # one 2x2 map with weights 0.1, 0.2 / 0.3, 0.4 over regions 0, 1 / 1, 2
    maps = torch.tensor([[0.1, 0.2], [0.3, 0.4]]).reshape(1, 1, 1, 2, 2)
    masks = torch.tensor([[[0, 1], [1, 2]]])
    mass = region_mass(maps, masks, 3)
    assert torch.allclose(mass.flatten(), torch.tensor([0.1, 0.5, 0.4]))
    share = region_share(masks, 3)
    assert torch.allclose(share, torch.tensor([[0.25, 0.5, 0.25]]))
    # best region: lifts 0.4, 1.0, 1.6 -> 1.6 (region 2)
    assert concentration(mass, share).item() == pytest.approx(1.6)
    uniform = torch.full((1, 1, 1, 2, 2), 0.25)
    assert concentration(region_mass(uniform, masks, 3), share).item() == pytest.approx(1.0)


def test_region_mass_rejects_bad_input():
    with pytest.raises(ValueError, match="mask ids in"):
        region_mass(torch.ones(1, 1, 1, 2, 2) / 4, torch.tensor([[[0, 3], [1, 2]]]), 3)
    with pytest.raises(ValueError, match="same N, H, W"):
        region_mass(torch.ones(1, 1, 1, 2, 2) / 4, torch.zeros(1, 3, 3, dtype=torch.long), 3)


def test_coefficient_maps_and_upsampling():
    torch.manual_seed(0)
    model = create_model("vt_resnet_mini", num_classes=6).eval()
    maps = coefficient_maps(model, torch.randn(2, 3, 64, 64))
    # one map per token; the dynamic block renews L/2 tokens
    assert [tuple(A.shape) for A in maps] == [(2, 1, 8, 16, 16), (2, 1, 4, 16, 16)]
    assert torch.allclose(maps[0].sum((-2, -1)), torch.ones(2, 1, 8), atol=1e-5)
    up = upsample_maps(maps[1], (64, 64))
    assert up.shape == (2, 1, 4, 64, 64) and torch.allclose(up.sum((-2, -1)), torch.ones(2, 1, 4), atol=1e-5)
    with pytest.raises(ValueError, match="expected images"):
        coefficient_maps(model, torch.randn(3, 64, 64))


def test_level_coefficient_maps_are_each_levels_softmax():
    torch.manual_seed(0)
    vt_model = create_model("vt_fpn_resnet_mini").train()
    x = torch.randn(2, 3, 64, 64)
    maps = level_coefficient_maps(vt_model, x)
    assert vt_model.training, "the model's mode is restored"
    config = vt_model.fpn.config
    # the mini backbone's stride-2 stem: C2..C5 at 32, 16, 8, 4 pixels for a 64-pixel image
    assert [tuple(m.shape) for m in maps] == [(2, config.tokenizer_heads, config.L, s, s) for s in (32, 16, 8, 4)]
    for m in maps:
        torch.testing.assert_close(m.sum(dim=(-2, -1)), torch.ones(m.shape[:3]))
    with torch.no_grad():
        vt_model.eval()
        _, A = vt_model.forward_features(x, return_coefficients=True)
    # level 1, head 0, token 3, pixel (y=2, x=5) is A's row 2*16+5
    assert maps[1][0, 0, 3, 2, 5] == A[1][0, 0, 2 * 16 + 5, 3]


def test_level_coefficient_maps_need_a_vt_fpn():
    with pytest.raises(ValueError, match="VT-FPN"):
        level_coefficient_maps(create_model("fpn_resnet_mini"), torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match="N, 3, H, W"):
        level_coefficient_maps(create_model("vt_fpn_resnet_mini"), torch.randn(3, 64, 64))


def test_shipped_checkpoint_loads_and_classifies_shapes():
    assert PROBE_CHECKPOINT.is_file()
    model, record = load_probe_model()
    assert record["model"] == "vt_resnet_mini" and record["recipe"] == "quick"
    assert float(record["val_acc"]) > 0.8 and len(record["history"]) == int(record["epochs"])
    from vtlab.data import ShapesDataset, classification_transform, parse_data
    normalise = classification_transform(parse_data("shapes"), train=False)
    scenes = ShapesDataset("val", size=64, length=64)
    x = torch.stack([normalise(image) for image in scenes.images])
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == scenes.labels).float().mean().item()
    assert accuracy > 0.75
    with pytest.raises(FileNotFoundError, match="make_probe_checkpoint"):
        load_probe_model("/nonexistent/weights.safetensors")


def test_token_figures():
    image = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    maps = torch.rand(4, 16, 16)
    grid = token_grid_figure(image, maps)
    assert sum(isinstance(t, go.Image) for t in grid.data) == 5
    heatmaps = [t for t in grid.data if isinstance(t, go.Heatmap)]
    assert len(heatmaps) == 4 and heatmaps[0].dx == 4 and max(max(row) for row in heatmaps[0].z) == 1
    assert grid.data[0].source.startswith("data:image/png;base64,")
    single = token_map_figure(image, maps[0], title="t")
    assert len(single.data) == 2 and single.layout.title.text == "t"
    with pytest.raises(ValueError, match="expected an image"):
        token_map_figure(torch.zeros(64, 64), maps[0])


def test_token_explorer_follows_its_controls():
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    maps = [torch.rand(3, 2, 8, 8, 8), torch.rand(3, 2, 4, 8, 8)]
    mass = [torch.softmax(torch.randn(3, 2, 8, 3), -1), torch.softmax(torch.randn(3, 2, 4, 3), -1)]
    explorer = token_explorer(images, maps, mass, ["background", "a", "b"])
    assert isinstance(explorer, FigureExplorer)
    assert sum(isinstance(t, go.Heatmap) for t in explorer.figure.data) == 8  # block 0: all 8 tokens
    explorer.controls["block"].value = 1
    assert sum(isinstance(t, go.Heatmap) for t in explorer.figure.data) == 4  # the dynamic block renews 4
    assert len(explorer.controls["token"].options) == 5
    explorer.controls["token"].value = 2
    explorer.controls["head"].value = 1
    heat = explorer.figure.data[1].z
    expected = maps[1][0, 1, 2] / maps[1][0, 1, 2].max()
    assert torch.allclose(torch.tensor(heat, dtype=torch.float32), expected, atol=1e-3)
    best = int(mass[1][0, 1, 2].argmax())
    assert ["background", "a", "b"][best] in explorer.figure.layout.title.text
    assert len(explorer.output.outputs) == 1  # the figure is the Output widget's state, not a printed display


def test_sample_photos():
    photos = sample_photos(["astronaut", "coffee"], size=48)
    assert photos.shape == (2, 3, 48, 48) and photos.dtype == torch.uint8
    with pytest.raises(ValueError, match="unknown photos"):
        sample_photos(["lena"])


def test_vtlab_renderer_is_offline_and_deterministic():
    use_vtlab_renderer()
    fig = go.Figure(go.Bar(x=[1], y=[2]))
    bundles = [pio.renderers["vtlab"].to_mimebundle(fig.to_dict()) for _ in range(2)]
    assert 'id="vtlab-figure-1"' in bundles[0]["text/html"] and 'id="vtlab-figure-2"' in bundles[1]["text/html"]
    assert "cdn" not in bundles[0]["text/html"].lower() and "<script src" not in bundles[0]["text/html"]
    assert bundles[0]["application/vnd.plotly.v1+json"]["data"][0]["y"] == [2]


def test_token_diversity_by_hand():
    # two one-hot maps on 4 pixels: centred (3, -1, -1, -1)/4 and (-1, 3, -1, -1)/4 have cosine -1/3; their Gram
    # matrix [[1, -1/3], [-1/3, 1]] has eigenvalues 4/3 and 2/3, so the participation ratio is 2^2 / (20/9) = 1.8
    maps = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]).reshape(1, 1, 2, 2, 2)
    measured = token_diversity(maps)
    assert measured["cosine"] == pytest.approx(-1 / 3)
    assert measured["effective_tokens"] == pytest.approx(1.8)
    assert measured["peak"] == pytest.approx(4.0)
    same = token_diversity(torch.tensor([[0.1, 0.2, 0.3, 0.4]] * 3).reshape(1, 1, 3, 2, 2))
    assert same["cosine"] == pytest.approx(1.0) and same["effective_tokens"] == pytest.approx(1.0)
    assert same["peak"] == pytest.approx(1.6)
    # heads are averaged into one map per token first: two heads that cancel each other's deviations give a
    # flat token map (peak 1)
    heads = torch.tensor([[0.4, 0.1, 0.1, 0.4], [0.1, 0.4, 0.4, 0.1]]).reshape(1, 2, 1, 2, 2)
    assert token_diversity(heads)["peak"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expected maps"):
        token_diversity(torch.rand(2, 4, 16, 16))


def test_training_records_token_measurements(tmp_path):
    rows = train(TrainConfig(recipe="quick", model="vt_resnet_mini", epochs=1, train_size=64, val_size=32,
                             out=str(tmp_path), device="cpu", progress=False))
    assert len(rows) == 1
    with open(tmp_path / "tokens.csv") as f:
        measured = list(csv.DictReader(f))
    assert [(r["epoch"], r["block"]) for r in measured] == [("1", "0"), ("1", "1")]
    for r in measured:
        assert -1 <= float(r["cosine"]) <= 1 and 1 <= float(r["effective_tokens"]) <= 8
        assert float(r["peak"]) >= 1 and float(r["lift"]) >= 0 and 0 <= float(r["on_objects"]) <= 1
    # a baseline ResNet has no tokens to measure
    train(TrainConfig(recipe="quick", model="resnet_mini", epochs=1, train_size=64, val_size=32,
                      out=str(tmp_path / "resnet"), device="cpu", progress=False))
    assert not (tmp_path / "resnet" / "tokens.csv").exists()


def test_token_report_and_history_figures():
    report = [{"cosine": 0.1, "effective_tokens": 4.5, "peak": 30.0, "lift": 2.5, "on_objects": 0.5},
              {"cosine": 0.4, "effective_tokens": 1.8, "peak": 60.0, "lift": 2.1, "on_objects": 0.45}]
    fig = token_report_figure({"trained": report, "untrained": report}, object_share=0.27)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert len(bars) == 8 and bars[0].y == (0.1, 0.4) and [t.showlegend for t in bars[:2]] == [True, True]
    history = [{"epoch": e, "block": b, **r} for e in (1, 2) for b, r in enumerate(report)]
    lines = token_history_figure(history).data
    assert len(lines) == 8 and lines[0].x == (1, 2) and lines[1].name == "block 1"
    with pytest.raises(ValueError, match="at least one row"):
        token_history_figure([])


def test_collapse_chain_follows_the_tokens_from_block_to_block():
    # by hand: (1, 2, 3) and (3, 2, 1) centre to (-1, 0, 1) and (1, 0, -1): cosine -1; a shared offset is ignored
    assert mean_pairwise_cosine(torch.tensor([[[1.0, 2, 3], [3, 2, 1]]])) == pytest.approx(-1.0)
    assert mean_pairwise_cosine(torch.tensor([[[1.0, 2, 3], [11, 12, 13]]])) == pytest.approx(1.0)
    torch.manual_seed(0)
    model = create_model("vt_resnet_mini", num_classes=6, centre_filter_tokens=False).double().eval()
    images, _, _ = shapes_probe_batch(length=16)
    chain = collapse_chain(model, images.double())
    assert [row["block"] for row in chain] == [0, 1] and "W_A" not in chain[0]
    # untrained, the tokenizer's BatchNorm is still the identity: the static maps differ, yet the static tokens,
    # averages of a post-ReLU map that every pixel shares a large mean of, are nearly one vector, and so are the
    # dynamic filters made from them and the maps those filters draw
    assert chain[0]["maps"] < 0.2 and chain[0]["T_in"] > 0.99
    assert chain[1]["T_a"] > 0.99 and chain[1]["W_A"] > 0.99 and chain[1]["maps"] > 0.99
    # vtlab's default centres T_in,a over its tokens before W_T→WA: the same near-identical tokens then give
    # filters, and maps, that are not alike
    torch.manual_seed(0)
    centred = collapse_chain(create_model("vt_resnet_mini", num_classes=6).double().eval(), images.double())
    assert centred[1]["T_a"] > 0.99 and centred[1]["W_A"] < 0.5 and centred[1]["maps"] < 0.5
    with pytest.raises(ValueError, match="expected a VT-ResNet"):
        collapse_chain(create_model("resnet_mini", num_classes=6), images)


def test_the_shipped_probing_model_meets_its_targets_measured_without_vtlab_probe():
    """The targets the shipped checkpoint is held to, recomputed with plain torch (not vtlab.probe's code) on 200
    held-out scenes: accuracy >= 0.90 and, in every block, mean pairwise cosine of the mean-centred token maps
    <= 0.5 and median best-region lift >= 2 (maps bilinearly upsampled to the 64x64 masks)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(PROBE_CHECKPOINT), framework="pt") as f:  # the VT options it was built with, if recorded
        options = json.loads((f.metadata() or {}).get("model_options", "{}"))
    model = create_model("vt_resnet_mini", num_classes=6, **options)
    model.load_state_dict(load_file(str(PROBE_CHECKPOINT)))
    model.eval()
    scenes = ShapesDataset("val", size=64, length=200, target="mask")
    x = (scenes.images.float() / 255 - 0.5) / 0.25
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == scenes.labels).float().mean().item()
        _, _, coefficients = model.forward_features(x, return_coefficients=True)
    assert accuracy >= 0.90
    masks = torch.nn.functional.one_hot(scenes.masks.flatten(1), 7).float()  # (N, 4096, regions)
    share = masks.mean(1)  # (N, regions)
    for A in coefficients:
        maps = A.mean(1).transpose(1, 2)  # (N, L, HW): one map per token
        N, L, _ = maps.shape
        centred = maps - maps.mean(-1, keepdim=True)
        unit = centred / centred.norm(dim=-1, keepdim=True)
        cosine = (unit @ unit.transpose(1, 2))[:, ~torch.eye(L, dtype=torch.bool)].mean().item()
        up = torch.nn.functional.interpolate(maps.reshape(N * L, 1, 16, 16), size=(64, 64), mode="bilinear",
                                             align_corners=False).clamp_min(0).reshape(N, L, -1)
        up = up / up.sum(-1, keepdim=True)
        mass = up @ masks  # (N, L, regions)
        lift = (mass / share[:, None].clamp_min(1e-12)).masked_fill(share[:, None] == 0, 0).amax(-1)
        assert cosine <= 0.5 and lift.median().item() >= 2, (cosine, lift.median().item())
