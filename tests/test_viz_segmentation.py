"""Notebook 6's figures (vtlab.viz.segmentation) and its IoU per class (vtlab.train.metrics.class_iou),
headless: the neck's MACs, IoU per class, and what each figure draws."""

from __future__ import annotations

import math

import pytest
import torch

from vtlab.cost import paper
from vtlab.data import IGNORE_INDEX
from vtlab.train.metrics import class_iou, segmentation_metrics
from vtlab.viz.segmentation import (
    class_colours,
    class_iou_figure,
    level_token_explorer,
    level_token_figure,
    mask_image,
    prediction_figure,
    region_underlay,
    table4_figure,
)

CLASSES = ("background", "circle", "square")


def test_class_iou_by_hand_and_its_mean_is_the_engines_miou():
    masks = torch.tensor([[[0, 0, 1, 1], [2, 2, IGNORE_INDEX, 0]]])
    predicted = torch.tensor([[[0, 1, 1, 1], [2, 0, 2, 0]]])
    iou = class_iou(predicted, masks, 4)
    # class 0: hits 2 of {0,0 | 0,1 | 0 | 0}: union 4; class 1: 2 of 3; class 2: 1 of 2; class 3: absent
    torch.testing.assert_close(iou[:3], torch.tensor([2 / 4, 2 / 3, 1 / 2]))
    assert math.isnan(iou[3])
    metrics = segmentation_metrics(4)
    metrics.update(predicted, masks)
    assert iou.nanmean().item() == pytest.approx(float(metrics.compute()["miou"]), abs=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        class_iou(predicted[:, :1], masks, 4)
    with pytest.raises(ValueError, match="num_classes to be an integer >= 2"):
        class_iou(predicted, masks, 1)


def test_table4_figure_puts_the_papers_numbers_beside_vtlabs():
    necks = {("COCO-stuff", "FPN"): 55.099, ("COCO-stuff", "VT-FPN"): 8.5275, ("LIP", "FPN"): 12.893,
             ("LIP", "VT-FPN"): 2.05}
    fig = table4_figure(necks)
    assert [t.name for t in fig.data] == ["paper (Table 4)", "vtlab"]
    assert list(fig.data[0].y) == [55.1, 8.5, 12.8, 2.0]
    assert list(fig.data[1].y) == [55.1, 8.53, 12.89, 2.05]
    assert fig.data[1].hovertext[3] == "+2.5% vs paper"
    assert "800x1216" in fig.data[0].x[0] and "473x473" in fig.data[0].x[2]

    totals = {("R-101", "LIP", "VT-FPN"): 44.6, ("R-50", "COCO-stuff", "FPN"): 163.9}
    fig = table4_figure(necks, totals)
    assert len(fig.data) == 4
    assert list(fig.data[2].y) == [43.6, 159] and list(fig.data[3].y) == [44.6, 163.9]
    assert fig.data[3].xaxis == "x2" and fig.data[3].x[0].startswith("R-101 VT-FPN")
    with pytest.raises(ValueError, match="unknown Table 4 entry"):
        table4_figure({("ADE20K", "FPN"): 1.0})
    assert {r.dataset for r in paper.TABLE4} == {"COCO-stuff", "LIP"}


def test_mask_image_colours_classes_and_whitens_ignored_pixels():
    mask = torch.tensor([[0, 1], [2, IGNORE_INDEX]])
    image = mask_image(mask, 3)
    assert image.shape == (3, 2, 2) and image.dtype == torch.uint8
    colours = class_colours(3)
    assert "#" + "".join(f"{v:02x}" for v in image[:, 0, 1].tolist()) == colours[1]
    assert image[:, 1, 1].tolist() == [255, 255, 255]


def test_prediction_figure_draws_one_row_per_scene():
    images = torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8)
    masks = torch.zeros(3, 64, 64, dtype=torch.int64)
    masks[:, :, 32:] = 1
    perfect, background = masks.clone(), torch.zeros_like(masks)
    fig = prediction_figure(images, masks, {"FPN": perfect, "VT-FPN": background}, CLASSES)
    panels = [t for t in fig.data if t.type == "image"]
    legend = [t for t in fig.data if t.type == "scatter"]
    assert len(panels) == 3 * 4 and [t.name for t in legend] == list(CLASSES)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:4] == ["scene 0", "ground truth", "FPN: 100% px", "VT-FPN: 50% px"]
    assert panels[4].xaxis == "x5"  # row 2 starts at the fifth panel
    with pytest.raises(ValueError, match="VT-FPN"):
        prediction_figure(images, masks, {"VT-FPN": background[:, :32]}, CLASSES)


def test_class_iou_figure_leaves_absent_classes_out():
    fig = class_iou_figure({"FPN": torch.tensor([0.9, 0.5, float("nan")]), "VT-FPN": [0.8, 0.25, 0.0]}, CLASSES)
    assert [t.name for t in fig.data] == ["FPN (mIoU 0.700)", "VT-FPN (mIoU 0.350)"]
    assert list(fig.data[0].y) == [0.9, 0.5, None]
    with pytest.raises(ValueError, match="classes"):
        class_iou_figure({"FPN": [0.5]}, CLASSES)


def test_level_token_figure_has_a_row_per_level():
    image = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    maps = [torch.rand(8, 32, 32), torch.rand(8, 16, 16), torch.rand(8, 4, 4)]
    fig = level_token_figure(image, maps, ["P2", "P3", "P5"])
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(fig.data) == 3 * (1 + 2 * 8) and len(heat) == 3 * 8
    assert heat[-1].z.shape == (4, 4) and heat[-1].dx == 16.0  # a 4x4 map stretched over 64 pixels
    assert max(max(row) for row in heat[0].z) == 1.0  # each map scaled to its own maximum
    assert fig.layout.annotations[0].text == "P2 (32x32)"
    with pytest.raises(ValueError, match="L, h, w"):
        level_token_figure(image, [torch.rand(32, 32)])


def test_level_token_figure_draws_the_maps_over_an_underlay():
    image = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    mask = torch.zeros(64, 64, dtype=torch.int64)
    mask[10:20, 30:40] = 3
    underlay = region_underlay(mask)
    assert underlay.shape == (3, 64, 64) and underlay[:, 15, 35].tolist() == [120] * 3
    assert underlay[:, 0, 0].tolist() == [230] * 3
    fig = level_token_figure(image, [torch.rand(2, 8, 8)], underlay=underlay)
    images = [t.source for t in fig.data if t.type == "image"]
    assert len(images) == 3 and images[1] == images[2] != images[0]  # the image first, then the underlay
    with pytest.raises(ValueError, match="underlay"):
        level_token_figure(image, [torch.rand(2, 8, 8)], underlay=underlay[:, :32])


def test_level_token_explorer_redraws_the_chosen_level():
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    maps = [torch.rand(2, 4, 8, 32, 32), torch.rand(2, 4, 8, 4, 4)]
    explorer = level_token_explorer(images, maps, ["P2", "P5"])
    assert explorer.figure.layout.title.text == "scene 0, P2 (32x32), head mean"
    explorer.controls["level"].value = 1
    explorer.controls["head"].value = 2
    explorer.controls["scene"].value = 1
    assert explorer.figure.layout.title.text == "scene 1, P5 (4x4), head 2"
    heat = [t for t in explorer.figure.data if t.type == "heatmap"]
    expected = maps[1][1, 2, 0] / maps[1][1, 2, 0].max()
    torch.testing.assert_close(torch.as_tensor(heat[0].z, dtype=torch.float32), expected, atol=6e-4, rtol=0)
